//! The bundled digits, the split and its normalisation, the parser's rejection of corrupt
//! files, and the synthetic inputs.

use eqens::data::{
    binomial_blur_3x3, digits_split, gaussian_images, load_digits, load_digits_from, parse_digits,
    point_clouds, smoothed_noise_images, Dataset, DIGITS_CSV_GZ,
};
use eqens::Error;
use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::prelude::*;
use std::io::{Read, Write};

/// The bundled file, inflated.
fn digits_csv() -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The error message of a parse that must fail with `Error::Data`.
fn data_error(gz: &[u8]) -> String {
    match parse_digits(gz) {
        Err(Error::Data(m)) => m,
        other => panic!("expected Error::Data, got {other:?}"),
    }
}

/// The first `n` lines of the real file, with line `line` (0-based) replaced by `f(line)`.
fn edited(n: usize, line: usize, f: impl Fn(&str) -> String) -> Vec<u8> {
    let csv = digits_csv();
    let mut out = String::new();
    for (i, l) in csv.lines().take(n).enumerate() {
        out.push_str(&if i == line { f(l) } else { l.to_string() });
        out.push('\n');
    }
    gzip(out.as_bytes())
}

/// Replaces field `col` (0-based) of a CSV line.
fn with_field(line: &str, col: usize, value: &str) -> String {
    let mut fields: Vec<&str> = line.split(',').collect();
    fields[col] = value;
    fields.join(",")
}

