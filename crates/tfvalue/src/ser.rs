//! Turning Rust types into `Value`s with serde.

use crate::error::{ValueError, ValueErrorKind};
use crate::number::Number;
use crate::path::PathStep;
use crate::tokens;
use crate::value::Value;
use serde::ser::{self, Serialize};
use std::collections::BTreeMap;

/// Turns a `T` into a value: structs into objects (serde renames apply),
/// maps into maps, sequences into lists, Rust tuples and arrays into tuples,
/// `None` into null, numbers into numbers, strings into strings, unit enum
/// variants into strings. [`crate::Unknowable::Unknown`] becomes unknown.
///
/// Encoding is by schema type, so a list here may be sent as a set, and a
/// map as an object.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer)
}

pub(crate) struct ValueSerializer;

fn not_representable(message: &str) -> ValueError {
    ValueError::new(ValueErrorKind::NotRepresentable(message.to_owned()))
}

fn float(float: f64) -> Result<Value, ValueError> {
    Number::from_f64(float)
        .map(Value::Number)
        .ok_or_else(|| not_representable("NaN is not a number Terraform can hold"))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = Elements;
    type SerializeTuple = Elements;
    type SerializeTupleStruct = Elements;
    type SerializeTupleVariant = VariantElements;
    type SerializeMap = Entries;
    type SerializeStruct = Attributes;
    type SerializeStructVariant = VariantAttributes;

    fn serialize_bool(self, flag: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(flag))
    }

    fn serialize_i8(self, whole: i8) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_i16(self, whole: i16) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_i32(self, whole: i32) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_i64(self, whole: i64) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_i128(self, whole: i128) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_u8(self, whole: u8) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_u16(self, whole: u16) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_u32(self, whole: u32) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_u64(self, whole: u64) -> Result<Value, ValueError> {
        Ok(Value::from(whole))
    }

    fn serialize_u128(self, whole: u128) -> Result<Value, ValueError> {
        Ok(Value::from(Number::from_u128(whole)))
    }

    fn serialize_f32(self, number: f32) -> Result<Value, ValueError> {
        float(f64::from(number))
    }

    fn serialize_f64(self, number: f64) -> Result<Value, ValueError> {
        float(number)
    }

    fn serialize_char(self, character: char) -> Result<Value, ValueError> {
        Ok(Value::String(character.to_string()))
    }

    fn serialize_str(self, text: &str) -> Result<Value, ValueError> {
        Ok(Value::String(text.to_owned()))
    }

    fn serialize_bytes(self, bytes: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::List(
            bytes.iter().map(|byte| Value::from(*byte)).collect(),
        ))
    }

    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<Value, ValueError> {
        Ok(if name == tokens::UNKNOWABLE {
            Value::Unknown
        } else {
            Value::Null
        })
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::String(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let inner = value.serialize(ValueSerializer)?;
        Ok(match (name, inner) {
            (tokens::NUMBER, Value::String(text)) => Value::Number(text.parse()?),
            (tokens::SET, Value::List(elements)) => Value::Set(elements),
            (tokens::TUPLE, Value::List(elements)) => Value::Tuple(elements),
            (tokens::OBJECT, Value::Map(entries)) => Value::Object(entries),
            (_, inner) => inner,
        })
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let inner = value
            .serialize(ValueSerializer)
            .map_err(|error| error.within(PathStep::Attribute(variant.to_owned())))?;
        Ok(Value::Object(BTreeMap::from([(variant.to_owned(), inner)])))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Elements, ValueError> {
        Ok(Elements::new(len.unwrap_or(0), Value::List))
    }

    fn serialize_tuple(self, len: usize) -> Result<Elements, ValueError> {
        Ok(Elements::new(len, Value::Tuple))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Elements, ValueError> {
        Ok(Elements::new(len, Value::Tuple))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantElements, ValueError> {
        Ok(VariantElements {
            variant,
            elements: Elements::new(len, Value::Tuple),
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Entries, ValueError> {
        Ok(Entries {
            entries: BTreeMap::new(),
            pending_key: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Attributes, ValueError> {
        Ok(Attributes(BTreeMap::new()))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantAttributes, ValueError> {
        Ok(VariantAttributes {
            variant,
            attributes: Attributes(BTreeMap::new()),
        })
    }
}

pub(crate) struct Elements {
    elements: Vec<Value>,
    finish: fn(Vec<Value>) -> Value,
}

impl Elements {
    fn new(capacity: usize, finish: fn(Vec<Value>) -> Value) -> Self {
        Elements {
            elements: Vec::with_capacity(capacity.min(4096)),
            finish,
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, element: &T) -> Result<(), ValueError> {
        let index = i64::try_from(self.elements.len()).unwrap_or(i64::MAX);
        let element = element
            .serialize(ValueSerializer)
            .map_err(|error| error.within(PathStep::Index(index)))?;
        self.elements.push(element);
        Ok(())
    }
}

impl ser::SerializeSeq for Elements {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, element: &T) -> Result<(), ValueError> {
        self.push(element)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok((self.finish)(self.elements))
    }
}

impl ser::SerializeTuple for Elements {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, element: &T) -> Result<(), ValueError> {
        self.push(element)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok((self.finish)(self.elements))
    }
}

impl ser::SerializeTupleStruct for Elements {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, element: &T) -> Result<(), ValueError> {
        self.push(element)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok((self.finish)(self.elements))
    }
}

pub(crate) struct VariantElements {
    variant: &'static str,
    elements: Elements,
}

impl ser::SerializeTupleVariant for VariantElements {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, element: &T) -> Result<(), ValueError> {
        self.elements
            .push(element)
            .map_err(|error| error.within(PathStep::Attribute(self.variant.to_owned())))
    }

    fn end(self) -> Result<Value, ValueError> {
        let inner = (self.elements.finish)(self.elements.elements);
        Ok(Value::Object(BTreeMap::from([(
            self.variant.to_owned(),
            inner,
        )])))
    }
}

pub(crate) struct Entries {
    entries: BTreeMap<String, Value>,
    pending_key: Option<String>,
}

impl ser::SerializeMap for Entries {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.pending_key = Some(match key.serialize(ValueSerializer)? {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            other => {
                return Err(ValueError::mismatch(
                    "a string, number or bool as map key",
                    other.kind_name(),
                ))
            }
        });
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self.pending_key.take().ok_or_else(|| {
            ValueError::new(ValueErrorKind::Custom(
                "map value given before its key".into(),
            ))
        })?;
        let value = value
            .serialize(ValueSerializer)
            .map_err(|error| error.within(PathStep::Key(key.clone())))?;
        self.entries.insert(key, value);
        Ok(())
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Map(self.entries))
    }
}

pub(crate) struct Attributes(BTreeMap<String, Value>);

impl Attributes {
    fn insert<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let value = value
            .serialize(ValueSerializer)
            .map_err(|error| error.within(PathStep::Attribute(name.to_owned())))?;
        self.0.insert(name.to_owned(), value);
        Ok(())
    }
}

impl ser::SerializeStruct for Attributes {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.insert(name, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(self.0))
    }
}

pub(crate) struct VariantAttributes {
    variant: &'static str,
    attributes: Attributes,
}

impl ser::SerializeStructVariant for VariantAttributes {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.attributes
            .insert(name, value)
            .map_err(|error| error.within(PathStep::Attribute(self.variant.to_owned())))
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(BTreeMap::from([(
            self.variant.to_owned(),
            Value::Object(self.attributes.0),
        )])))
    }
}
