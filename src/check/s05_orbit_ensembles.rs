//! S5 — orbit ensembles are exactly equivariant: the |G| members ρ(g)A_0, each trained
//! independently with full-augmentation descent on the same data, form an ensemble whose
//! equivariance error is at round-off level at EVERY step on random off-distribution
//! inputs, while single members are far from equivariant.
//!
//! Case: C4 acting on 1×6×6 images, conv(2) → tanh → layer norm → conv(2) → flatten →
//! dense(3 classes), 3×3 filters, invariant logits; 8 training images with N(0, 1) pixels and
//! random labels; probes are fresh N(0, 2²) images (off the training distribution). The
//! error is the relative one of [`equivariance_error`] (max over g and probes, divided by the
//! mean ‖f̂(x)‖), measured after every step t = 0..=[`STEPS`].

use super::common::{perturbed_descent, run_fallible_members};
use super::roundoff::{self, Budget};
use super::{Control, Measurement};
use crate::autodiff::Tape;
use crate::ensemble::equivariance_error;
use crate::nn::analysis::direction_basis;
use crate::nn::{GroupNetwork, LayerSpec, Network, Parametrisation, Support};
use crate::rep::{GridGroup, Rep};
use crate::train::cases::{self, normals, random_invariant_support, sub_seed, worst, Filters};
use crate::train::init::standard_normal;
use crate::train::{descend, init_theta, orbit, Augmentation, InitLaw, Workspace};
use crate::{Error, Result};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Step size of every member. At this step size the step map is well conditioned (its
/// Lipschitz constant stays ≈ 1, so round-off is not amplified); at lr 0.3 some cases
/// saturate tanh and the layer norm then amplifies round-off in θ (measured ≈ 5e-14) by
/// ~30 in the outputs, reaching 2e-12 after 20 steps — an ill-conditioned regime, not a
/// failure of the statement, which the tolerance below does not cover.
pub const LR: f64 = 0.1;
/// Descent steps of every member.
pub const STEPS: usize = 20;
/// Training images.
pub const SAMPLES: usize = 8;
/// Probe images.
pub const PROBES: usize = 4;
/// Threads of the member runs (results do not depend on it).
const THREADS: usize = 2;

/// The tolerance of a case is the round-off budget of the trained ensemble's own error
/// ([`roundoff`]). In exact arithmetic member g's trajectory is ρ(g) times member e's
/// (S4), and the orbit ensemble is then exactly equivariant (S1); in floating point each
/// member's descent commits a backward error of u·W_step per step (W_step =
/// [`roundoff::step_work`]) and each evaluation u·W_fwd ([`roundoff::network_work`]). κ is
/// measured on the case: the relative change of member e's probe outputs after every step
/// when a round-off-sized perturbation is injected after every step
/// ([`roundoff::trajectory_sensitivity`]), times the amplification of activation round-off
/// ([`roundoff::activation_condition`]). This
/// covers what the earlier split into "exact-lift ensemble" and "drift" left out: the output
/// sensitivity that amplifies the drift (up to ~80× in some cases, which is why the trained
/// ensemble's error, 2.8e-11 in the worst case seen, exceeded a fixed 1e-12).
///
/// A control must exceed [`roundoff::CONTROL_FACTOR`] × its own case's tolerance: each
/// broken hypothesis changes every step by O(lr·‖∇R‖), so after 20 steps the ensemble error
/// is O(0.1..1) (recorded in the controls' cases).
/// Single members must have at least this relative error: a random Gaussian network on
/// 6×6 images is O(1) away from invariant, and 20 small steps do not make it invariant.
pub const MEMBER_THRESHOLD: f64 = 1e-2;

/// One case: the shared training problem ([`cases::Case`]) and the probes at which the
/// orbit ensembles' equivariance error is measured.
struct OrbitCase {
    problem: cases::Case,
    probes: Vec<f64>,
}

fn c4_filter_rep() -> Result<Rep> {
    Rep::grid(GridGroup::C4, 3, 3)
}

/// The direction of S5(v): orbit indicators of the 3×3 grid (a basis of H_G) plus
/// a = +1, −1, +1, −1 on the edge taps (0,1), (1,0), (2,1), (1,2) — the order in which r
/// cycles them — and v = e_(0,0) − e_(0,2), orthonormalised. Verifies that ρ(r)a = −a, that
/// the projector on T𝓛 commutes with Π_G (compatibility) and that it does not commute with
/// ρ(r) (not invariant).
pub fn compatible_not_invariant() -> Result<Parametrisation> {
    let rep = c4_filter_rep()?;
    let tap = |r: usize, c: usize| 3 * r + c;
    let mut a = vec![0.0; 9];
    for (k, &(r, c)) in [(0, 1), (1, 0), (2, 1), (1, 2)].iter().enumerate() {
        a[tap(r, c)] = if k % 2 == 0 { 1.0 } else { -1.0 };
    }
    let mut ra = vec![0.0; 9];
    rep.apply(1, &a, &mut ra);
    if ra.iter().zip(&a).any(|(x, y)| *x != -y) {
        return Err(Error::Invalid(format!(
            "S5(v): a = {a:?} is not an eigenvector of ρ(r) with eigenvalue −1 (ρ(r)a = {ra:?})"
        )));
    }
    let param = cases::compatible_not_invariant(GridGroup::C4)?;
    let q = direction_basis(&param);
    let p_l = &q * q.transpose();
    let mut p_g = Mat::<f64>::zeros(9, 9);
    for g in 0..4 {
        p_g += rep.matrix(g) * 0.25;
    }
    let norm = |m: Mat<f64>| m.norm_l2();
    // Exact 0/±1 entries and one Gram–Schmidt: round-off ~1e-15.
    let compat = norm(&p_l * &p_g - &p_g * &p_l);
    let moved = norm(&p_l * rep.matrix(1) - rep.matrix(1) * &p_l);
    if !(compat < 1e-12 && moved > 0.1) {
        return Err(Error::Invalid(format!(
            "S5(v): ‖[Π_𝓛, Π_G]‖ = {compat:.2e} (must vanish), ‖[Π_𝓛, ρ(r)]‖ = {moved:.2e} \
             (must not)"
        )));
    }
    Ok(param)
}

fn filter_param(filters: &Filters, rng: &mut ChaCha8Rng) -> Result<(Parametrisation, String)> {
    Ok(match filters {
        Filters::InvariantSupport => {
            let s = random_invariant_support(GridGroup::C4, rng)?;
            (Parametrisation::from_support(&s), format!("one-hot {s}"))
        }
        Filters::OneHot(s) => (Parametrisation::from_support(s), format!("one-hot {s}")),
        Filters::NonOrthonormal => {
            let mut s = random_invariant_support(GridGroup::C4, rng)?;
            while s.len() < 2 {
                s = random_invariant_support(GridGroup::C4, rng)?;
            }
            let seed = rng.random();
            (
                Parametrisation::random_normalised(9, &s.indices(), seed)?,
                format!("random-normalised on {s}"),
            )
        }
        Filters::CompatibleNotInvariant => (
            compatible_not_invariant()?,
            "H_G ⊕ span(a) ⊕ span(v)".into(),
        ),
    })
}

fn case(seed: u64, filters: &Filters) -> Result<OrbitCase> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (p1, d1) = filter_param(filters, &mut rng)?;
    let (p2, d2) = filter_param(filters, &mut rng)?;
    let net = Network::new(
        &[1, 6, 6],
        vec![
            LayerSpec::conv_with(2, 3, p1),
            LayerSpec::Tanh,
            LayerSpec::LayerNorm,
            LayerSpec::conv_with(2, 3, p2),
            LayerSpec::Flatten,
            LayerSpec::dense_full(3),
        ],
    )?;
    let gnet = GroupNetwork::on_images(net, GridGroup::C4)?;
    let x = normals(&mut rng, SAMPLES * 36);
    let labels = (0..SAMPLES).map(|_| rng.random_range(0..3)).collect();
    let probes = (0..PROBES * 36)
        .map(|_| 2.0 * standard_normal(&mut rng))
        .collect();
    let problem = cases::Case {
        gnet,
        x,
        n: SAMPLES,
        labels,
        values: Vec::new(),
        description: format!(
            "C4 on [1,6,6], conv(2)→tanh→layernorm→conv(2)→flatten→dense(3), filters {d1} / \
             {d2}, lr {LR}, {STEPS} steps"
        ),
    };
    Ok(OrbitCase { problem, probes })
}