#[test]
fn embedded_digits_load_with_documented_counts_and_range() {
    let d = load_digits().unwrap();
    assert_eq!(d.len(), 1797);
    assert_eq!(d.input_shape, vec![1, 8, 8]);
    assert_eq!(d.input_len(), 64);
    assert_eq!(d.num_classes, 10);
    let labels = d.labels.as_ref().unwrap();
    let mut counts = [0usize; 10];
    for &l in labels {
        counts[l] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    let min = d.inputs.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = d.inputs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!((min, max), (0.0, 16.0));
    assert!(d.inputs.iter().all(|v| v.fract() == 0.0));
    // The first row of the file, read independently of the parser.
    let csv = digits_csv();
    let first: Vec<f64> = csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(d.input(0), &first[..64]);
    assert_eq!(labels[0] as f64, first[64]);
}

#[test]
fn load_from_path_matches_embedded_and_missing_path_is_io_error() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    assert_eq!(load_digits_from(path).unwrap(), load_digits().unwrap());
    match load_digits_from("/nonexistent/eqens/digits.csv.gz") {
        Err(Error::Io(m)) => assert!(m.contains("/nonexistent/eqens/digits.csv.gz"), "{m}"),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn split_normalises_with_training_statistics() {
    let s = digits_split(0.2, 7).unwrap();
    assert_eq!(s.train.len() + s.test.len(), 1797);
    // Stratified: round(0.2 · n_c) per class.
    let expected_test: usize = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        .iter()
        .map(|&n: &usize| (n as f64 * 0.2).round() as usize)
        .sum();
    assert_eq!(s.test.len(), expected_test);

    // Training stats over ~92 000 values of magnitude ≲ 3: recursive summation error is at
    // most ~N·ε·mean|z| ≈ 9.2e4 · 1.1e-16 · 3 ≈ 3e-11, so 1e-10 is a safe bound.
    let (m, sd) = s.train.value_mean_std();
    assert!(m.abs() < 1e-10, "train mean {m}");
    assert!((sd - 1.0).abs() < 1e-10, "train std {sd}");

    // The scalars are the raw training pixels' mean and population std, recomputed here.
    let all = load_digits().unwrap();
    let mut raw_train = Vec::new();
    let mut raw_test = Vec::new();
    for i in 0..s.train.len() {
        raw_train.extend(
            s.train
                .input(i)
                .iter()
                .map(|v| (v * s.std + s.mean).round()),
        );
    }
    for i in 0..s.test.len() {
        raw_test.extend(s.test.input(i).iter().map(|v| (v * s.std + s.mean).round()));
    }
    let n = raw_train.len() as f64;
    let mean = raw_train.iter().sum::<f64>() / n;
    let std = (raw_train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // Same sums in the same order on the same integers: identical up to the last bit.
    assert_eq!((s.mean, s.std), (mean, std));
    // Test inputs are exactly (raw − train mean) / train std.
    for (z, r) in s.test.inputs.iter().zip(&raw_test) {
        assert_eq!(*z, (r - s.mean) / s.std);
    }
    // Multiset of raw images = the original file (nothing lost or invented).
    let mut a: Vec<u64> = raw_train
        .iter()
        .chain(&raw_test)
        .map(|&v| v as u64)
        .collect();
    let mut b: Vec<u64> = all.inputs.iter().map(|&v| v as u64).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);

    // Control: the test set is NOT standardised by its own statistics, so its mean and std
    // are off 0 and 1 by sampling noise (≫ the 1e-10 round-off above).
    let (tm, tsd) = s.test.value_mean_std();
    assert!(
        tm.abs() > 1e-6 || (tsd - 1.0).abs() > 1e-6,
        "test mean {tm}, std {tsd}"
    );
}

#[test]
fn split_is_deterministic_and_seed_dependent() {
    let a = digits_split(0.2, 3).unwrap();
    let b = digits_split(0.2, 3).unwrap();
    assert_eq!(a, b);
    let c = digits_split(0.2, 4).unwrap();
    assert_ne!(
        a.test.inputs, c.test.inputs,
        "a different seed must change the split"
    );
    // Class balance holds for every seed.
    let count = |d: &Dataset, k: usize| {
        d.labels
            .as_ref()
            .unwrap()
            .iter()
            .filter(|&&l| l == k)
            .count()
    };
    for k in 0..10 {
        assert_eq!(count(&a.test, k), count(&c.test, k));
    }
}

#[test]
fn split_rejects_bad_fractions() {
    for f in [0.0, 1.0, -0.1, 1.5, f64::NAN, 1e-9] {
        assert!(
            matches!(digits_split(f, 0), Err(Error::Invalid(_))),
            "fraction {f}"
        );
    }
}

#[test]
fn subset_and_batch_conversion() {
    let d = load_digits().unwrap();
    let s = d.subset(&[5, 0, 5]).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s.input(0), d.input(5));
    assert_eq!(s.input(1), d.input(0));
    assert_eq!(
        s.labels.as_ref().unwrap(),
        &vec![
            d.labels.as_ref().unwrap()[5],
            d.labels.as_ref().unwrap()[0],
            d.labels.as_ref().unwrap()[5]
        ]
    );
    assert!(matches!(d.subset(&[1797]), Err(Error::Invalid(_))));
    let mut out: Vec<f32> = vec![9.0; 7];
    d.batch_into(&[2, 1], &mut out);
    assert_eq!(out.len(), 128);
    let expected: Vec<f32> = d
        .input(2)
        .iter()
        .chain(d.input(1))
        .map(|&v| v as f32)
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn dataset_new_rejects_inconsistent_parts() {
    assert!(Dataset::new(vec![0.0; 10], vec![2, 2], None, None, 0, 0).is_err());
    assert!(Dataset::new(vec![0.0; 8], vec![2, 2], Some(vec![0]), None, 0, 3).is_err());
    assert!(Dataset::new(vec![0.0; 8], vec![2, 2], Some(vec![0, 3]), None, 0, 3).is_err());
    assert!(Dataset::new(vec![0.0; 8], vec![2, 2], None, Some(vec![0.0; 5]), 3, 0).is_err());
    assert!(Dataset::new(vec![0.0; 8], vec![2, 2], None, None, 3, 0).is_err());
    let ok = Dataset::new(
        vec![0.0; 8],
        vec![2, 2],
        Some(vec![0, 2]),
        Some(vec![0.0; 6]),
        3,
        3,
    )
    .unwrap();
    assert_eq!(ok.len(), 2);
}

#[test]
fn every_corruption_kind_is_rejected_with_its_place() {
    // A valid 3-line file parses (the edits below are the only difference).
    assert_eq!(
        parse_digits(&edited(3, 99, |l| l.to_string()))
            .unwrap()
            .len(),
        3
    );

    // Truncated gzip: cut the real file in half.
    let m = data_error(&DIGITS_CSV_GZ[..DIGITS_CSV_GZ.len() / 2]);
    assert!(m.contains("gzip") && m.contains("line 1"), "{m}");
    // Truncated gzip: drop only the 8-byte trailer (CRC and length).
    let m = data_error(&DIGITS_CSV_GZ[..DIGITS_CSV_GZ.len() - 8]);
    assert!(m.contains("gzip"), "{m}");
    // Not gzip at all.
    let m = data_error(b"0,0,0\n");
    assert!(m.contains("gzip"), "{m}");

    // Non-integer field on line 2, column 5.
    let m = data_error(&edited(3, 1, |l| with_field(l, 4, "1.5")));
    assert!(m.contains("line 2, column 5") && m.contains("1.5"), "{m}");
    let m = data_error(&edited(3, 1, |l| with_field(l, 4, "-1")));
    assert!(m.contains("line 2, column 5"), "{m}");
    let m = data_error(&edited(3, 1, |l| with_field(l, 4, "")));
    assert!(m.contains("line 2, column 5"), "{m}");

    // 64 columns on line 3: the 65th is missing.
    let m = data_error(&edited(3, 2, |l| l.rsplit_once(',').unwrap().0.to_string()));
    assert!(
        m.contains("line 3, column 65") && m.contains("found 64"),
        "{m}"
    );
    // 66 columns.
    let m = data_error(&edited(3, 0, |l| format!("{l},0")));
    assert!(
        m.contains("line 1, column 66") && m.contains("found 66"),
        "{m}"
    );

    // Pixel 17 on line 1, column 10 (16 is fine).
    let m = data_error(&edited(3, 0, |l| with_field(l, 9, "17")));
    assert!(
        m.contains("line 1, column 10") && m.contains("pixel 17"),
        "{m}"
    );
    assert!(parse_digits(&edited(3, 0, |l| with_field(l, 9, "16"))).is_ok());

    // Label 10 on line 2 (9 is fine).
    let m = data_error(&edited(3, 1, |l| with_field(l, 64, "10")));
    assert!(
        m.contains("line 2, column 65") && m.contains("label 10"),
        "{m}"
    );
    assert!(parse_digits(&edited(3, 1, |l| with_field(l, 64, "9"))).is_ok());

    // A huge number does not overflow.
    let m = data_error(&edited(3, 1, |l| with_field(l, 0, "99999999999999999999")));
    assert!(m.contains("line 2, column 1"), "{m}");

    // Empty file, and a file holding only a newline.
    for empty in [&b""[..], &b"\n"[..]] {
        let m = data_error(&gzip(empty));
        assert!(m.contains("no rows") && m.contains("line 1"), "{m}");
    }
    // A blank line in the middle is a line with the wrong number of columns.
    let csv = digits_csv();
    let mut lines: Vec<&str> = csv.lines().take(3).collect();
    lines.insert(1, "");
    let m = data_error(&gzip(format!("{}\n", lines.join("\n")).as_bytes()));
    assert!(
        m.contains("line 2, column 2") && m.contains("found 1"),
        "{m}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_digits(&bytes);
    }

    /// Byte flips in the real gzip file never panic and (almost always) get caught; the
    /// result, when Ok, still satisfies the format's invariants.
    #[test]
    fn mutated_gzip_never_panics(edits in proptest::collection::vec((0usize..57_523, any::<u8>()), 1..4)) {
        let mut bytes = DIGITS_CSV_GZ.to_vec();
        for (pos, b) in edits {
            bytes[pos % DIGITS_CSV_GZ.len()] = b;
        }
        if let Ok(d) = parse_digits(&bytes) {
            prop_assert!(d.inputs.iter().all(|&v| (0.0..=16.0).contains(&v)));
        }
    }

    /// Byte edits and truncations of the CSV text (re-gzipped, so the parser itself is
    /// exercised) never panic; whatever parses satisfies the format's invariants.
    #[test]
    fn mutated_csv_never_panics(
        edits in proptest::collection::vec((0usize..4_000, any::<u8>()), 0..6),
        cut in 0usize..4_000,
    ) {
        let csv = digits_csv();
        let mut bytes = csv.as_bytes()[..4_000].to_vec();
        for (pos, b) in edits {
            bytes[pos] = b;
        }
        bytes.truncate(cut);
        if let Ok(d) = parse_digits(&gzip(&bytes)) {
            prop_assert!(d.inputs.iter().all(|&v| (0.0..=16.0).contains(&v)));
            prop_assert!(d.labels.unwrap().iter().all(|&l| l < 10));
            prop_assert_eq!(d.inputs.len() % 64, 0);
        }
    }
}

/// rot90 counter-clockwise of an n×n plane (numpy.rot90): out[n-1-j][i] = in[i][j].
fn rot90(plane: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[(n - 1 - j) * n + i] = plane[i * n + j];
        }
    }
    out
}

