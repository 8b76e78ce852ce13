//! cty's msgpack encoding of values, the one `DynamicValue.msgpack` carries.

use crate::error::{ValueError, ValueErrorKind};
use crate::number::{Number, NumberKind};
use crate::path::PathStep;
use crate::types::Type;
use crate::value::Value;
use crate::MAX_DEPTH;
use std::collections::BTreeMap;

/// What cty writes for a wholly unknown value: fixext1, extension type 0, payload 0.
const UNKNOWN: [u8; 3] = [0xd4, 0, 0];
const NIL: u8 = 0xc0;

pub(crate) fn decode(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let mut reader = Reader { bytes, position: 0 };
    let value = reader.value(ty, 0)?;
    if reader.position != bytes.len() {
        return Err(ValueError::msgpack(format!(
            "{} unexpected bytes after the value",
            bytes.len() - reader.position
        )));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

fn is_extension(marker: u8) -> bool {
    matches!(marker, 0xc7..=0xc9 | 0xd4..=0xd8)
}

fn marker_kind(marker: u8) -> &'static str {
    match marker {
        0x00..=0x7f | 0xcc..=0xd3 | 0xe0..=0xff => "integer",
        0x80..=0x8f | 0xde | 0xdf => "map",
        0x90..=0x9f | 0xdc | 0xdd => "array",
        0xa0..=0xbf | 0xd9..=0xdb => "string",
        NIL => "nil",
        0xc1 => "the never-used byte 0xc1",
        0xc2 | 0xc3 => "bool",
        0xc4..=0xc6 => "binary",
        0xca | 0xcb => "float",
        0xc7..=0xc9 | 0xd4..=0xd8 => "extension",
    }
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], ValueError> {
        if count > self.remaining() {
            return Err(ValueError::msgpack(format!(
                "input ends {} bytes short",
                count - self.remaining()
            )));
        }
        let taken = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ValueError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, ValueError> {
        Ok(self.array::<1>()?[0])
    }

    fn peek(&self) -> Result<u8, ValueError> {
        self.bytes
            .get(self.position)
            .copied()
            .ok_or_else(|| ValueError::msgpack("input ends where a value should start"))
    }

    fn length(&mut self, width: usize) -> Result<usize, ValueError> {
        let length = match width {
            1 => u32::from(self.byte()?),
            2 => u32::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?),
        };
        usize::try_from(length)
            .map_err(|_| ValueError::msgpack("length beyond this machine's memory"))
    }

    fn skip_extension(&mut self) -> Result<(), ValueError> {
        let payload = match self.byte()? {
            0xd4 => 1,
            0xd5 => 2,
            0xd6 => 4,
            0xd7 => 8,
            0xd8 => 16,
            0xc7 => self.length(1)?,
            0xc8 => self.length(2)?,
            _ => self.length(4)?,
        };
        self.take(1 + payload)?;
        Ok(())
    }

    fn array_length(&mut self, ty: &Type) -> Result<usize, ValueError> {
        match self.byte()? {
            marker @ 0x90..=0x9f => Ok(usize::from(marker & 0x0f)),
            0xdc => self.length(2),
            0xdd => self.length(4),
            other => Err(ValueError::mismatch(ty, marker_kind(other))),
        }
    }

    fn map_length(&mut self, ty: &Type) -> Result<usize, ValueError> {
        match self.byte()? {
            marker @ 0x80..=0x8f => Ok(usize::from(marker & 0x0f)),
            0xde => self.length(2),
            0xdf => self.length(4),
            other => Err(ValueError::mismatch(ty, marker_kind(other))),
        }
    }

    /// A str or bin payload: cty's decoder takes either wherever it wants text.
    fn raw_text(&mut self, ty: &Type) -> Result<&'a [u8], ValueError> {
        let length = match self.byte()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 | 0xc4 => self.length(1)?,
            0xda | 0xc5 => self.length(2)?,
            0xdb | 0xc6 => self.length(4)?,
            other => return Err(ValueError::mismatch(ty, marker_kind(other))),
        };
        self.take(length)
    }

    fn text(&mut self, ty: &Type) -> Result<&'a str, ValueError> {
        std::str::from_utf8(self.raw_text(ty)?)
            .map_err(|error| ValueError::msgpack(format!("string is not UTF-8: {error}")))
    }

    fn number(&mut self) -> Result<Number, ValueError> {
        let marker = self.peek()?;
        if matches!(marker, 0xa0..=0xbf | 0xd9..=0xdb | 0xc4..=0xc6) {
            // Numbers neither an int nor a float64 holds exactly come as decimal text.
            return self.text(&Type::Number)?.parse();
        }
        self.position += 1;
        let not_a_number = || ValueError::new(ValueErrorKind::InvalidNumber("NaN".to_owned()));
        Ok(match marker {
            0x00..=0x7f => Number::from(marker),
            0xe0..=0xff => Number::from(marker as i8),
            0xcc => Number::from(self.byte()?),
            0xcd => Number::from(u16::from_be_bytes(self.array()?)),
            0xce => Number::from(u32::from_be_bytes(self.array()?)),
            0xcf => Number::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Number::from(self.byte()? as i8),
            0xd1 => Number::from(i16::from_be_bytes(self.array()?)),
            0xd2 => Number::from(i32::from_be_bytes(self.array()?)),
            0xd3 => Number::from(i64::from_be_bytes(self.array()?)),
            0xca => {
                let float = f32::from_be_bytes(self.array()?);
                Number::from_f64(f64::from(float)).ok_or_else(not_a_number)?
            }
            0xcb => Number::from_f64(f64::from_be_bytes(self.array()?)).ok_or_else(not_a_number)?,
            other => return Err(ValueError::mismatch(Type::Number, marker_kind(other))),
        })
    }

    fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, ValueError> {
        if depth > MAX_DEPTH {
            return Err(ValueError::new(ValueErrorKind::TooDeep(MAX_DEPTH)));
        }
        let marker = self.peek()?;
        if is_extension(marker) {
            // cty has no extensions but unknowns: refined unknowns (type 12)
            // carry hints we don't need, so every extension reads as unknown.
            self.skip_extension()?;
            return Ok(Value::Unknown);
        }
        if marker == NIL {
            self.position += 1;
            return Ok(Value::Null);
        }
        match ty {
            Type::Dynamic => {
                if self.array_length(ty)? != 2 {
                    return Err(ValueError::msgpack(
                        "a dynamically-typed value must be a [type, value] pair",
                    ));
                }
                let actual = Type::from_json(self.raw_text(&Type::String)?)?;
                self.value(&actual, depth + 1)
            }
            Type::Bool => match self.byte()? {
                0xc2 => Ok(Value::Bool(false)),
                0xc3 => Ok(Value::Bool(true)),
                other => Err(ValueError::mismatch(ty, marker_kind(other))),
            },
            Type::Number => Ok(Value::Number(self.number()?)),
            Type::String => Ok(Value::String(self.text(ty)?.to_owned())),
            Type::List(element_type) => Ok(Value::List(self.elements(ty, element_type, depth)?)),
            Type::Set(element_type) => Ok(Value::Set(self.elements(ty, element_type, depth)?)),
            Type::Tuple(element_types) => {
                let length = self.array_length(ty)?;
                if length != element_types.len() {
                    return Err(ValueError::new(ValueErrorKind::TupleLength {
                        expected: element_types.len(),
                        found: length,
                    }));
                }
                let mut elements = Vec::with_capacity(length);
                for (index, element_type) in element_types.iter().enumerate() {
                    let element = self
                        .value(element_type, depth + 1)
                        .map_err(|error| error.within(PathStep::Index(index as i64)))?;
                    elements.push(element);
                }
                Ok(Value::Tuple(elements))
            }
            Type::Map(element_type) => {
                let length = self.map_length(ty)?;
                let mut entries = BTreeMap::new();
                for _ in 0..length {
                    let key = self.text(&Type::String)?;
                    let entry = self
                        .value(element_type, depth + 1)
                        .map_err(|error| error.within(PathStep::Key(key.to_owned())))?;
                    entries.insert(key.to_owned(), entry);
                }
                Ok(Value::Map(entries))
            }
            Type::Object(attribute_types) => {
                let length = self.map_length(ty)?;
                let mut attributes = BTreeMap::new();
                for _ in 0..length {
                    let name = self.text(&Type::String)?;
                    let attribute_type = attribute_types.get(name).ok_or_else(|| {
                        ValueError::new(ValueErrorKind::UnsupportedAttribute(name.to_owned()))
                    })?;
                    let attribute = self
                        .value(attribute_type, depth + 1)
                        .map_err(|error| error.within(PathStep::Attribute(name.to_owned())))?;
                    attributes.insert(name.to_owned(), attribute);
                }
                for name in attribute_types.keys() {
                    attributes.entry(name.clone()).or_insert(Value::Null);
                }
                Ok(Value::Object(attributes))
            }
        }
    }

    fn elements(
        &mut self,
        ty: &Type,
        element_type: &Type,
        depth: usize,
    ) -> Result<Vec<Value>, ValueError> {
        let length = self.array_length(ty)?;
        // A forged length must not reserve memory the input can't fill: every element is at least a byte.
        let mut elements = Vec::with_capacity(length.min(self.remaining()));
        for index in 0..length {
            let element = self
                .value(element_type, depth + 1)
                .map_err(|error| error.within(PathStep::Index(index as i64)))?;
            elements.push(element);
        }
        Ok(elements)
    }
}

