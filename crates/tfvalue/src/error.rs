use crate::path::{AttributePath, PathStep};
use std::fmt;

/// An error decoding, encoding or converting a value, with the place inside
/// the value where it happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render(.path, .kind))]
pub struct ValueError {
    path: AttributePath,
    kind: ValueErrorKind,
}

/// What went wrong, independent of where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueErrorKind {
    #[error("malformed msgpack: {0}")]
    Msgpack(String),
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("invalid type description: {0}")]
    InvalidType(String),
    #[error("expected {expected}, found {found}")]
    TypeMismatch { expected: String, found: String },
    #[error("unsupported attribute {0:?}")]
    UnsupportedAttribute(String),
    #[error("a tuple of {expected} elements is required, found {found}")]
    TupleLength { expected: usize, found: usize },
    #[error("{0:?} is not a valid number")]
    InvalidNumber(String),
    #[error("{value} is out of range for {target}")]
    OutOfRange { value: String, target: &'static str },
    #[error("{value} is not a whole number, which {target} requires")]
    NotWholeNumber { value: String, target: &'static str },
    #[error("{0}")]
    NotRepresentable(String),
    /// A value Terraform will only know after apply was read into a Rust type
    /// that cannot hold "unknown" (anything but `Unknowable`).
    #[error("value is not yet known")]
    NotYetKnown,
    #[error("nesting is deeper than {0} levels")]
    TooDeep(usize),
    #[error("{0}")]
    Custom(String),
}

fn render(path: &AttributePath, kind: &ValueErrorKind) -> String {
    match (path.is_root(), kind) {
        (true, kind) => kind.to_string(),
        (false, ValueErrorKind::NotYetKnown) => format!("value at {path} is not yet known"),
        (false, kind) => format!("{path}: {kind}"),
    }
}

impl ValueError {
    pub fn new(kind: ValueErrorKind) -> Self {
        ValueError {
            path: AttributePath::root(),
            kind,
        }
    }

    pub fn at(path: AttributePath, kind: ValueErrorKind) -> Self {
        ValueError { path, kind }
    }

    /// Where in the value the error happened (empty for the value itself).
    pub fn path(&self) -> &AttributePath {
        &self.path
    }

    pub fn kind(&self) -> &ValueErrorKind {
        &self.kind
    }

    /// Errors are built innermost first; each enclosing level adds its own
    /// step in front as the error travels outwards.
    pub(crate) fn within(mut self, step: PathStep) -> Self {
        self.path.0.insert(0, step);
        self
    }

    pub(crate) fn msgpack(message: impl Into<String>) -> Self {
        Self::new(ValueErrorKind::Msgpack(message.into()))
    }

    pub(crate) fn json(message: impl Into<String>) -> Self {
        Self::new(ValueErrorKind::Json(message.into()))
    }

    pub(crate) fn invalid_type(message: impl Into<String>) -> Self {
        Self::new(ValueErrorKind::InvalidType(message.into()))
    }

    pub(crate) fn mismatch(expected: impl fmt::Display, found: impl fmt::Display) -> Self {
        Self::new(ValueErrorKind::TypeMismatch {
            expected: expected.to_string(),
            found: found.to_string(),
        })
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ValueErrorKind::Custom(msg.to_string()))
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ValueErrorKind::Custom(msg.to_string()))
    }
}
