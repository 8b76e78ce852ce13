//! Reading Rust types out of `Value`s with serde.

use crate::error::{ValueError, ValueErrorKind};
use crate::number::{Number, NumberKind};
use crate::path::PathStep;
use crate::value::Value;
use crate::{msgpack, tokens, types::Type};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, Deserialize, DeserializeOwned, DeserializeSeed, Visitor};
use std::collections::btree_map;

/// Reads a `T` out of a value: objects into structs (serde renames apply;
/// attributes missing from the value read as null), maps into maps, lists,
/// sets and tuples into sequences, null into `None`, numbers into integer
/// and float types (range-checked), strings into `String`s.
///
/// An unknown value is an error (`value at <path> is not yet known`) except
/// where `T` has a [`crate::Unknowable`] to receive it.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer(value))
}

/// For `#[serde(deserialize_with = "tfvalue::null_as_default")]`: reads
/// null as `T::default()`. Terraform objects always carry every attribute,
/// null when unset, so `#[serde(default)]` (which only covers absent
/// fields) never applies to them.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: de::Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[derive(Clone, Copy)]
pub(crate) struct ValueDeserializer<'de>(pub(crate) &'de Value);

static NULL: Value = Value::Null;

fn describe(value: &Value) -> String {
    match value {
        Value::Number(number) => format!("number {number}"),
        Value::String(text) if text.chars().count() > 40 => {
            let start: String = text.chars().take(40).collect();
            format!("string {}...", crate::json::quote(&start))
        }
        Value::String(text) => format!("string {}", crate::json::quote(text)),
        other => other.kind_name().to_owned(),
    }
}

fn whole<T: TryFrom<i128>>(number: &Number, target: &'static str) -> Result<T, ValueError> {
    if !number.is_whole() {
        return Err(ValueError::new(ValueErrorKind::NotWholeNumber {
            value: number.to_string(),
            target,
        }));
    }
    number
        .as_i128()
        .and_then(|whole| T::try_from(whole).ok())
        .ok_or_else(|| {
            ValueError::new(ValueErrorKind::OutOfRange {
                value: number.to_string(),
                target,
            })
        })
}

impl<'de> ValueDeserializer<'de> {
    fn known(self) -> Result<&'de Value, ValueError> {
        match self.0 {
            Value::Unknown => Err(ValueError::new(ValueErrorKind::NotYetKnown)),
            value => Ok(value),
        }
    }

    fn number(self, target: &'static str) -> Result<&'de Number, ValueError> {
        match self.known()? {
            Value::Number(number) => Ok(number),
            other => Err(ValueError::mismatch(target, describe(other))),
        }
    }

    fn float(self, target: &'static str, largest: f64) -> Result<f64, ValueError> {
        let number = self.number(target)?;
        let float = number.as_f64();
        if float.is_infinite() == number.is_infinite()
            && !(float.is_finite() && float.abs() > largest)
        {
            Ok(float)
        } else {
            Err(ValueError::new(ValueErrorKind::OutOfRange {
                value: number.to_string(),
                target,
            }))
        }
    }

    fn visit_elements<V: Visitor<'de>>(
        self,
        visitor: V,
        expected: &str,
    ) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => visitor
                .visit_seq(Elements {
                    collection: self.0,
                    elements: elements.iter(),
                    index: 0,
                }),
            other => Err(ValueError::mismatch(expected, describe(other))),
        }
    }

    fn visit_entries<V: Visitor<'de>>(
        self,
        visitor: V,
        fields: &'static [&'static str],
        expected: &str,
    ) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::Map(entries) | Value::Object(entries) => visitor.visit_map(Entries {
                collection: self.0,
                all: entries,
                entries: entries.iter(),
                absent_fields: fields.iter(),
                pending: None,
            }),
            other => Err(ValueError::mismatch(expected, describe(other))),
        }
    }
}

