//! cty's JSON encoding of values (as in `DynamicValue.json` and raw state),
//! read with a parser of our own so that numbers keep every digit.

use crate::error::{ValueError, ValueErrorKind};
use crate::path::PathStep;
use crate::types::Type;
use crate::value::Value;
use crate::MAX_DEPTH;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A parsed JSON document, numbers kept as their text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn kind_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// `text` as a JSON string literal.
pub(crate) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(control));
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

pub(crate) fn parse_document(bytes: &[u8]) -> Result<Json, ValueError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|error| ValueError::json(format!("not UTF-8: {error}")))?;
    let mut parser = Parser {
        text: text.as_bytes(),
        source: text,
        position: 0,
    };
    parser.skip_whitespace();
    let document = parser.value(0)?;
    parser.skip_whitespace();
    if parser.position != parser.text.len() {
        return Err(parser.error("unexpected characters after the document"));
    }
    Ok(document)
}

struct Parser<'a> {
    text: &'a [u8],
    source: &'a str,
    position: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ValueError {
        ValueError::json(format!("{message} at byte {}", self.position))
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), ValueError> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", char::from(byte))))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ValueError> {
        if depth > MAX_DEPTH {
            return Err(ValueError::new(ValueErrorKind::TooDeep(MAX_DEPTH)));
        }
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, ValueError> {
        if self.text[self.position..].starts_with(word.as_bytes()) {
            self.position += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected word"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.position;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.position += 1;
        }
        self.position - start
    }

    fn number(&mut self) -> Result<Json, ValueError> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek() {
            Some(b'0') => self.position += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("malformed number")),
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            if self.digits() == 0 {
                return Err(self.error("malformed number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.position += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("malformed number"));
            }
        }
        Ok(Json::Number(self.source[start..self.position].to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, ValueError> {
        let digits = self
            .source
            .get(self.position..self.position + 4)
            .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("malformed \\u escape"))?;
        self.position += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.error("malformed \\u escape"))
    }

    fn string(&mut self) -> Result<String, ValueError> {
        self.position += 1;
        let mut text = String::new();
        loop {
            let run_start = self.position;
            while matches!(self.peek(), Some(byte) if byte != b'"' && byte != b'\\' && byte >= 0x20)
            {
                self.position += 1;
            }
            // Runs end only at ASCII bytes, so they are whole UTF-8 sequences.
            text.push_str(&self.source[run_start..self.position]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.position += 1;
                    return Ok(text);
                }
                Some(b'\\') => {
                    self.position += 1;
                    let escape = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.position += 1;
                    match escape {
                        b'"' => text.push('"'),
                        b'\\' => text.push('\\'),
                        b'/' => text.push('/'),
                        b'b' => text.push('\u{8}'),
                        b'f' => text.push('\u{c}'),
                        b'n' => text.push('\n'),
                        b'r' => text.push('\r'),
                        b't' => text.push('\t'),
                        b'u' => text.push(self.unicode_escape()?),
                        _ => return Err(self.error("unknown escape")),
                    }
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }

    /// Like Go's encoding/json, a lone surrogate becomes U+FFFD rather than an error.
    fn unicode_escape(&mut self) -> Result<char, ValueError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.text[self.position..].starts_with(b"\\u") {
            let resume = self.position;
            self.position += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(combined).unwrap_or('\u{FFFD}'));
            }
            self.position = resume;
        }
        Ok(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }

    fn array(&mut self, depth: usize) -> Result<Json, ValueError> {
        self.position += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.position += 1;
            return Ok(Json::Array(elements));
        }
        loop {
            elements.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(Json::Array(elements));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ValueError> {
        self.position += 1;
        let mut entries = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(Json::Object(entries));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.expect(b':')?;
            entries.push((key, self.value(depth + 1)?));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(Json::Object(entries));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }
}

/// How strictly object attributes are checked when reading JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UndefinedAttributes {
    Reject,
    /// Raw state written under an older schema may have attributes the
    /// current schema dropped.
    Ignore,
}

pub(crate) fn decode(
    bytes: &[u8],
    ty: &Type,
    undefined: UndefinedAttributes,
) -> Result<Value, ValueError> {
    value_from_tree(&parse_document(bytes)?, ty, undefined)
}