#[test]
fn synthetic_inputs_are_seeded_and_shaped() {
    let g = gaussian_images(5, 2, 4, 4, 1).unwrap();
    assert_eq!((g.len(), g.input_shape.clone()), (5, vec![2, 4, 4]));
    assert_eq!(g, gaussian_images(5, 2, 4, 4, 1).unwrap());
    assert_ne!(g.inputs, gaussian_images(5, 2, 4, 4, 2).unwrap().inputs);
    assert!(g.labels.is_none());

    let p = point_clouds(3, 7, 9).unwrap();
    assert_eq!(
        (p.len(), p.input_shape.clone(), p.inputs.len()),
        (3, vec![7, 2], 42)
    );
    assert_eq!(p, point_clouds(3, 7, 9).unwrap());

    // 20 000 N(0,1) draws: mean within 5 standard errors (5/√20000 ≈ 0.035), variance
    // within 5 · √(2/20000) ≈ 0.05.
    let big = gaussian_images(20_000, 1, 1, 1, 5).unwrap();
    let n = big.inputs.len() as f64;
    let m = big.inputs.iter().sum::<f64>() / n;
    let v = big.inputs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    assert!(
        m.abs() < 0.035 && (v - 1.0).abs() < 0.05,
        "mean {m}, var {v}"
    );

    assert!(gaussian_images(usize::MAX, 2, 2, 2, 0).is_err());
}