/// The orbit members' θ after every step: `out[t][g]` is member g after t steps
/// (t = 0..=STEPS).
fn orbit_trajectories(
    case: &OrbitCase,
    init: &InitLaw,
    aug: &Augmentation,
    seed: u64,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let gnet = &case.problem.gnet;
    let law = aug.law(gnet.group())?;
    let theta0 = init_theta(gnet, init, &mut ChaCha8Rng::seed_from_u64(seed))?;
    let members = orbit(gnet, &theta0)?;
    let samples = case.problem.samples();
    let runs = run_fallible_members(0..members.len(), THREADS, |g| -> Result<Vec<Vec<f64>>> {
        let mut theta = members[g].clone();
        let mut traj = vec![theta.clone()];
        let mut ws = Workspace::<f64>::new(gnet);
        descend(
            gnet,
            &mut ws,
            &mut theta,
            &samples,
            &law,
            LR,
            STEPS,
            |_, th, _| traj.push(th.to_vec()),
        )?;
        Ok(traj)
    })?;
    Ok((0..=STEPS)
        .map(|t| runs.iter().map(|r| r[t].clone()).collect())
        .collect())
}

/// The ensemble's relative error over `elements` after every step.
fn errors_per_step(
    case: &OrbitCase,
    traj: &[Vec<Vec<f64>>],
    elements: &[usize],
) -> Result<Vec<f64>> {
    traj.iter()
        .map(|members| {
            equivariance_error(
                &case.problem.gnet,
                members,
                &case.probes,
                PROBES,
                elements,
                THREADS,
            )
        })
        .collect()
}