fn value_from_tree(
    tree: &Json,
    ty: &Type,
    undefined: UndefinedAttributes,
) -> Result<Value, ValueError> {
    let mismatch = || ValueError::mismatch(ty, tree.kind_name());
    match (ty, tree) {
        (_, Json::Null) => Ok(Value::Null),
        (Type::Dynamic, Json::Object(entries)) => dynamic_from_tree(entries, undefined),
        (Type::Bool, Json::Bool(flag)) => Ok(Value::Bool(*flag)),
        (Type::Bool, Json::String(text)) => match text.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(ValueError::mismatch(ty, format!("string {}", quote(text)))),
        },
        (Type::Number, Json::Number(text) | Json::String(text)) => Ok(Value::Number(text.parse()?)),
        (Type::String, Json::String(text) | Json::Number(text)) => Ok(Value::String(text.clone())),
        (Type::String, Json::Bool(flag)) => Ok(Value::String(flag.to_string())),
        (Type::List(element_type), Json::Array(elements)) => Ok(Value::List(elements_from_tree(
            elements,
            element_type,
            undefined,
        )?)),
        (Type::Set(element_type), Json::Array(elements)) => Ok(Value::Set(elements_from_tree(
            elements,
            element_type,
            undefined,
        )?)),
        (Type::Tuple(element_types), Json::Array(elements)) => {
            if elements.len() != element_types.len() {
                return Err(ValueError::new(ValueErrorKind::TupleLength {
                    expected: element_types.len(),
                    found: elements.len(),
                }));
            }
            let values = elements
                .iter()
                .zip(element_types)
                .enumerate()
                .map(|(index, (element, element_type))| {
                    value_from_tree(element, element_type, undefined)
                        .map_err(|error| error.within(PathStep::Index(index as i64)))
                })
                .collect::<Result<_, _>>()?;
            Ok(Value::Tuple(values))
        }
        (Type::Map(element_type), Json::Object(entries)) => {
            let mut values = BTreeMap::new();
            for (key, entry) in entries {
                let value = value_from_tree(entry, element_type, undefined)
                    .map_err(|error| error.within(PathStep::Key(key.clone())))?;
                values.insert(key.clone(), value);
            }
            Ok(Value::Map(values))
        }
        (Type::Object(attribute_types), Json::Object(entries)) => {
            let mut values = BTreeMap::new();
            for (name, entry) in entries {
                let Some(attribute_type) = attribute_types.get(name) else {
                    if undefined == UndefinedAttributes::Ignore {
                        continue;
                    }
                    return Err(ValueError::new(ValueErrorKind::UnsupportedAttribute(
                        name.clone(),
                    )));
                };
                let value = value_from_tree(entry, attribute_type, undefined)
                    .map_err(|error| error.within(PathStep::Attribute(name.clone())))?;
                values.insert(name.clone(), value);
            }
            for name in attribute_types.keys() {
                values.entry(name.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(values))
        }
        _ => Err(mismatch()),
    }
}

fn elements_from_tree(
    elements: &[Json],
    element_type: &Type,
    undefined: UndefinedAttributes,
) -> Result<Vec<Value>, ValueError> {
    elements
        .iter()
        .enumerate()
        .map(|(index, element)| {
            value_from_tree(element, element_type, undefined)
                .map_err(|error| error.within(PathStep::Index(index as i64)))
        })
        .collect()
}

fn dynamic_from_tree(
    entries: &[(String, Json)],
    undefined: UndefinedAttributes,
) -> Result<Value, ValueError> {
    let mut ty = None;
    let mut value = None;
    for (key, entry) in entries {
        match key.as_str() {
            "type" => ty = Some(Type::from_json_tree(entry)?),
            "value" => value = Some(entry),
            other => {
                return Err(ValueError::json(format!(
                    "invalid key {other:?} in a dynamically-typed value; only \"type\" and \"value\" belong there"
                )))
            }
        }
    }
    let ty = ty.ok_or_else(|| ValueError::json("dynamically-typed value has no \"type\""))?;
    let value =
        value.ok_or_else(|| ValueError::json("dynamically-typed value has no \"value\""))?;
    value_from_tree(value, &ty, undefined)
}

pub(crate) fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = String::new();
    write_value(value, ty, &mut out)?;
    Ok(out.into_bytes())
}

