//! `Number` and `Value` as serde types, so structs can hold them as fields.
//! With this crate's (de)serializer they pass through exactly; with other
//! formats they map to the format's natural forms.

use crate::number::{Number, NumberKind};
use crate::tokens;
use crate::types::Type;
use crate::value::Value;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.kind() {
            NumberKind::Int(whole) => serializer.serialize_i64(whole),
            NumberKind::Float(float) => serializer.serialize_f64(float),
            NumberKind::Decimal => {
                serializer.serialize_newtype_struct(tokens::NUMBER, &self.to_exact_string())
            }
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(tokens::NUMBER, NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, whole: i64) -> Result<Number, E> {
        Ok(Number::from(whole))
    }

    fn visit_u64<E: de::Error>(self, whole: u64) -> Result<Number, E> {
        Ok(Number::from(whole))
    }

    fn visit_i128<E: de::Error>(self, whole: i128) -> Result<Number, E> {
        Ok(Number::from(whole))
    }

    fn visit_f64<E: de::Error>(self, float: f64) -> Result<Number, E> {
        Number::from_f64(float).ok_or_else(|| E::custom("NaN is not a number Terraform can hold"))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Number, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Number, D::Error> {
        deserializer.deserialize_any(self)
    }
}

struct ElementsOf<'a>(&'a [Value]);

impl Serialize for ElementsOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0)
    }
}

struct EntriesOf<'a>(&'a BTreeMap<String, Value>);

impl Serialize for EntriesOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_none(),
            Value::Unknown => serializer.serialize_unit_struct(tokens::UNKNOWABLE),
            Value::Bool(flag) => serializer.serialize_bool(*flag),
            Value::Number(number) => number.serialize(serializer),
            Value::String(text) => serializer.serialize_str(text),
            Value::List(elements) => serializer.collect_seq(elements),
            Value::Set(elements) => {
                serializer.serialize_newtype_struct(tokens::SET, &ElementsOf(elements))
            }
            Value::Tuple(elements) => {
                serializer.serialize_newtype_struct(tokens::TUPLE, &ElementsOf(elements))
            }
            Value::Map(entries) => serializer.collect_map(entries),
            Value::Object(entries) => {
                serializer.serialize_newtype_struct(tokens::OBJECT, &EntriesOf(entries))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(tokens::VALUE, ValueVisitor)
    }
}

/// This crate's deserializer hands a value over as its dynamic msgpack
/// encoding (serde can't pass a `&Value` through); other formats' data is
/// read in their natural shape, with objects as objects and arrays as lists.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_byte_buf<E: de::Error>(self, encoded: Vec<u8>) -> Result<Value, E> {
        crate::msgpack::decode(&encoded, &Type::Dynamic).map_err(E::custom)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        deserializer.deserialize_any(NaturalValueVisitor)
    }
}

struct NaturalValueVisitor;

impl<'de> Visitor<'de> for NaturalValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, whole: i64) -> Result<Value, E> {
        Ok(Value::from(whole))
    }

    fn visit_u64<E: de::Error>(self, whole: u64) -> Result<Value, E> {
        Ok(Value::from(whole))
    }

    fn visit_f64<E: de::Error>(self, float: f64) -> Result<Value, E> {
        NumberVisitor.visit_f64(float).map(Value::Number)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = access.next_element_seed(NaturalSeed)? {
            elements.push(element);
        }
        Ok(Value::List(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = access.next_key::<String>()? {
            entries.insert(key, access.next_value_seed(NaturalSeed)?);
        }
        Ok(Value::Object(entries))
    }
}

struct NaturalSeed;

impl<'de> de::DeserializeSeed<'de> for NaturalSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(NaturalValueVisitor)
    }
}