/// The S5 error of one step, split into what the theory says is exact and what is
/// round-off propagated by training.
#[derive(Clone, Copy, Debug)]
struct StepSplit {
    /// Relative equivariance error (over `elements` = H) of the ensemble of the exact lifts
    /// ρ(h)θ_t^(c), h ∈ H, c a representative of each coset Hc: exact by the lifted identity.
    exact: f64,
    /// max_{h ∈ H, g} ‖θ_t^(hg) − ρ(h)θ_t^(g)‖ / (‖θ_t^(g)‖·max(t, 1)): the trained members'
    /// drift per step from the exact lifts (S4's quantity).
    drift: f64,
    /// Relative equivariance error of the trained members themselves (reported only).
    trained: f64,
}

/// [`StepSplit`] after every step; `elements` must be a subgroup H.
fn split_per_step(
    case: &OrbitCase,
    traj: &[Vec<Vec<f64>>],
    elements: &[usize],
) -> Result<Vec<StepSplit>> {
    let gnet = &case.problem.gnet;
    let group = gnet.group();
    let order = group.order();
    // One representative c per coset Hc.
    let mut covered = vec![false; order];
    let mut reps = Vec::new();
    for g in 0..order {
        if !covered[g] {
            reps.push(g);
            elements
                .iter()
                .for_each(|&h| covered[group.mul(h, g)] = true);
        }
    }
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let trained = errors_per_step(case, traj, elements)?;
    traj.iter()
        .zip(trained)
        .enumerate()
        .map(|(t, (members, trained))| {
            let mut lifts = Vec::new();
            for &c in &reps {
                for &h in elements {
                    lifts.push(gnet.lift_theta(h, &members[c])?);
                }
            }
            let exact = equivariance_error(gnet, &lifts, &case.probes, PROBES, elements, THREADS)?;
            let mut drift: f64 = 0.0;
            for (g, theta) in members.iter().enumerate() {
                for &h in elements {
                    let lifted = gnet.lift_theta(h, theta)?;
                    let moved = &members[group.mul(h, g)];
                    let d: Vec<f64> = moved.iter().zip(&lifted).map(|(a, b)| a - b).collect();
                    drift = worst(drift, norm(&d) / (norm(theta) * t.max(1) as f64));
                }
            }
            Ok(StepSplit {
                exact,
                drift,
                trained,
            })
        })
        .collect()
}

/// (the S5 error max_t max(exact, drift), a description of the worst parts and of the
/// trained ensemble's error with its amplification over the accumulated drift).
fn split_error(splits: &[StepSplit]) -> (f64, String) {
    let (mut exact, mut drift, mut trained, mut amp) = (0.0, 0.0, 0.0, 0.0);
    for (t, s) in splits.iter().enumerate() {
        exact = worst(exact, s.exact);
        drift = worst(drift, s.drift);
        trained = worst(trained, s.trained);
        let total = s.drift * t.max(1) as f64;
        if total > 0.0 {
            amp = worst(amp, s.trained / total);
        }
    }
    (
        worst(exact, drift),
        format!(
            "exact-lift ensemble error {exact:.2e}, drift per step {drift:.2e}; trained \
             ensemble error {trained:.2e} (≤ {amp:.0}× the accumulated drift)"
        ),
    )
}

const ALL: [usize; 4] = [0, 1, 2, 3];