pub(crate) fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    write_value(value, ty, &mut out)?;
    Ok(out)
}

fn length_u32(length: usize) -> Result<u32, ValueError> {
    u32::try_from(length).map_err(|_| {
        ValueError::new(ValueErrorKind::NotRepresentable(format!(
            "{length} is more than msgpack's 2^32-1 elements or bytes"
        )))
    })
}

fn write_value(value: &Value, ty: &Type, out: &mut Vec<u8>) -> Result<(), ValueError> {
    // Writing into a Vec can't fail once lengths fit in u32, which length_u32 checks first.
    match (ty, value) {
        (_, Value::Unknown) => out.extend_from_slice(&UNKNOWN),
        (_, Value::Null) => out.push(NIL),
        (Type::Dynamic, value) => {
            let implied = value.implied_type();
            let _ = rmp::encode::write_array_len(out, 2);
            let type_json = implied.to_json();
            length_u32(type_json.len())?;
            let _ = rmp::encode::write_bin(out, &type_json);
            write_value(value, &implied, out)?;
        }
        (Type::Bool, Value::Bool(flag)) => {
            let _ = rmp::encode::write_bool(out, *flag);
        }
        (Type::Number, Value::Number(number)) => match number.kind() {
            NumberKind::Int(whole) => {
                let _ = rmp::encode::write_sint(out, whole);
            }
            // Like cty, whole numbers beyond i64 go as text even when a float64 holds them.
            NumberKind::Float(float) if !number.is_whole() => {
                let _ = rmp::encode::write_f64(out, float);
            }
            NumberKind::Float(_) | NumberKind::Decimal => {
                let _ = rmp::encode::write_str(out, &number.to_exact_string());
            }
        },
        (Type::String, Value::String(text)) => {
            length_u32(text.len())?;
            let _ = rmp::encode::write_str(out, text);
        }
        (Type::List(element_type) | Type::Set(element_type), _) => {
            let elements = value.elements_for(ty)?;
            let _ = rmp::encode::write_array_len(out, length_u32(elements.len())?);
            for (index, element) in elements.iter().enumerate() {
                write_value(element, element_type, out)
                    .map_err(|error| error.within(value.step_to(index, element)))?;
            }
        }
        (Type::Tuple(element_types), _) => {
            let elements = value.elements_for(ty)?;
            if elements.len() != element_types.len() {
                return Err(ValueError::new(ValueErrorKind::TupleLength {
                    expected: element_types.len(),
                    found: elements.len(),
                }));
            }
            let _ = rmp::encode::write_array_len(out, length_u32(elements.len())?);
            for (index, (element, element_type)) in elements.iter().zip(element_types).enumerate() {
                write_value(element, element_type, out)
                    .map_err(|error| error.within(value.step_to(index, element)))?;
            }
        }
        (Type::Map(element_type), _) => {
            let entries = value.entries_for(ty)?;
            let _ = rmp::encode::write_map_len(out, length_u32(entries.len())?);
            for (key, entry) in entries {
                length_u32(key.len())?;
                let _ = rmp::encode::write_str(out, key);
                write_value(entry, element_type, out)
                    .map_err(|error| error.within(PathStep::Key(key.clone())))?;
            }
        }
        (Type::Object(attribute_types), _) => {
            let entries = value.entries_for(ty)?;
            let _ = rmp::encode::write_map_len(out, length_u32(attribute_types.len())?);
            for (name, attribute_type) in attribute_types {
                let _ = rmp::encode::write_str(out, name);
                let attribute = entries.get(name).unwrap_or(&Value::Null);
                write_value(attribute, attribute_type, out)
                    .map_err(|error| error.within(PathStep::Attribute(name.clone())))?;
            }
        }
        (ty, value) => return Err(ValueError::mismatch(ty, value.kind_name())),
    }
    Ok(())
}