fn write_value(value: &Value, ty: &Type, out: &mut String) -> Result<(), ValueError> {
    match (ty, value) {
        (_, Value::Unknown) => Err(ValueError::new(ValueErrorKind::NotRepresentable(
            "an unknown value cannot be written as JSON".to_owned(),
        ))),
        (_, Value::Null) => {
            out.push_str("null");
            Ok(())
        }
        (Type::Dynamic, value) => {
            let implied = value.implied_type();
            out.push_str("{\"value\":");
            write_value(value, &implied, out)?;
            out.push_str(",\"type\":");
            out.push_str(&String::from_utf8_lossy(&implied.to_json()));
            out.push('}');
            Ok(())
        }
        (Type::Bool, Value::Bool(flag)) => {
            out.push_str(if *flag { "true" } else { "false" });
            Ok(())
        }
        (Type::Number, Value::Number(number)) => {
            if number.is_infinite() {
                return Err(ValueError::new(ValueErrorKind::NotRepresentable(
                    "infinity cannot be written as JSON".to_owned(),
                )));
            }
            out.push_str(&number.to_exact_string());
            Ok(())
        }
        (Type::String, Value::String(text)) => {
            out.push_str(&quote(text));
            Ok(())
        }
        (Type::List(element_type) | Type::Set(element_type), _) => {
            let elements = value.elements_for(ty)?;
            out.push('[');
            for (index, element) in elements.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(element, element_type, out)
                    .map_err(|error| error.within(value.step_to(index, element)))?;
            }
            out.push(']');
            Ok(())
        }
        (Type::Tuple(element_types), _) => {
            let elements = value.elements_for(ty)?;
            if elements.len() != element_types.len() {
                return Err(ValueError::new(ValueErrorKind::TupleLength {
                    expected: element_types.len(),
                    found: elements.len(),
                }));
            }
            out.push('[');
            for (index, (element, element_type)) in elements.iter().zip(element_types).enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(element, element_type, out)
                    .map_err(|error| error.within(value.step_to(index, element)))?;
            }
            out.push(']');
            Ok(())
        }
        (Type::Map(element_type), _) => {
            let entries = value.entries_for(ty)?;
            out.push('{');
            for (position, (key, entry)) in entries.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&quote(key));
                out.push(':');
                write_value(entry, element_type, out)
                    .map_err(|error| error.within(PathStep::Key(key.clone())))?;
            }
            out.push('}');
            Ok(())
        }
        (Type::Object(attribute_types), _) => {
            let entries = value.entries_for(ty)?;
            out.push('{');
            for (position, (name, attribute_type)) in attribute_types.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&quote(name));
                out.push(':');
                let attribute = entries.get(name).unwrap_or(&Value::Null);
                write_value(attribute, attribute_type, out)
                    .map_err(|error| error.within(PathStep::Attribute(name.clone())))?;
            }
            out.push('}');
            Ok(())
        }
        (ty, value) => Err(ValueError::mismatch(ty, value.kind_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_json_form() {
        let tree = parse_document(
            br#" {"a": [1, -2.5e+3, 0], "b": "x\n\u00e9\ud83d\ude00\/", "c": true, "d": false, "e": null, "f": {}} "#,
        )
        .unwrap();
        assert_eq!(
            tree,
            Json::Object(vec![
                (
                    "a".into(),
                    Json::Array(vec![
                        Json::Number("1".into()),
                        Json::Number("-2.5e+3".into()),
                        Json::Number("0".into())
                    ])
                ),
                ("b".into(), Json::String("x\né😀/".into())),
                ("c".into(), Json::Bool(true)),
                ("d".into(), Json::Bool(false)),
                ("e".into(), Json::Null),
                ("f".into(), Json::Object(vec![])),
            ])
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            parse_document(br#""\ud800x\udc00""#).unwrap(),
            Json::String("\u{FFFD}x\u{FFFD}".into())
        );
    }

    #[test]
    fn rejects_malformed_json() {
        for text in [
            &b""[..],
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"[1,]",
            b"{\"a\" 1}",
            b"{a:1}",
            b"\"abc",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"a\x01\"",
            b"tru",
            b"nul",
            b"[1] 2",
            b"\xff",
            b"NaN",
        ] {
            assert!(
                parse_document(text).is_err(),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn quote_escapes_what_json_requires() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\u0001é""#);
    }
}