/// The round-off budget of the trained orbit ensemble of case `c` (see the module's
/// tolerance docs): member e's probe outputs after every step, unperturbed and with a
/// perturbation injected after every step, each step's outputs weighted by 1/‖outputs‖.
fn trained_budget(c: &OrbitCase, init: &InitLaw, aug: &Augmentation, seed: u64) -> Result<Budget> {
    let gnet = &c.problem.gnet;
    let net = gnet.network();
    let law = aug.law(gnet.group())?;
    let theta0 = init_theta(gnet, init, &mut ChaCha8Rng::seed_from_u64(seed))?;
    let samples = c.problem.samples();
    let outputs = |th: &[f64]| net.predict(&mut Tape::new(), th, &c.probes, PROBES);
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut base = Vec::new();
    let mut weights = Vec::new();
    let mut theta = theta0.clone();
    let mut ws = Workspace::<f64>::new(gnet);
    for _ in 0..STEPS {
        descend(
            gnet,
            &mut ws,
            &mut theta,
            &samples,
            &law,
            LR,
            1,
            |_, _, _| {},
        )?;
        let out = outputs(&theta)?;
        let w = 1.0 / norm(&out);
        weights.push(w);
        base.extend(out.iter().map(|v| v * w));
    }
    let condition = roundoff::trajectory_sensitivity(1.0, &base, sub_seed(seed, 77), |rng| {
        let mut theta = theta0.clone();
        let mut twin = Vec::with_capacity(base.len());
        for w in &weights {
            theta = perturbed_descent(gnet, &theta, &samples, &law, LR, 1, rng)?;
            twin.extend(outputs(&theta)?.iter().map(|v| v * w));
        }
        Ok(twin)
    })?;
    let probes_act =
        roundoff::activation_condition(net, &theta, &c.probes, PROBES, sub_seed(seed, 78))?;
    let work = roundoff::step_work(net, SAMPLES, gnet.group().order()) * STEPS as f64
        + roundoff::network_work(net) * gnet.group().order() as f64;
    Ok(Budget {
        work,
        condition: condition.max(1.0) * probes_act,
    })
}

/// S5 on a random invariant case with Gaussian init and full augmentation: the error is
/// the trained orbit ensemble's own relative equivariance error, worst over steps 0..=20,
/// against its round-off budget. The case also records the split of that error into the
/// ensemble of exact lifts ρ(g)θ_t^(e) (S1) and the members' drift per step from those lifts
/// (S4), which locates a failure.
pub fn check(seed: u64) -> Result<Measurement> {
    let c = case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let gauss = InitLaw::Gaussian { scale: 1.0 };
    let traj = orbit_trajectories(&c, &gauss, &Augmentation::Full, sub_seed(seed, 1))?;
    let splits = split_per_step(&c, &traj, &ALL)?;
    let (_, parts) = split_error(&splits);
    let error = splits.iter().fold(0.0, |w, s| worst(w, s.trained));
    let budget = trained_budget(&c, &gauss, &Augmentation::Full, sub_seed(seed, 1))?;
    Ok(Measurement {
        statement: "S5",
        case: format!(
            "{}, Gaussian init, full augmentation, orbit ensemble of 4: {parts} ({})",
            c.problem.description,
            budget.describe()
        ),
        error,
        tolerance: budget.tolerance(),
        degenerate: 0,
    })
}

fn final_error(
    c: &OrbitCase,
    init: &InitLaw,
    aug: &Augmentation,
    seed: u64,
    elements: &[usize],
) -> Result<f64> {
    let traj = orbit_trajectories(c, init, aug, seed)?;
    equivariance_error(
        &c.problem.gnet,
        traj.last().expect("STEPS + 1 entries"),
        &c.probes,
        PROBES,
        elements,
        THREADS,
    )
}

