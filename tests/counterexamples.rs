//! Counterexample search (`eqens::check::search`): each hypothesis H1..H7, dropped alone,
//! breaks the orbit ensemble's equivariance, and the failing case is found by random search
//! and shrunk; with every hypothesis kept, no counterexample exists.

use eqens::check::search::{
    assignment_is_representation, evaluate, find_counterexamples, measure, missing_counterexamples,
    render_counterexample, search, Breach, Case, Head, NonHaar, Property, FAIL_THRESHOLD,
    KEPT_TOLERANCE,
};
use eqens::nn::Support;
use eqens::rep::GridGroup;
use std::collections::BTreeSet;

/// `eqens check`'s default seed and budget, so the test runs the CLI's search.
const SEED: u64 = 0;
/// Random cases per dropped hypothesis (the CLI's default): a dropped hypothesis breaks
/// almost every random case, so 10 draws leave ample room.
const BUDGET: usize = 10;
/// Random cases for the all-kept control (each a few ms).
const KEPT_BUDGET: usize = 60;

#[test]
fn every_dropped_hypothesis_gives_a_shrunk_counterexample() {
    let found = find_counterexamples(SEED, BUDGET).unwrap();
    let properties: Vec<Property> = found.iter().map(|c| c.property).collect();
    assert_eq!(properties, Property::DROPPING.to_vec());
    let dropped: BTreeSet<&str> = found.iter().map(|c| c.property.dropped()).collect();
    let all: BTreeSet<&str> = ["H1", "H2", "H3", "H4", "H5", "H6", "H7"].into();
    assert_eq!(dropped, all);
    assert!(missing_counterexamples(&found).is_empty());
    // Negative control of the CLI's verdict: a search that lost one counterexample is seen.
    assert_eq!(
        missing_counterexamples(&found[1..]),
        vec![found[0].property]
    );
    for c in &found {
        let label = c.property.label();
        assert!((1..=BUDGET).contains(&c.cases_tried), "{label}");
        assert!(c.found_error > FAIL_THRESHOLD, "{label}: {}", c.found_error);
        assert_eq!(c.found.property(), c.property);
        assert!(c.found.admissible().unwrap(), "{label}");
        // The shrunk case is re-measured from scratch: it still fails, deterministically.
        let e = measure(&c.shrunk).unwrap();
        assert_eq!(e, c.shrunk_error, "{label}: measurement not deterministic");
        assert!(e > FAIL_THRESHOLD, "{label}: shrunk case holds ({e})");
        assert!(c.shrunk.admissible().unwrap(), "{label}");
        assert_eq!(c.shrunk.property(), c.property);
        assert!(
            c.shrunk.is_no_larger_than(&c.found),
            "{label}: {:?} is larger than {:?}",
            c.shrunk,
            c.found
        );
        assert!(c.shrink_steps > 0, "{label}: nothing was shrunk");
        insta::assert_snapshot!(format!("counterexample_{label}"), render_counterexample(c));
    }
}

#[test]
fn shrunk_counterexamples_are_locally_minimal() {
    // Greedy shrinking stops only when no admissible candidate still fails (or has no
    // verdict: diverged, or 0/0 for an identically zero ensemble).
    for c in find_counterexamples(SEED, BUDGET).unwrap() {
        for candidate in c.shrunk.shrink() {
            if candidate.admissible().unwrap() {
                let e = evaluate(&candidate).unwrap().unwrap_or(0.0);
                assert!(
                    e <= FAIL_THRESHOLD,
                    "{}: candidate {:?} still fails ({e})",
                    c.property.label(),
                    candidate
                );
            }
        }
    }
}

#[test]
fn parallel_search_equals_sequential_search() {
    let parallel = find_counterexamples(SEED, BUDGET).unwrap();
    for (c, p) in parallel.iter().zip(Property::DROPPING) {
        let alone = search(p, SEED, BUDGET).unwrap().counterexample.unwrap();
        assert_eq!(*c, alone);
    }
}

#[test]
fn with_every_hypothesis_kept_no_counterexample_is_found() {
    // The control: the same search over the same kind of random cases, nothing broken.
    let outcome = search(Property::AllKept, SEED, KEPT_BUDGET).unwrap();
    assert!(
        outcome.counterexample.is_none(),
        "{:?}",
        outcome.counterexample
    );
    assert_eq!(outcome.cases_tried, KEPT_BUDGET);
    // Every case had a verdict (no divergence, no NaN hidden as "no verdict").
    assert_eq!(outcome.undecided, 0);
    // Not just below the search threshold: exact to round-off (KEPT_TOLERANCE, justified
    // beside its definition).
    assert!(
        outcome.max_error <= KEPT_TOLERANCE,
        "max error {}",
        outcome.max_error
    );
}

