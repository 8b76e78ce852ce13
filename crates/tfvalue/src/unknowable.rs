use crate::tokens;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A part of a plan Terraform may not know yet.
///
/// Reading an unknown value into any other Rust type is an error, so fields
/// that may be unknown during plan must be `Unknowable`. For nullable fields
/// use `Unknowable<Option<T>>`: unknown is `Unknown`, null is
/// `Known(None)`, anything else `Known(Some(..))`.
/// (`Option<Unknowable<T>>` works too, with null as `None`.)
///
/// Writing `Unknown` with [`crate::to_value`] produces an unknown value.
/// With other serde formats, `Known(v)` is written as `v` and `Unknown` as
/// a unit (`null` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unknowable<T> {
    Unknown,
    Known(T),
}

impl<T> Unknowable<T> {
    pub fn is_known(&self) -> bool {
        matches!(self, Unknowable::Known(_))
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Unknowable::Unknown)
    }

    /// The value if known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Unknowable::Known(value) => Some(value),
            Unknowable::Unknown => None,
        }
    }

    pub fn into_known(self) -> Option<T> {
        match self {
            Unknowable::Known(value) => Some(value),
            Unknowable::Unknown => None,
        }
    }

    pub fn as_ref(&self) -> Unknowable<&T> {
        match self {
            Unknowable::Known(value) => Unknowable::Known(value),
            Unknowable::Unknown => Unknowable::Unknown,
        }
    }

    pub fn map<U>(self, change: impl FnOnce(T) -> U) -> Unknowable<U> {
        match self {
            Unknowable::Known(value) => Unknowable::Known(change(value)),
            Unknowable::Unknown => Unknowable::Unknown,
        }
    }
}

impl<T> From<T> for Unknowable<T> {
    fn from(value: T) -> Self {
        Unknowable::Known(value)
    }
}

impl<T: Serialize> Serialize for Unknowable<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Unknowable::Unknown => serializer.serialize_unit_struct(tokens::UNKNOWABLE),
            Unknowable::Known(value) => {
                serializer.serialize_newtype_struct(tokens::UNKNOWABLE, value)
            }
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Unknowable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(tokens::UNKNOWABLE, UnknowableVisitor(PhantomData))
    }
}

struct UnknowableVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for UnknowableVisitor<T> {
    type Value = Unknowable<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, possibly not yet known")
    }

    /// Only this crate's deserializer visits a unit here, and only for unknowns.
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Unknowable::Unknown)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        T::deserialize(deserializer).map(Unknowable::Known)
    }
}