/// The controls: single members; (i) plus-corner with symmetric init; (ii) non-orthonormal
/// basis; (iii) augmentation over {e, r}; (iv) no augmentation; (v) compatible but not
/// invariant 𝓛 with init in 𝓛_0. Each error is the ensemble's (or member's) relative error
/// after [`STEPS`] steps, and is recorded in the control's case.
pub fn controls(seed: u64) -> Result<Vec<Control>> {
    let gauss = InitLaw::Gaussian { scale: 1.0 };
    let sym = InitLaw::Symmetric { scale: 1.0 };
    let s = sub_seed(seed, 1);
    let mut out = Vec::new();
    let mut push =
        |dropped: &'static str, what: &str, c: &OrbitCase, error: f64, threshold: f64| {
            out.push(Control {
                statement: "S5",
                dropped,
                case: format!("{what}: {} → error {error:.3e}", c.problem.description),
                error,
                threshold,
            })
        };
    // 10³ × the tolerance the control's case would have as a positive case.
    let threshold = |c: &OrbitCase, init: &InitLaw, aug: &Augmentation| -> Result<f64> {
        Ok(roundoff::control_threshold(
            trained_budget(c, init, aug, s)?.tolerance(),
        ))
    };

    let inv = case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let traj = orbit_trajectories(&inv, &gauss, &Augmentation::Full, s)?;
    let members = traj.last().expect("STEPS + 1 entries");
    let mut single = f64::INFINITY;
    for m in members {
        let e = equivariance_error(
            &inv.problem.gnet,
            std::slice::from_ref(m),
            &inv.probes,
            PROBES,
            &ALL,
            1,
        )?;
        single = if e.is_nan() { e } else { single.min(e) };
    }
    push(
        "ensemble (M = 1)",
        "least equivariant single member",
        &inv,
        single,
        MEMBER_THRESHOLD,
    );

    let corner = case(sub_seed(seed, 0), &Filters::OneHot(Support::plus_corner()))?;
    let e = final_error(&corner, &sym, &Augmentation::Full, s, &ALL)?;
    let t = threshold(&corner, &sym, &Augmentation::Full)?;
    push("H4", "(i) plus-corner, symmetric init", &corner, e, t);

    let skew = case(sub_seed(seed, 0), &Filters::NonOrthonormal)?;
    let e = final_error(&skew, &gauss, &Augmentation::Full, s, &ALL)?;
    let t = threshold(&skew, &gauss, &Augmentation::Full)?;
    push("H5", "(ii) non-orthonormal basis", &skew, e, t);

    let subset = Augmentation::Subset(vec![0, 1]);
    let e = final_error(&inv, &gauss, &subset, s, &ALL)?;
    let t = threshold(&inv, &gauss, &subset)?;
    push("H7", "(iii) augmentation over {e, r}", &inv, e, t);

    let e = final_error(&inv, &gauss, &Augmentation::None, s, &ALL)?;
    let t = threshold(&inv, &gauss, &Augmentation::None)?;
    push("H7", "(iv) no augmentation", &inv, e, t);

    let compat = case(sub_seed(seed, 0), &Filters::CompatibleNotInvariant)?;
    let e = final_error(&compat, &sym, &Augmentation::Full, s, &ALL)?;
    let t = threshold(&compat, &sym, &Augmentation::Full)?;
    push(
        "H4",
        "(v) compatible, not invariant 𝓛, init in 𝓛_0",
        &compat,
        e,
        t,
    );
    Ok(out)
}

/// The control that must hold: augmentation over the subgroup H = {e, r²} keeps the orbit
/// ensemble (all four members ρ(g)A_0) exactly H-equivariant at every step — the
/// measurement, over g ∈ H, split as in [`check`] (lifts ρ(h)θ_t^(c) of one member per coset
/// Hc, and the drift of θ_t^(hc) from them) — while r-equivariance is lost — the control, error for g = r
/// after [`STEPS`] steps.
pub fn subgroup_check(seed: u64) -> Result<(Measurement, Control)> {
    let c = case(sub_seed(seed, 0), &Filters::InvariantSupport)?;
    let gauss = InitLaw::Gaussian { scale: 1.0 };
    let aug = Augmentation::Subgroup(vec![0, 2]);
    let traj = orbit_trajectories(&c, &gauss, &aug, sub_seed(seed, 1))?;
    let splits = split_per_step(&c, &traj, &[0, 2])?;
    let (_, parts) = split_error(&splits);
    let on_h = splits.iter().fold(0.0, |w, s| worst(w, s.trained));
    let budget = trained_budget(&c, &gauss, &aug, sub_seed(seed, 1))?;
    let for_r = equivariance_error(
        &c.problem.gnet,
        traj.last().expect("STEPS + 1 entries"),
        &c.probes,
        PROBES,
        &[1],
        THREADS,
    )?;
    Ok((
        Measurement {
            statement: "S5",
            case: format!(
                "{}, augmentation over {{e, r²}}, error over g ∈ {{e, r²}}: {parts} ({})",
                c.problem.description,
                budget.describe()
            ),
            error: on_h,
            tolerance: budget.tolerance(),
            degenerate: 0,
        },
        Control {
            statement: "S5",
            dropped: "H7",
            case: format!(
                "{}, augmentation over {{e, r²}}, error for g = r → {for_r:.3e}",
                c.problem.description
            ),
            error: for_r,
            threshold: roundoff::control_threshold(budget.tolerance()),
        },
    ))
}
