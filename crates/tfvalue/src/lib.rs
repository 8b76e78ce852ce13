//! Terraform's values and types (the cty model) and the two encodings the
//! plugin protocol carries them in: msgpack (`DynamicValue.msgpack`) and
//! JSON (`DynamicValue.json`, raw state), plus serde conversion between
//! values and Rust types.
//!
//! Values don't carry types. Decoding and encoding take the schema type;
//! values of `Type::Dynamic` are sent with the type implied by the value
//! (see [`Value::implied_type`]).

mod de;
mod error;
mod json;
mod msgpack;
mod number;
mod path;
mod ser;
mod serde_impls;
mod types;
mod unknowable;
mod value;

pub use de::{from_value, null_as_default};
pub use error::{ValueError, ValueErrorKind};
pub use number::Number;
pub use path::{AttributePath, PathStep};
pub use ser::to_value;
pub use types::Type;
pub use unknowable::Unknowable;
pub use value::Value;

/// Deeper nesting than this in decoded input is refused rather than risking
/// the stack; real schemas are a handful of levels deep.
pub(crate) const MAX_DEPTH: usize = 128;

/// Newtype-struct names by which this crate's serializer and deserializer
/// recognise its own types, which serde's data model has no words for.
mod tokens {
    pub(crate) const UNKNOWABLE: &str = "$tfvalue::private::Unknowable";
    pub(crate) const NUMBER: &str = "$tfvalue::private::Number";
    pub(crate) const VALUE: &str = "$tfvalue::private::Value";
    pub(crate) const SET: &str = "$tfvalue::private::Set";
    pub(crate) const TUPLE: &str = "$tfvalue::private::Tuple";
    pub(crate) const OBJECT: &str = "$tfvalue::private::Object";
}

impl Value {
    /// Reads cty's msgpack encoding of a value of type `ty`.
    ///
    /// Every msgpack extension reads as unknown (cty writes only unknowns as
    /// extensions, refinements included). An object may lack attributes of
    /// its type (they read as null) but not have others. Never panics.
    pub fn from_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
        msgpack::decode(bytes, ty)
    }

    /// Writes cty's msgpack encoding of this value as type `ty`. Objects are
    /// written with every attribute of the type (absent ones as null).
    /// Lists, sets and tuples are interchangeable here, as are maps and
    /// objects: the type decides what is written.
    pub fn to_msgpack(&self, ty: &Type) -> Result<Vec<u8>, ValueError> {
        msgpack::encode(self, ty)
    }

    /// Reads cty's JSON encoding of a value of type `ty`. Numbers keep every
    /// digit; like cty, strings are accepted where numbers and bools are
    /// expected and vice versa. Attributes outside the type are an error.
    pub fn from_json(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
        json::decode(bytes, ty, json::UndefinedAttributes::Reject)
    }

    /// Like `from_json`, but drops object attributes the type doesn't have,
    /// as raw state written under an older schema may contain them.
    pub fn from_json_ignoring_undefined_attributes(
        bytes: &[u8],
        ty: &Type,
    ) -> Result<Value, ValueError> {
        json::decode(bytes, ty, json::UndefinedAttributes::Ignore)
    }

    /// Writes cty's JSON encoding of this value as type `ty`. JSON has no
    /// unknowns and no infinities: either, anywhere inside, is an error.
    pub fn to_json(&self, ty: &Type) -> Result<Vec<u8>, ValueError> {
        json::encode(self, ty)
    }
}
