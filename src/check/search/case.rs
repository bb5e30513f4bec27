//! The cases the search draws: the properties (one hypothesis dropped, or none), the breach
//! each makes, and a [`Case`] with its random draw, admissibility, shrink candidates and words.

use crate::group::Group;
use crate::nn::analysis::filter_orbit_indices;
use crate::nn::{GroupNetwork, LayerSpec, Network, Padding, Parametrisation, Support};
use crate::rep::{GridGroup, Rep};
use crate::train::cases::{compatible_not_invariant, random_invariant_support, sub_seed};
use crate::train::init::standard_normal;
use crate::train::Augmentation;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Random draws allowed to find one admissible case (admissibility fails only for rare
/// combinations, e.g. a drawn assignment that happens to be a homomorphism).
const MAX_DRAWS: usize = 1000;

/// A property of orbit ensembles: all hypotheses kept, or one dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Property {
    /// Nothing dropped: the control, which must never fail.
    AllKept,
    /// H1: "ρ'" assigns to C4's elements distinct elements of D4 (orthogonal permutations,
    /// ρ'(e) = I) without being a homomorphism.
    NotARepresentation,
    /// H2: a layer that is not equivariant (position-dependent bias, pooling on an odd grid,
    /// asymmetric padding).
    NonEquivariantLayer,
    /// H3: image outputs (ρ_Y non-trivial) whose targets are not transformed under
    /// augmentation.
    NonInvariantLoss,
    /// H4: a filter support that is not a union of orbits, with symmetric initialisation.
    NonInvariantSupport,
    /// H4, with only NOF's compatibility kept: the compatible but not invariant 𝓛 of S5(v).
    CompatibleNotInvariant,
    /// H5: a random normalised, non-orthonormal basis on an invariant support.
    NonOrthonormalBasis,
    /// H6: a non-uniform initial law on the orbit.
    NonInvariantInit,
    /// H7: a non-Haar augmentation law (non-uniform weights, or {e, r} when it is not a
    /// subgroup).
    NonHaarAugmentation,
}

impl Property {
    /// The properties that drop a hypothesis, H1..H7 (H4 twice).
    pub const DROPPING: [Property; 8] = [
        Property::NotARepresentation,
        Property::NonEquivariantLayer,
        Property::NonInvariantLoss,
        Property::NonInvariantSupport,
        Property::CompatibleNotInvariant,
        Property::NonOrthonormalBasis,
        Property::NonInvariantInit,
        Property::NonHaarAugmentation,
    ];

    /// The hypothesis dropped ("none" for [`Property::AllKept`]).
    pub fn dropped(self) -> &'static str {
        match self {
            Property::AllKept => "none",
            Property::NotARepresentation => "H1",
            Property::NonEquivariantLayer => "H2",
            Property::NonInvariantLoss => "H3",
            Property::NonInvariantSupport | Property::CompatibleNotInvariant => "H4",
            Property::NonOrthonormalBasis => "H5",
            Property::NonInvariantInit => "H6",
            Property::NonHaarAugmentation => "H7",
        }
    }

    /// A unique short label (snapshot names): "all-kept", "H1", …, "H4-compatible", ….
    pub fn label(self) -> &'static str {
        match self {
            Property::AllKept => "all-kept",
            Property::CompatibleNotInvariant => "H4-compatible",
            p => p.dropped(),
        }
    }

    /// What the property breaks, in words.
    pub fn description(self) -> &'static str {
        match self {
            Property::AllKept => "nothing: H1–H7 all kept",
            Property::NotARepresentation => "ρ is not a representation",
            Property::NonEquivariantLayer => "a layer is not equivariant",
            Property::NonInvariantLoss => "the loss is not invariant",
            Property::NonInvariantSupport => "the architecture 𝓛 is not invariant (support)",
            Property::CompatibleNotInvariant => {
                "𝓛 is only compatible (NOF), not invariant — compatibility is not enough"
            }
            Property::NonOrthonormalBasis => "the parametrisation is not orthonormal",
            Property::NonInvariantInit => "the initial law is not invariant",
            Property::NonHaarAugmentation => "the augmentation law is not Haar",
        }
    }

    pub(super) fn index(self) -> u64 {
        match self {
            Property::AllKept => 0,
            Property::NotARepresentation => 1,
            Property::NonEquivariantLayer => 2,
            Property::NonInvariantLoss => 3,
            Property::NonInvariantSupport => 4,
            Property::CompatibleNotInvariant => 5,
            Property::NonOrthonormalBasis => 6,
            Property::NonInvariantInit => 7,
            Property::NonHaarAugmentation => 8,
        }
    }
}

