//! Classification metrics on (mean) logits: argmax, log-softmax, ensemble mean, accuracy,
//! orbit-sameness OSP (S9) and the symmetric KL divergence DIV (S10).

/// Index of the largest entry; ties go to the LOWEST index (a later entry must be strictly
/// larger to win). NaN entries never win unless the first entry is NaN.
///
/// # Panics
/// On an empty slice.
pub fn argmax(values: &[f64]) -> usize {
    assert!(!values.is_empty(), "argmax of an empty slice");
    let mut best = 0;
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Stable log-softmax: log p_k = z_k − max z − ln Σ_j exp(z_j − max z).
///
/// # Panics
/// On an empty slice.
pub fn log_softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits[argmax(logits)];
    let lse = logits.iter().map(|&z| (z - m).exp()).sum::<f64>().ln();
    logits.iter().map(|&z| z - m - lse).collect()
}

/// The ensemble mean f̂_M = (1/M) Σ_m f_m ↔ `mean_logits`: members summed entrywise in
/// member order, then divided by M once (so the result never depends on scheduling).
///
/// # Panics
/// If there are no members or their lengths differ.
pub fn mean_logits(members: &[&[f64]]) -> Vec<f64> {
    assert!(!members.is_empty(), "mean_logits of zero members");
    let len = members[0].len();
    for (m, member) in members.iter().enumerate() {
        assert_eq!(
            member.len(),
            len,
            "mean_logits: member {m} has {} outputs, member 0 has {len}",
            member.len()
        );
    }
    let order: Vec<usize> = (0..members.len()).collect();
    let mut mean = vec![0.0; len];
    crate::autodiff::kernels::mean_rows(members, &order, 0..len, &mut mean);
    mean
}

/// Fraction of rows of `logits` (shape `[n, k]`) whose argmax (ties to the lowest index)
/// equals the label. NaN when n = 0.
///
/// # Panics
/// If `k == 0` or `logits.len() != labels.len() * k`.
pub fn accuracy(logits: &[f64], k: usize, labels: &[usize]) -> f64 {
    assert!(k > 0, "accuracy: k = 0 classes");
    assert_eq!(
        logits.len(),
        labels.len() * k,
        "accuracy: {} logits for {} labels of {k} classes",
        logits.len(),
        labels.len()
    );
    let correct = logits
        .chunks_exact(k)
        .zip(labels)
        .filter(|(row, &l)| argmax(row) == l)
        .count();
    correct as f64 / labels.len() as f64
}

/// Checks an orbit table's shape.
fn check_orbit(orbit: &[f64], group_order: usize, k: usize) {
    assert!(
        group_order > 0 && k > 0,
        "orbit table needs |G| > 0 and K > 0, got {group_order}, {k}"
    );
    assert_eq!(
        orbit.len(),
        group_order * k,
        "orbit table has {} entries, expected |G|·K = {group_order}·{k}",
        orbit.len()
    );
}

/// THEORY S9, orbit-sameness: OSP(x) = #{g ∈ G : argmax f̂(ρ_X(g)x) = argmax f̂(x)} ↔ `osp`,
/// from an orbit table `[|G|, K]` (row 0 = identity = f̂(x)). Ties in argmax go to the lowest
/// class index. The result lies in [1, |G|] (the identity always counts).
///
/// # Panics
/// If the table is not `[group_order, k]` with both positive.
///
/// ```
/// use eqens::metrics::{osp, symmetric_kl};
///
/// // Orbit tables [|G| = 4, K = 3]: row g holds f̂(ρ_X(g)x).
/// let same = [1.0, 2.0, 0.0].repeat(4);
/// assert_eq!(osp(&same, 4, 3), 4);
/// assert_eq!(symmetric_kl(&same, 4, 3), 0.0);
/// // Row 2 predicts class 0 instead of 1: OSP drops to 3 and the divergence is positive.
/// let mut moved = same.clone();
/// moved[6..9].copy_from_slice(&[3.0, 2.0, 0.0]);
/// assert_eq!(osp(&moved, 4, 3), 3);
/// assert!(symmetric_kl(&moved, 4, 3) > 0.1);
/// ```
pub fn osp(orbit: &[f64], group_order: usize, k: usize) -> usize {
    check_orbit(orbit, group_order, k);
    let reference = argmax(&orbit[..k]);
    orbit
        .chunks_exact(k)
        .filter(|row| argmax(row) == reference)
        .count()
}

/// THEORY S10, symmetric KL: DIV(x) = (1/|G|) Σ_g [KL(p(x)‖p(gx)) + KL(p(gx)‖p(x))] ↔
/// `symmetric_kl`, with p = softmax of each row of the orbit table `[|G|, K]` (row 0 = x),
/// computed stably: with m the row maximum and S = Σ_j exp(z_j − m), p_k = exp(z_k − m)/S
/// and log p_k = z_k − m − ln S (one exponential per entry). Each pair contributes
/// Σ_k (p_k − q_k)(log p_k − log q_k) ≥ 0 term by term.
///
/// # Panics
/// If the table is not `[group_order, k]` with both positive.
pub fn symmetric_kl(orbit: &[f64], group_order: usize, k: usize) -> f64 {
    check_orbit(orbit, group_order, k);
    // Softmax and log-softmax of every row: [p | log p] per row.
    let mut soft = vec![0.0; 2 * orbit.len()];
    for (row, out) in orbit.chunks_exact(k).zip(soft.chunks_exact_mut(2 * k)) {
        let m = row[argmax(row)];
        let (p, log_p) = out.split_at_mut(k);
        let mut sum = 0.0;
        for (e, &z) in p.iter_mut().zip(row) {
            *e = (z - m).exp();
            sum += *e;
        }
        let ln_sum = sum.ln();
        for ((e, lp), &z) in p.iter_mut().zip(log_p.iter_mut()).zip(row) {
            *e /= sum;
            *lp = z - m - ln_sum;
        }
    }
    let (p, log_p) = soft[..2 * k].split_at(k);
    let mut total = 0.0;
    for out in soft.chunks_exact(2 * k) {
        let (q, log_q) = out.split_at(k);
        total += (0..k)
            .map(|j| (p[j] - q[j]) * (log_p[j] - log_q[j]))
            .sum::<f64>();
    }
    total / group_order as f64
}
