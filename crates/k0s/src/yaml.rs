//! Parsing and canonical emission of YAML documents.
//!
//! k0s reads its config with go-yaml v2, a YAML 1.1 parser: there `yes`, `on` or `0755` are not
//! strings. The emitter here quotes every string that either YAML 1.1 (Go) or YAML 1.2 (our own
//! parser) would read as something else, and sorts mapping keys, so the same value always gives
//! the same text.

use serde_yaml_ng::{Mapping, Value};
use std::fmt::Write as _;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseFailure {
    Syntax(String),
    /// A `!tag` at the given key path; k0s's YAML-to-JSON step cannot carry tags.
    Tagged(String),
}

/// Parses one YAML document, resolving `<<` merge keys the way go-yaml does.
pub(crate) fn parse(text: &str) -> Result<Value, ParseFailure> {
    let mut value: Value =
        serde_yaml_ng::from_str(text).map_err(|error| ParseFailure::Syntax(error.to_string()))?;
    value
        .apply_merge()
        .map_err(|error| ParseFailure::Syntax(error.to_string()))?;
    if let Some(path) = find_tag(&value, &mut KeyPath::root()) {
        return Err(ParseFailure::Tagged(path));
    }
    Ok(value)
}

fn find_tag(value: &Value, path: &mut KeyPath) -> Option<String> {
    match value {
        Value::Tagged(_) => Some(path.to_string()),
        Value::Mapping(mapping) => mapping.iter().find_map(|(key, value)| {
            path.push_key(&scalar_text(key));
            let found = find_tag(value, path);
            path.pop();
            found
        }),
        Value::Sequence(items) => items.iter().enumerate().find_map(|(index, item)| {
            path.push_index(index);
            let found = find_tag(item, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// The canonical text of a document: block style, two-space indentation, keys sorted.
pub(crate) fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Mapping(mapping) if !mapping.is_empty() => emit_mapping(&mut out, mapping, 0),
        Value::Sequence(items) if !items.is_empty() => emit_sequence(&mut out, items, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

fn emit_mapping(out: &mut String, mapping: &Mapping, indent: usize) {
    let mut entries: Vec<(String, &Value)> = mapping
        .iter()
        .map(|(key, value)| (scalar_text(key), value))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in entries {
        pad(out, indent);
        out.push_str(&quote_key(&key));
        out.push(':');
        emit_nested(out, value, indent, indent + 2);
    }
}

fn emit_sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Mapping(mapping) if !mapping.is_empty() => {
                // The first entry shares the line with the dash.
                let mut nested = String::new();
                emit_mapping(&mut nested, mapping, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            Value::Sequence(inner) if !inner.is_empty() => {
                let mut nested = String::new();
                emit_sequence(&mut nested, inner, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            other => emit_nested(out, other, indent, indent + 2),
        }
    }
}

/// Emits what follows a `key:` or `-`: a scalar on the same line, or a block below.
fn emit_nested(out: &mut String, value: &Value, parent_indent: usize, child_indent: usize) {
    match value {
        Value::Mapping(mapping) if !mapping.is_empty() => {
            out.push('\n');
            emit_mapping(out, mapping, child_indent);
        }
        // Sequences under a key sit at the key's own indentation, as go-yaml v2 writes them.
        Value::Sequence(items) if !items.is_empty() => {
            out.push('\n');
            emit_sequence(out, items, parent_indent);
        }
        Value::String(text) if literal_block_fits(text) => {
            let trailing_newlines = text.len() - text.trim_end_matches('\n').len();
            out.push_str(match trailing_newlines {
                0 => " |-\n",
                1 => " |\n",
                _ => " |+\n",
            });
            let body = text.strip_suffix('\n').unwrap_or(text);
            for line in body.split('\n') {
                if !line.is_empty() {
                    pad(out, child_indent);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => quote_scalar(text),
        Value::Mapping(_) => "{}".to_owned(),
        Value::Sequence(_) => "[]".to_owned(),
        // `parse` refuses tags, and nothing here builds them.
        Value::Tagged(tagged) => quote_scalar(&tagged.tag.to_string()),
    }
}

/// A multi-line string reads best as a literal block, as long as its first line does not start
/// with a space (that would need an indentation indicator) and every character is printable.
fn literal_block_fits(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\n'])
        && text.chars().all(|c| {
            c == '\n' || (c != '\r' && c != '\t' && is_yaml_printable(c) && !is_yaml11_break(c))
        })
}

/// The text of a mapping key or other scalar used as a path component.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        other => emit(other).trim_end().to_owned(),
    }
}

fn quote_key(key: &str) -> String {
    quote_scalar(key)
}

/// A string scalar, plain when no YAML reader could take it for anything else, otherwise
/// double-quoted.
pub(crate) fn quote_scalar(text: &str) -> String {
    if plain_is_safe(text) {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

fn plain_is_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let syntax_ok = text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.ends_with(':')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.starts_with("---")
        && !text.starts_with("...")
        && (!"?:,[]{}#&*!|>'\"%@`".contains(first))
        && (first != '-' || text.len() > 1 && !text[1..].starts_with(' '));
    syntax_ok && !resolves_to_non_string_in_yaml11(text) && reads_back_as_itself(text)
}

fn reads_back_as_itself(text: &str) -> bool {
    matches!(serde_yaml_ng::from_str::<Value>(text), Ok(Value::String(read)) if read == text)
}

/// What go-yaml v2 resolves a plain scalar to something other than a string: the YAML 1.1
/// booleans and nulls, numbers in Go's syntax (after dropping `_`), and timestamps.
fn resolves_to_non_string_in_yaml11(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<", "=",
    ];
    if WORDS.contains(&text) {
        return true;
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let digits_in =
        |body: &str, radix: u32| !body.is_empty() && body.chars().all(|c| c.is_digit(radix));
    let is_int = digits_in(unsigned, 10)
        || unsigned
            .strip_prefix("0x")
            .or_else(|| unsigned.strip_prefix("0X"))
            .is_some_and(|b| digits_in(b, 16))
        || unsigned
            .strip_prefix("0o")
            .or_else(|| unsigned.strip_prefix("0O"))
            .is_some_and(|b| digits_in(b, 8))
        || unsigned
            .strip_prefix("0b")
            .or_else(|| unsigned.strip_prefix("0B"))
            .is_some_and(|b| digits_in(b, 2));
    is_int || is_go_yaml_float(unsigned) || looks_like_timestamp(text)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, go-yaml's float syntax without the sign.
fn is_go_yaml_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Go's timestamp layouts all start with `YYYY-M-D`.
fn looks_like_timestamp(text: &str) -> bool {
    let mut parts = text.splitn(3, '-');
    let (Some(year), Some(month), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let day: String = rest.chars().take_while(char::is_ascii_digit).collect();
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&month.len())
        && month.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

fn is_yaml_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && c != '\u{FEFF}'
}

/// Characters YAML 1.1 treats as line breaks although YAML 1.2 does not.
fn is_yaml11_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_yaml_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A dotted key path such as `spec.network.calico.mtu` or `spec.workerProfiles[0].name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath::default()
    }

    pub(crate) fn push_key(&mut self, key: &str) {
        self.steps.push(Step::Key(key.to_owned()));
    }

    pub(crate) fn push_index(&mut self, index: usize) {
        self.steps.push(Step::Index(index));
    }

    pub(crate) fn pop(&mut self) {
        self.steps.pop();
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("(top level)");
        }
        for (position, step) in self.steps.iter().enumerate() {
            match step {
                Step::Key(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> Value {
        parse(&emit(&Value::String(text.to_owned()))).unwrap()
    }

    #[test]
    fn strings_that_yaml_11_reads_otherwise_are_quoted() {
        for word in [
            "yes",
            "on",
            "OFF",
            "y",
            "~",
            "null",
            "0755",
            "1_000",
            "0x1F",
            "1e3",
            ".5",
            "2024-01-02",
            "<<",
            "12",
            "-1",
            "+.inf",
        ] {
            let text = emit(&Value::String(word.to_owned()));
            assert!(text.starts_with('"'), "{word} emitted as {text}");
            assert_eq!(round_trip(word), Value::String(word.to_owned()));
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for word in [
            "10.0.0.11",
            "10.244.0.0/16",
            "v1.29.3+k0s.0",
            "--node-ip=10.0.0.2",
            "k8s.example.com",
            "vxlan",
            "a=b:NoSchedule",
            "fd00::1",
        ] {
            assert_eq!(emit(&Value::String(word.to_owned())), format!("{word}\n"));
        }
    }

    #[test]
    fn awkward_strings_survive_a_round_trip() {
        for text in [
            "a: b",
            "# no",
            "x #y",
            "trailing ",
            " leading",
            "tab\there",
            "quote\"back\\",
            "é",
            "",
            "-",
            "- x",
            "bell\u{7}",
            "line\u{2028}sep",
            "nel\u{85}",
        ] {
            assert_eq!(round_trip(text), Value::String(text.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn multi_line_strings_become_literal_blocks() {
        let mut mapping = Mapping::new();
        mapping.insert("clip".into(), "a\n  b\n".into());
        mapping.insert("keep".into(), "a\n\n".into());
        mapping.insert("strip".into(), "a\n\nb".into());
        let value = Value::Mapping(mapping);
        let text = emit(&value);
        assert_eq!(
            text,
            "clip: |\n  a\n    b\nkeep: |+\n  a\n\nstrip: |-\n  a\n\n  b\n"
        );
        assert_eq!(parse(&text).unwrap(), value);
    }

    #[test]
    fn keys_are_sorted_and_nested_collections_indent_like_go_yaml() {
        let value =
            parse("z: 1\na:\n  list: [1, {k: v, b: [x]}, [2, 3]]\n  empty: {}\n  none: []\n")
                .unwrap();
        assert_eq!(
            emit(&value),
            "a:\n  empty: {}\n  list:\n  - 1\n  - b:\n    - x\n    k: v\n  - - 2\n    - 3\n  none: []\nz: 1\n"
        );
        assert_eq!(parse(&emit(&value)).unwrap(), value);
    }

    #[test]
    fn tags_are_refused_with_their_path() {
        assert_eq!(
            parse("a:\n  b: !custom x\n"),
            Err(ParseFailure::Tagged("a.b".into()))
        );
    }

    #[test]
    fn merge_keys_are_resolved() {
        let value = parse("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n").unwrap();
        assert_eq!(value["use"]["x"], Value::from(1));
    }
}