/// The network's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// flatten → dense(K): invariant logits (ρ_Y trivial), cross-entropy on uniform labels.
    Classes(usize),
    /// A final convolution to one channel: an image output (ρ_Y = the grid action), mean
    /// squared error against N(0, 1) target images.
    Image,
}

/// The non-equivariant layer of [`Property::NonEquivariantLayer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokenLayer {
    /// A fixed random N(0, 1) map added after the first convolution.
    PositionBias,
    /// 2×2 average pooling after the first activation, on an odd grid (floor drops the last
    /// row and column, which rotation moves to the first).
    OddPooling,
    /// The first convolution padded 0 above/left and 2 below/right.
    AsymmetricPadding,
}

/// The non-Haar law of [`Property::NonHaarAugmentation`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NonHaar {
    /// Weight w on e, (1 − w)/(|G| − 1) on every other element.
    IdentityWeight(f64),
    /// Uniform on {e, r} (element 1; not a subgroup of C4 or D4).
    IdentityAndR,
}

/// What a case breaks (one per [`Property`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Breach {
    /// Nothing.
    None,
    /// ρ'(r^k) = ρ_D4(φ\[k\]) for k = 0..3: distinct D4 elements, φ\[0\] = e, not a
    /// homomorphism C4 → D4.
    Assignment([usize; 4]),
    /// A non-equivariant layer.
    Layer(BrokenLayer),
    /// Targets not transformed by ρ_Y(g) under augmentation (image head).
    UntransformedTargets,
    /// Ω not a union of orbits; symmetric initialisation (A_0 ∈ 𝓛_0).
    NonInvariantSupport,
    /// T𝓛 = H_G ⊕ span(a) ⊕ span(v) on every filter (S5(v)); symmetric initialisation.
    CompatibleNotInvariant,
    /// A random normalised basis on Ω.
    NonOrthonormalBasis,
    /// The initial law on the orbit: A_0 drawn `c` times as often as each other ρ(g)A_0
    /// (c ≥ 2 copies of A_0 among the members; weight c/(c + |G| − 1) instead of 1/|G|).
    InitCopies(usize),
    /// A non-Haar augmentation law.
    Augmentation(NonHaar),
}

/// A random training problem and what it breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The group acting on the pixel grid (for H1: D4, into which C4 is mapped).
    pub group: GridGroup,
    /// Input side s: inputs are 1×s×s.
    pub side: usize,
    /// Number of conv → tanh blocks.
    pub depth: usize,
    /// Channels of every hidden convolution.
    pub channels: usize,
    /// The 3×3 filter support Ω of every convolution.
    pub support: Support,
    /// The head.
    pub head: Head,
    /// Training samples n.
    pub samples: usize,
    /// Descent steps of every member.
    pub steps: usize,
    /// Seed of the data, θ_0, probes and any random basis.
    pub seed: u64,
    /// What is broken.
    pub breach: Breach,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Whether Ω is a union of orbits of the 3×3 filter grid under `kind` (H4 for one-hot bases).
pub fn support_is_invariant(kind: GridGroup, support: &Support) -> Result<bool> {
    let idx = support.indices();
    Ok(filter_orbit_indices(kind, 3)?.iter().all(|orbit| {
        let inside = orbit.iter().filter(|i| idx.contains(i)).count();
        inside == 0 || inside == orbit.len()
    }))
}

/// Whether r^k ↦ ρ_D4(φ\[k\]) is a representation of C4, as judged by
/// [`Rep::from_permutations`] on the 3×3 grid (where D4 acts faithfully).
pub fn assignment_is_representation(phi: &[usize; 4]) -> Result<bool> {
    let d4 = Rep::grid(GridGroup::D4, 3, 3)?;
    let maps: Vec<Vec<usize>> = phi
        .iter()
        .map(|&j| {
            d4.permutation(j)
                .expect("grid actions are permutations")
                .to_vec()
        })
        .collect();
    Ok(Rep::from_permutations(Arc::new(Group::cyclic(4)), maps).is_ok())
}