#[test]
fn a_budget_of_zero_finds_nothing() {
    let outcome = search(Property::NonInvariantInit, SEED, 0).unwrap();
    assert!(outcome.counterexample.is_none());
    assert_eq!(outcome.cases_tried, 0);
}

#[test]
fn shrink_candidates_are_never_larger() {
    for p in std::iter::once(Property::AllKept).chain(Property::DROPPING) {
        for seed in 0..10 {
            let case = Case::random(p, seed).unwrap();
            assert!(case.admissible().unwrap());
            assert_eq!(case.property(), p);
            for candidate in case.shrink() {
                assert_ne!(candidate, case);
                assert!(
                    candidate.is_no_larger_than(&case),
                    "{candidate:?} vs {case:?}"
                );
            }
        }
    }
    // Control: a genuinely larger case is recognised as such.
    let case = Case::random(Property::AllKept, 3).unwrap();
    let mut bigger = case.clone();
    bigger.side += 1;
    assert!(!bigger.is_no_larger_than(&case));
    assert!(case.is_no_larger_than(&bigger));
}

/// A C4 case with every hypothesis kept, to break one thing at a time.
fn c4_case() -> Case {
    let mut case = Case::random(Property::AllKept, 11).unwrap();
    case.group = GridGroup::C4;
    case.support = Support::plus();
    case
}

#[test]
fn inadmissible_cases_do_not_drop_their_hypothesis() {
    // Each property's admissibility rejects settings in which the hypothesis actually holds.
    let with = |breach: Breach, f: &dyn Fn(&mut Case)| {
        let mut c = c4_case();
        c.breach = breach;
        f(&mut c);
        c.admissible().unwrap()
    };
    // H1: the identity and r ↦ r³ are homomorphisms C4 → D4.
    assert!(assignment_is_representation(&[0, 1, 2, 3]).unwrap());
    assert!(assignment_is_representation(&[0, 3, 2, 1]).unwrap());
    assert!(!assignment_is_representation(&[0, 1, 2, 4]).unwrap());
    let d4 = |c: &mut Case| c.group = GridGroup::D4;
    assert!(!with(Breach::Assignment([0, 1, 2, 3]), &d4));
    assert!(with(Breach::Assignment([0, 1, 2, 4]), &d4));
    // H4: plus + centre is a union of C4 orbits; plus-corner is not.
    assert!(!with(Breach::NonInvariantSupport, &|_| {}));
    assert!(with(Breach::NonInvariantSupport, &|c| c.support =
        Support::plus_corner()));
    // H5: one tap gives a single unit vector, which is orthonormal.
    assert!(!with(Breach::NonOrthonormalBasis, &|c| c.support =
        Support::parse("000010000").unwrap()));
    // H6 / H7: one copy of A_0 is the uniform law on the orbit; the weight 1/|G| is Haar;
    // {e, r} is all of C2.
    assert!(!with(Breach::InitCopies(1), &|_| {}));
    assert!(with(Breach::InitCopies(2), &|_| {}));
    assert!(!with(
        Breach::Augmentation(NonHaar::IdentityWeight(0.25)),
        &|_| {}
    ));
    assert!(!with(Breach::Augmentation(NonHaar::IdentityAndR), &|c| c
        .group =
        GridGroup::C2));
    assert!(with(Breach::Augmentation(NonHaar::IdentityAndR), &|_| {}));
    // H3 needs a non-trivial ρ_Y (an image head).
    assert!(!with(Breach::UntransformedTargets, &|c| c.head = Head::Classes(3)));
}

#[test]
fn a_relabelling_whose_image_is_a_subgroup_is_harmless() {
    // r^k ↦ (e, r², r, r³) is not a homomorphism C4 → D4, but its image is the subgroup C4:
    // the orbit, the augmentation and the probes are the same sets as with H1 kept, so the
    // ensemble stays exact. What breaks the theorem is an image that is not closed — which is
    // why the H1 counterexample has to be searched for, not assumed.
    assert!(!assignment_is_representation(&[0, 2, 1, 3]).unwrap());
    let mut case = c4_case();
    case.group = GridGroup::D4;
    case.support = Support::full(3);
    case.breach = Breach::Assignment([0, 2, 1, 3]);
    assert!(case.admissible().unwrap());
    let e = measure(&case).unwrap();
    assert!(e <= KEPT_TOLERANCE, "error {e}");
    // Control: replacing r³ by the flip s (image not closed) breaks it.
    case.breach = Breach::Assignment([0, 2, 1, 4]);
    let e = measure(&case).unwrap();
    assert!(e > FAIL_THRESHOLD, "error {e}");
}