#[test]
fn smoothed_noise_is_standardised_per_image_and_smooth() {
    let s = smoothed_noise_images(4, 1, 8, 8, 11).unwrap();
    assert_eq!(s, smoothed_noise_images(4, 1, 8, 8, 11).unwrap());
    for i in 0..4 {
        let x = s.input(i);
        let m = x.iter().sum::<f64>() / 64.0;
        let v = x.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 64.0;
        // 64 values of size O(1): round-off ≲ 64 · ε ≈ 1e-14.
        assert!(
            m.abs() < 1e-13 && (v - 1.0).abs() < 1e-13,
            "image {i}: {m}, {v}"
        );
    }
    // Smoother than white noise: neighbouring pixels are positively correlated, while for
    // the raw Gaussian images the lag-1 correlation is ≈ 0 (control).
    let lag1 = |d: &Dataset| {
        let mut acc = 0.0;
        let mut cnt = 0.0;
        for i in 0..d.len() {
            let x = d.input(i);
            for r in 0..8 {
                for c in 0..7 {
                    acc += x[r * 8 + c] * x[r * 8 + c + 1];
                    cnt += 1.0;
                }
            }
        }
        acc / cnt
    };
    let smooth = smoothed_noise_images(200, 1, 8, 8, 3).unwrap();
    let white = gaussian_images(200, 1, 8, 8, 3).unwrap();
    // 11 200 products: standard error ≈ 1/√11200 ≈ 0.01; the binomial blur gives
    // correlation ≈ 0.6 in the interior.
    assert!(lag1(&smooth) > 0.4, "smoothed lag-1 {}", lag1(&smooth));
    assert!(lag1(&white).abs() < 0.05, "white lag-1 {}", lag1(&white));
}

#[test]
fn binomial_blur_commutes_with_rot90() {
    let x = gaussian_images(1, 1, 6, 6, 8).unwrap().inputs;
    let r = rot90(&x, 6);
    assert_ne!(r, x, "control: the test image is not rotation invariant");
    let a = binomial_blur_3x3(&r, 6, 6);
    let b = rot90(&binomial_blur_3x3(&x, 6, 6), 6);
    // The same 9 products summed in a different order: ≤ 9 · ε · max|x| ≈ 1e-14.
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-14, "{p} vs {q}");
    }
    // Control: a one-pixel shift does not commute with the zero-padded blur at the border.
    let shift = |v: &[f64]| -> Vec<f64> {
        (0..36)
            .map(|k| if k % 6 == 0 { 0.0 } else { v[k - 1] })
            .collect()
    };
    let s1 = binomial_blur_3x3(&shift(&x), 6, 6);
    let s2 = shift(&binomial_blur_3x3(&x, 6, 6));
    assert!(s1.iter().zip(&s2).any(|(p, q)| (p - q).abs() > 1e-3));
}