/// A random non-empty 3×3 mask (each tap with probability 1/2).
fn random_mask(rng: &mut ChaCha8Rng) -> Result<Support> {
    loop {
        let mask: Vec<bool> = (0..9).map(|_| rng.random_bool(0.5)).collect();
        if mask.iter().any(|&b| b) {
            return Support::from_mask(3, mask);
        }
    }
}

impl Case {
    /// A random admissible case for `property`, drawn from `seed`: group C2/C4/D4 (D4 for H1,
    /// C4 for the S5(v) direction), side 3..=7 (odd for odd pooling), depth 1..=3, channels
    /// 1..=3, head dense(2..=4) or image (image for H3), 2..=6 samples, 2..=10 steps, data
    /// seed < 1000, Ω a random union of orbits (a random non-invariant mask for H4).
    pub fn random(property: Property, seed: u64) -> Result<Case> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..MAX_DRAWS {
            let case = Case::draw(property, &mut rng)?;
            if case.admissible()? {
                return Ok(case);
            }
        }
        Err(Error::Invalid(format!(
            "no admissible case for {property:?} in {MAX_DRAWS} draws"
        )))
    }

    fn draw(property: Property, rng: &mut ChaCha8Rng) -> Result<Case> {
        let group = match property {
            Property::NotARepresentation => GridGroup::D4,
            Property::CompatibleNotInvariant => GridGroup::C4,
            _ => pick(rng, &[GridGroup::C2, GridGroup::C4, GridGroup::D4]),
        };
        let breach = match property {
            Property::AllKept => Breach::None,
            Property::NotARepresentation => {
                let mut phi = [0; 4];
                let mut rest: Vec<usize> = (1..8).collect();
                for slot in phi.iter_mut().skip(1) {
                    *slot = rest.remove(rng.random_range(0..rest.len()));
                }
                Breach::Assignment(phi)
            }
            Property::NonEquivariantLayer => Breach::Layer(pick(
                rng,
                &[
                    BrokenLayer::PositionBias,
                    BrokenLayer::OddPooling,
                    BrokenLayer::AsymmetricPadding,
                ],
            )),
            Property::NonInvariantLoss => Breach::UntransformedTargets,
            Property::NonInvariantSupport => Breach::NonInvariantSupport,
            Property::CompatibleNotInvariant => Breach::CompatibleNotInvariant,
            Property::NonOrthonormalBasis => Breach::NonOrthonormalBasis,
            Property::NonInvariantInit => Breach::InitCopies(rng.random_range(2..=4)),
            Property::NonHaarAugmentation => Breach::Augmentation(if rng.random_bool(0.5) {
                NonHaar::IdentityWeight(pick(rng, &[0.4, 0.55, 0.7]))
            } else {
                NonHaar::IdentityAndR
            }),
        };
        let side = if breach == Breach::Layer(BrokenLayer::OddPooling) {
            pick(rng, &[3, 5, 7])
        } else {
            rng.random_range(3..=7)
        };
        let depth = rng.random_range(1..=3);
        let channels = rng.random_range(1..=3);
        let head = if breach == Breach::UntransformedTargets || rng.random_bool(0.5) {
            Head::Image
        } else {
            Head::Classes(rng.random_range(2..=4))
        };
        let support = match breach {
            Breach::NonInvariantSupport => random_mask(rng)?,
            Breach::CompatibleNotInvariant => Support::full(3),
            _ => random_invariant_support(group, rng)?,
        };
        Ok(Case {
            group,
            side,
            depth,
            channels,
            support,
            head,
            samples: rng.random_range(2..=6),
            steps: rng.random_range(2..=10),
            seed: rng.random_range(0..1000),
            breach,
        })
    }

    /// The property this case tests.
    pub fn property(&self) -> Property {
        match self.breach {
            Breach::None => Property::AllKept,
            Breach::Assignment(_) => Property::NotARepresentation,
            Breach::Layer(_) => Property::NonEquivariantLayer,
            Breach::UntransformedTargets => Property::NonInvariantLoss,
            Breach::NonInvariantSupport => Property::NonInvariantSupport,
            Breach::CompatibleNotInvariant => Property::CompatibleNotInvariant,
            Breach::NonOrthonormalBasis => Property::NonOrthonormalBasis,
            Breach::InitCopies(_) => Property::NonInvariantInit,
            Breach::Augmentation(_) => Property::NonHaarAugmentation,
        }
    }

    /// Whether the case is well formed and drops exactly its property's hypothesis: sizes
    /// ≥ 1 (K ≥ 2); Ω invariant except for H4 (not invariant; full for the S5(v) direction,
    /// whose basis ignores Ω, on C4); ≥ 2 taps for H5 (one unit vector is orthonormal); an odd
    /// side ≥ 3 for odd pooling; an image head for H3; D4 and an assignment that
    /// [`Rep::from_permutations`] rejects for H1; weights ≠ 1/|G| for H6/H7; {e, r} not a
    /// subgroup for H7; and a network the builder accepts (every tap of Ω reaches the grid).
    pub fn admissible(&self) -> Result<bool> {
        let sizes = self.side >= 1
            && self.depth >= 1
            && self.channels >= 1
            && self.samples >= 1
            && !matches!(self.head, Head::Classes(k) if k < 2);
        if !sizes {
            return Ok(false);
        }
        // A network the builder rejects (a tap that never reaches a small grid) is no case.
        match self.network() {
            Err(Error::Shape(_)) => return Ok(false),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let invariant = support_is_invariant(self.group, &self.support)?;
        let uniform = 1.0 / self.group.order() as f64;
        Ok(match self.breach {
            Breach::NonInvariantSupport => !invariant,
            Breach::CompatibleNotInvariant => {
                self.group == GridGroup::C4 && self.support == Support::full(3)
            }
            _ if !invariant => false,
            Breach::None | Breach::Layer(_) => {
                self.breach != Breach::Layer(BrokenLayer::OddPooling)
                    || (self.side % 2 == 1 && self.side >= 3)
            }
            Breach::UntransformedTargets => self.head == Head::Image,
            Breach::NonOrthonormalBasis => self.support.len() >= 2,
            Breach::Assignment(phi) => {
                self.group == GridGroup::D4 && !assignment_is_representation(&phi)?
            }
            Breach::InitCopies(c) => c >= 2,
            Breach::Augmentation(NonHaar::IdentityWeight(w)) => {
                w > 0.0 && w < 1.0 && (w - uniform).abs() > 1e-3
            }
            Breach::Augmentation(NonHaar::IdentityAndR) => !self.group.group().is_subgroup(&[0, 1]),
        })
    }

    /// Simpler candidates, each no larger than `self` in every field (the caller keeps the
    /// admissible ones): one block less, one channel less, a smaller group (D4 → C4 → C2), a
    /// smaller side, one class less, Ω without one orbit or one tap, fewer steps, fewer
    /// samples, a smaller seed, one copy of A_0 less (H6).
    pub fn shrink(&self) -> Vec<Case> {
        let mut out: Vec<Case> = Vec::new();
        let mut push = |c: Case| {
            if c != *self && !out.contains(&c) {
                out.push(c);
            }
        };
        let with = |f: &dyn Fn(&mut Case)| {
            let mut c = self.clone();
            f(&mut c);
            c
        };
        if self.depth > 1 {
            push(with(&|c| c.depth -= 1));
        }
        if self.channels > 1 {
            push(with(&|c| c.channels -= 1));
        }
        match self.group {
            GridGroup::D4 => push(with(&|c| c.group = GridGroup::C4)),
            GridGroup::C4 => push(with(&|c| c.group = GridGroup::C2)),
            GridGroup::C2 => {}
        }
        for d in [2, 1] {
            if self.side > d {
                push(with(&|c| c.side -= d));
            }
        }
        if let Head::Classes(k) = self.head {
            if k > 2 {
                push(with(&|c| c.head = Head::Classes(k - 1)));
            }
        }
        let idx = self.support.indices();
        let orbits = filter_orbit_indices(self.group, 3).unwrap_or_default();
        let mut removals: Vec<Vec<usize>> = orbits
            .into_iter()
            .filter(|o| o.iter().all(|i| idx.contains(i)))
            .collect();
        removals.extend(idx.iter().map(|&i| vec![i]));
        for removed in removals {
            let mask: Vec<bool> = (0..9)
                .map(|i| idx.contains(&i) && !removed.contains(&i))
                .collect();
            if let Ok(s) = Support::from_mask(3, mask) {
                push(with(&|c| c.support = s.clone()));
            }
        }
        if let Breach::InitCopies(c) = self.breach {
            push(with(&|k| k.breach = Breach::InitCopies(c - 1)));
        }
        for steps in [0, self.steps / 2, self.steps.saturating_sub(1)] {
            push(with(&|c| c.steps = steps));
        }
        for n in [1, self.samples / 2, self.samples.saturating_sub(1)] {
            push(with(&|c| c.samples = n.max(1)));
        }
        for seed in [0, self.seed / 2, self.seed.saturating_sub(1)] {
            push(with(&|c| c.seed = seed));
        }
        out
    }

    /// Whether every size of `self` is ≤ the same size of `other`: group order, side,
    /// members, depth, channels, classes (same kind of head), taps of Ω, samples, steps and
    /// seed.
    pub fn is_no_larger_than(&self, other: &Case) -> bool {
        let head = match (self.head, other.head) {
            (Head::Classes(a), Head::Classes(b)) => a <= b,
            (Head::Image, Head::Image) => true,
            _ => false,
        };
        head && self.group.order() <= other.group.order()
            && self.orbit().len() <= other.orbit().len()
            && self.side <= other.side
            && self.depth <= other.depth
            && self.channels <= other.channels
            && self.support.len() <= other.support.len()
            && self.samples <= other.samples
            && self.steps <= other.steps
            && self.seed <= other.seed
    }

    /// The filter parametrisation of convolution `layer`.
    fn filter_param(&self, layer: u64) -> Result<Parametrisation> {
        match self.breach {
            Breach::NonOrthonormalBasis => Parametrisation::random_normalised(
                9,
                &self.support.indices(),
                sub_seed(self.seed, 100 + layer),
            ),
            Breach::CompatibleNotInvariant => compatible_not_invariant(GridGroup::C4),
            _ => Ok(Parametrisation::from_support(&self.support)),
        }
    }

    /// The network under its group, and its layers in words.
    pub fn network(&self) -> Result<(GroupNetwork, String)> {
        let mut specs = Vec::new();
        let mut words = Vec::new();
        let mut grid = self.side;
        let broken = match self.breach {
            Breach::Layer(b) => Some(b),
            _ => None,
        };
        for layer in 0..self.depth {
            let padding = if layer == 0 && broken == Some(BrokenLayer::AsymmetricPadding) {
                words.push(format!("conv({}, padding 0 above/left)", self.channels));
                Padding { top: 0, left: 0 }
            } else {
                words.push(format!("conv({})", self.channels));
                Padding::same(3)
            };
            specs.push(LayerSpec::Conv2d {
                out_channels: self.channels,
                kernel: 3,
                param: self.filter_param(layer as u64)?,
                padding,
            });
            if layer == 0 && broken == Some(BrokenLayer::PositionBias) {
                let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(self.seed, 200));
                let bias = (0..self.channels * grid * grid)
                    .map(|_| standard_normal(&mut rng))
                    .collect();
                specs.push(LayerSpec::AddConstant(bias));
                words.push("position bias".into());
            }
            specs.push(LayerSpec::Tanh);
            words.push("tanh".into());
            if layer == 0 && broken == Some(BrokenLayer::OddPooling) {
                specs.push(LayerSpec::AvgPool2d(2));
                words.push(format!("avgpool 2 on {grid}×{grid}"));
                grid /= 2;
            }
        }
        match self.head {
            Head::Classes(k) => {
                specs.push(LayerSpec::Flatten);
                specs.push(LayerSpec::dense_full(k));
                words.push(format!("flatten→dense({k})"));
            }
            Head::Image => {
                specs.push(LayerSpec::Conv2d {
                    out_channels: 1,
                    kernel: 3,
                    param: self.filter_param(self.depth as u64)?,
                    padding: Padding::same(3),
                });
                words.push("conv(1) image out".into());
            }
        }
        let net = Network::new(&[1, self.side, self.side], specs)?;
        Ok((GroupNetwork::on_images(net, self.group)?, words.join("→")))
    }

    /// The members' group elements g (members ρ(g)A_0, equally weighted in the ensemble).
    pub(super) fn orbit(&self) -> Vec<usize> {
        let n = self.group.order();
        match self.breach {
            Breach::Assignment(phi) => phi.to_vec(),
            Breach::InitCopies(c) => std::iter::repeat_n(0, c).chain(1..n).collect(),
            _ => (0..n).collect(),
        }
    }

    /// The augmentation policy of every member.
    pub(super) fn augmentation(&self) -> Augmentation {
        let n = self.group.order();
        match self.breach {
            Breach::Assignment(phi) => Augmentation::Subset(phi.to_vec()),
            Breach::Augmentation(NonHaar::IdentityWeight(w)) => Augmentation::Weighted(
                (0..n)
                    .map(|g| {
                        if g == 0 {
                            w
                        } else {
                            (1.0 - w) / (n - 1) as f64
                        }
                    })
                    .collect(),
            ),
            Breach::Augmentation(NonHaar::IdentityAndR) => Augmentation::Subset(vec![0, 1]),
            _ => Augmentation::Full,
        }
    }

    /// The group elements h of the equivariance test (the claimed group's images for H1).
    pub(super) fn probe_elements(&self) -> Vec<usize> {
        match self.breach {
            Breach::Assignment(phi) => phi.to_vec(),
            _ => (0..self.group.order()).collect(),
        }
    }

    /// One line: group, input, layers, Ω, samples, steps, seed.
    pub fn summary(&self) -> String {
        let layers = self
            .network()
            .map(|(_, w)| w)
            .unwrap_or_else(|e| format!("<{e}>"));
        format!(
            "{:?} on 1×{}×{}, {layers}, Ω = {}, {} sample(s), {} step(s), seed {}",
            self.group, self.side, self.side, self.support, self.samples, self.steps, self.seed
        )
    }

    /// What is broken, in words.
    pub fn breach_words(&self) -> String {
        let n = self.group.order();
        match self.breach {
            Breach::None => "nothing (H1–H7 kept)".into(),
            Breach::Assignment(phi) => {
                let d4 = Group::dihedral(4);
                let names: Vec<&str> = phi.iter().map(|&j| d4.element_name(j)).collect();
                format!(
                    "C4 claimed, r^k ↦ ({}) in D4 for k = 0..3: orthogonal, ρ'(e) = I, but not \
                     a homomorphism (Rep::from_permutations rejects it)",
                    names.join(", ")
                )
            }
            Breach::Layer(BrokenLayer::PositionBias) => {
                "a position-dependent bias after the first convolution".into()
            }
            Breach::Layer(BrokenLayer::OddPooling) => format!(
                "2×2 average pooling on the odd {0}×{0} grid (its last row and column dropped)",
                self.side
            ),
            Breach::Layer(BrokenLayer::AsymmetricPadding) => {
                "the first convolution padded 0 above/left, 2 below/right".into()
            }
            Breach::UntransformedTargets => {
                "target images not transformed by ρ_Y(g) under augmentation".into()
            }
            Breach::NonInvariantSupport => {
                "Ω is not a union of orbits; symmetric initialisation (A_0 ∈ 𝓛_0)".into()
            }
            Breach::CompatibleNotInvariant => "every filter in T𝓛 = H_G ⊕ span(a) ⊕ span(v) \
                 (S5(v): Π_𝓛Π_G = Π_GΠ_𝓛, not invariant); symmetric initialisation"
                .into(),
            Breach::NonOrthonormalBasis => "a random normalised, non-orthonormal basis on Ω".into(),
            Breach::InitCopies(c) => format!(
                "initial law on the orbit not uniform: A_0 taken {c} times, each other \
                 ρ(g)A_0 once"
            ),
            Breach::Augmentation(NonHaar::IdentityWeight(w)) => format!(
                "augmentation weight {w} on e, {} on each other element",
                short((1.0 - w) / (n - 1) as f64)
            ),
            Breach::Augmentation(NonHaar::IdentityAndR) => {
                "augmentation uniform on {e, r}, not a subgroup".into()
            }
        }
    }
}

/// A weight with at most four decimals (deterministic text).
fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