macro_rules! deserialize_whole {
    ($($method:ident => $visit:ident($integer:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            let target = stringify!($integer);
            visitor.$visit(whole::<$integer>(self.number(target)?, target)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::Null => visitor.visit_unit(),
            Value::Bool(flag) => visitor.visit_bool(*flag),
            Value::Number(number) => match number.kind() {
                NumberKind::Int(whole) => visitor.visit_i64(whole),
                NumberKind::Float(float) => visitor.visit_f64(float),
                NumberKind::Decimal => match number.as_u64() {
                    Some(whole) => visitor.visit_u64(whole),
                    None => visitor.visit_f64(number.as_f64()),
                },
            },
            Value::String(text) => visitor.visit_borrowed_str(text),
            Value::List(_) | Value::Set(_) | Value::Tuple(_) => {
                self.visit_elements(visitor, "a list")
            }
            Value::Map(_) | Value::Object(_) => self.visit_entries(visitor, &[], "a map"),
            Value::Unknown => Err(ValueError::new(ValueErrorKind::NotYetKnown)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::Bool(flag) => visitor.visit_bool(*flag),
            other => Err(ValueError::mismatch("bool", describe(other))),
        }
    }

    deserialize_whole! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f32(self.float("f32", f64::from(f32::MAX))? as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f64(self.float("f64", f64::MAX)?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::String(text) if text.chars().count() == 1 => {
                visitor.visit_char(text.chars().next().unwrap_or_default())
            }
            other => Err(ValueError::mismatch("a single character", describe(other))),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::String(text) => visitor.visit_borrowed_str(text),
            other => Err(ValueError::mismatch("string", describe(other))),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::String(text) => visitor.visit_borrowed_bytes(text.as_bytes()),
            _ => self.visit_elements(visitor, "bytes"),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_bytes(visitor)
    }

    /// Null is `None`. Unknown is `Some`, so that `Option<Unknowable<T>>`
    /// sees it, and a plain `Option<T>` reports it rather than hiding it.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::Null => visitor.visit_unit(),
            other => Err(ValueError::mismatch("null", describe(other))),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match name {
            tokens::UNKNOWABLE if self.0.is_unknown() => visitor.visit_unit(),
            tokens::NUMBER => {
                let number = self.number("number")?;
                match number.kind() {
                    NumberKind::Int(whole) => visitor.visit_i64(whole),
                    NumberKind::Float(float) => visitor.visit_f64(float),
                    NumberKind::Decimal => visitor.visit_string(number.to_exact_string()),
                }
            }
            tokens::VALUE => visitor.visit_byte_buf(msgpack::encode(self.0, &Type::Dynamic)?),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.visit_elements(visitor, "a list")
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.visit_elements(visitor, "a tuple")
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.visit_elements(visitor, "a tuple")
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.visit_entries(visitor, &[], "a map")
    }

    /// Fields the object lacks are offered as null, as Terraform objects
    /// always have every attribute.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.visit_entries(visitor, fields, "an object")
    }

    /// Unit variants read from strings; other variants from an object with
    /// the variant's name as its single attribute.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.known()? {
            Value::String(text) => visitor.visit_enum(BorrowedStrDeserializer::new(text)),
            Value::Object(entries) | Value::Map(entries) if entries.len() == 1 => {
                let (name, value) = entries
                    .iter()
                    .next()
                    .ok_or_else(|| ValueError::mismatch("an enum variant", "an empty object"))?;
                let step = match self.0 {
                    Value::Map(_) => PathStep::Key(name.clone()),
                    _ => PathStep::Attribute(name.clone()),
                };
                visitor.visit_enum(Variant { name, value, step })
            }
            other => Err(ValueError::mismatch(
                "an enum variant (a string, or an object with one attribute)",
                describe(other),
            )),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    /// Parts the target type doesn't want may be anything, unknown included.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }
}

struct Elements<'de> {
    collection: &'de Value,
    elements: std::slice::Iter<'de, Value>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        let Some(element) = self.elements.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer(element))
            .map(Some)
            .map_err(|error| error.within(self.collection.step_to(index, element)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.elements.len())
    }
}

struct Entries<'de> {
    collection: &'de Value,
    all: &'de std::collections::BTreeMap<String, Value>,
    entries: btree_map::Iter<'de, String, Value>,
    absent_fields: std::slice::Iter<'static, &'static str>,
    pending: Option<(&'de str, &'de Value)>,
}

impl<'de> Entries<'de> {
    fn next_entry(&mut self) -> Option<(&'de str, &'de Value)> {
        if let Some((name, value)) = self.entries.next() {
            return Some((name, value));
        }
        let all = self.all;
        self.absent_fields
            .by_ref()
            .find(|field| !all.contains_key(**field))
            .map(|field| (*field, &NULL))
    }
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        let Some((name, value)) = self.next_entry() else {
            return Ok(None);
        };
        self.pending = Some((name, value));
        seed.deserialize(KeyDeserializer(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let (name, value) = self.pending.take().ok_or_else(|| {
            ValueError::new(ValueErrorKind::Custom(
                "map value requested before its key".into(),
            ))
        })?;
        let step = match self.collection {
            Value::Map(_) => PathStep::Key(name.to_owned()),
            _ => PathStep::Attribute(name.to_owned()),
        };
        seed.deserialize(ValueDeserializer(value))
            .map_err(|error| error.within(step))
    }
}

/// Map keys are strings; integer and bool keys are parsed from them.
struct KeyDeserializer<'de>(&'de str);

macro_rules! deserialize_parsed_key {
    ($($method:ident => $visit:ident($parsed:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            let parsed: $parsed = self.0.parse().map_err(|_| {
                ValueError::mismatch(concat!("a map key holding ", stringify!($parsed)), format!("key {:?}", self.0))
            })?;
            visitor.$visit(parsed)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.0)
    }

    deserialize_parsed_key! {
        deserialize_bool => visit_bool(bool),
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.0))
    }

    serde::forward_to_deserialize_any! {
        f32 f64 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Variant<'de> {
    name: &'de str,
    value: &'de Value,
    step: PathStep,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = ValueError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), ValueError> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<ValueError>::new(self.name))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        de::Deserialize::deserialize(ValueDeserializer(self.value))
            .map_err(|error| error.within(self.step))
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, ValueError> {
        seed.deserialize(ValueDeserializer(self.value))
            .map_err(|error| error.within(self.step))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        ValueDeserializer(self.value)
            .visit_elements(visitor, "a tuple")
            .map_err(|error| error.within(self.step))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        ValueDeserializer(self.value)
            .visit_entries(visitor, fields, "an object")
            .map_err(|error| error.within(self.step))
    }
}
