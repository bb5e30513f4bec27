//! The crate's one error type: every bad input becomes a clear [`Error`], never a panic.

use std::fmt;

/// Everything that can go wrong in eqens, with a message that names the culprit.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A table or a set of generators that does not define a group (names the elements).
    NotAGroup(String),
    /// Matrices or permutations that are not an (orthogonal) representation (names g and h).
    NotARepresentation(String),
    /// Shapes that do not fit: a network description, a support, an input.
    Shape(String),
    /// A corrupt or truncated data file (with line and column where known).
    Data(String),
    /// A training run produced NaN or infinity.
    Diverged {
        /// Ensemble member index.
        member: usize,
        /// Step at which the non-finite value appeared.
        step: usize,
        /// What became non-finite (loss, parameters).
        what: String,
    },
    /// A bad argument or flag (shard spec, group name, sizes).
    Invalid(String),
    /// An I/O failure, with the path.
    Io(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAGroup(m) => write!(f, "not a group: {m}"),
            Error::NotARepresentation(m) => write!(f, "not a representation: {m}"),
            Error::Shape(m) => write!(f, "shape mismatch: {m}"),
            Error::Data(m) => write!(f, "bad data: {m}"),
            Error::Diverged { member, step, what } => {
                write!(f, "member {member} diverged at step {step}: {what} is not finite")
            }
            Error::Invalid(m) => write!(f, "invalid argument: {m}"),
            Error::Io(m) => write!(f, "i/o error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
