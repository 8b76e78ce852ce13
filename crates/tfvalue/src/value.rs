use crate::error::ValueError;
use crate::number::Number;
use crate::path::{AttributePath, PathStep};
use crate::types::Type;
use std::collections::BTreeMap;
use std::fmt;

/// A Terraform value. Values don't carry their type: encoding and decoding
/// take the type separately, as the plugin protocol does.
///
/// Equality compares sets as unordered collections.
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
}

static NULL: Value = Value::Null;

impl Value {
    /// The null value of `ty`. Values are untyped, so this is `Value::Null`
    /// whatever the type; it reads better where the type matters to the reader.
    pub fn null_of(_ty: &Type) -> Value {
        Value::Null
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value itself is unknown (parts of it may be unknown even when it isn't).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// Whether the value itself is known (parts of it may still be unknown; see `is_wholly_known`).
    pub fn is_known(&self) -> bool {
        !self.is_unknown()
    }

    /// Whether no part of the value, at any depth, is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => {
                elements.iter().all(Value::is_wholly_known)
            }
            Value::Map(entries) | Value::Object(entries) => {
                entries.values().all(Value::is_wholly_known)
            }
            _ => true,
        }
    }

    /// The attribute `name` of an object (or entry of a map); `Null` when the
    /// value has no such attribute or isn't an object, matching how Terraform
    /// treats absent optional attributes.
    pub fn get_attr(&self, name: &str) -> &Value {
        match self {
            Value::Object(entries) | Value::Map(entries) => entries.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(number) => Some(number),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The elements of a list, set or tuple.
    pub fn as_elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => Some(elements),
            _ => None,
        }
    }

    /// The entries of a map or the attributes of an object.
    pub fn as_entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(entries) | Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The part of this value at `path`, if there is one. Attribute and key
    /// steps both look into objects and maps; an element step finds the equal
    /// element of a set.
    pub fn at_path(&self, path: &AttributePath) -> Option<&Value> {
        path.0
            .iter()
            .try_fold(self, |value, step| match (step, value) {
                (
                    PathStep::Attribute(name) | PathStep::Key(name),
                    Value::Object(entries) | Value::Map(entries),
                ) => entries.get(name),
                (PathStep::Index(index), Value::List(elements) | Value::Tuple(elements)) => {
                    elements.get(usize::try_from(*index).ok()?)
                }
                (PathStep::Element(wanted), Value::Set(elements)) => {
                    elements.iter().find(|element| *element == wanted)
                }
                _ => None,
            })
    }

    /// Like `at_path`, for changing that part in place.
    pub fn at_path_mut(&mut self, path: &AttributePath) -> Option<&mut Value> {
        path.0
            .iter()
            .try_fold(self, |value, step| match (step, value) {
                (
                    PathStep::Attribute(name) | PathStep::Key(name),
                    Value::Object(entries) | Value::Map(entries),
                ) => entries.get_mut(name),
                (PathStep::Index(index), Value::List(elements) | Value::Tuple(elements)) => {
                    elements.get_mut(usize::try_from(*index).ok()?)
                }
                (PathStep::Element(wanted), Value::Set(elements)) => {
                    elements.iter_mut().find(|element| **element == *wanted)
                }
                _ => None,
            })
    }

    /// The most specific type that describes this value: what a dynamic
    /// value is sent as. Nulls and unknowns imply `Dynamic`; a collection's
    /// element type is the one its elements agree on, or `Dynamic` when they
    /// don't (each element then carries its own type on the wire).
    pub fn implied_type(&self) -> Type {
        Implied::of(self).into_type()
    }

    /// A short name of the value's kind, for messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown => "an unknown value",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
        }
    }

    /// The elements of a list, set or tuple value being encoded as `ty`.
    pub(crate) fn elements_for(&self, ty: &Type) -> Result<&[Value], ValueError> {
        self.as_elements()
            .ok_or_else(|| ValueError::mismatch(ty, self.kind_name()))
    }

    /// The entries of a map or object value being encoded as `ty`; for an
    /// object type, every entry must be one of its attributes.
    pub(crate) fn entries_for(&self, ty: &Type) -> Result<&BTreeMap<String, Value>, ValueError> {
        let entries = self
            .as_entries()
            .ok_or_else(|| ValueError::mismatch(ty, self.kind_name()))?;
        if let Type::Object(attributes) = ty {
            if let Some(extra) = entries.keys().find(|name| !attributes.contains_key(*name)) {
                return Err(ValueError::new(
                    crate::error::ValueErrorKind::UnsupportedAttribute(extra.clone()),
                ));
            }
        }
        Ok(entries)
    }

    /// The step that leads from a collection of this kind to its element.
    pub(crate) fn step_to(&self, index: usize, element: &Value) -> PathStep {
        match self {
            Value::Set(_) => PathStep::Element(element.clone()),
            _ => PathStep::Index(i64::try_from(index).unwrap_or(i64::MAX)),
        }
    }
}

/// A type being inferred from a value, where null and unknown parts are
/// still free to take any type their siblings agree on.
#[derive(PartialEq)]
enum Implied {
    /// Null or unknown: conforms to any type.
    Free,
    /// Elements of differing types: only `Dynamic` holds them all.
    Mixed,
    Bool,
    Number,
    String,
    List(Box<Implied>),
    Set(Box<Implied>),
    Map(Box<Implied>),
    Object(BTreeMap<String, Implied>),
    Tuple(Vec<Implied>),
}

impl Implied {
    fn of(value: &Value) -> Implied {
        match value {
            Value::Null | Value::Unknown => Implied::Free,
            Value::Bool(_) => Implied::Bool,
            Value::Number(_) => Implied::Number,
            Value::String(_) => Implied::String,
            Value::List(elements) => Implied::List(Box::new(Implied::common(elements))),
            Value::Set(elements) => Implied::Set(Box::new(Implied::common(elements))),
            Value::Map(entries) => Implied::Map(Box::new(Implied::common(entries.values()))),
            Value::Object(entries) => Implied::Object(
                entries
                    .iter()
                    .map(|(name, value)| (name.clone(), Implied::of(value)))
                    .collect(),
            ),
            Value::Tuple(elements) => Implied::Tuple(elements.iter().map(Implied::of).collect()),
        }
    }

    fn common<'a>(values: impl IntoIterator<Item = &'a Value>) -> Implied {
        values
            .into_iter()
            .map(Implied::of)
            .fold(Implied::Free, Implied::unify)
    }

    /// The type values of both `self` and `other` conform to.
    fn unify(self, other: Implied) -> Implied {
        use Implied::*;
        match (self, other) {
            (Free, other) | (other, Free) => other,
            (List(a), List(b)) => List(Box::new(a.unify(*b))),
            (Set(a), Set(b)) => Set(Box::new(a.unify(*b))),
            (Map(a), Map(b)) => Map(Box::new(a.unify(*b))),
            (Object(a), Object(b)) if a.len() == b.len() && a.keys().eq(b.keys()) => Object(
                a.into_iter()
                    .zip(b.into_values())
                    .map(|((name, a), b)| (name, a.unify(b)))
                    .collect(),
            ),
            (Tuple(a), Tuple(b)) if a.len() == b.len() => {
                Tuple(a.into_iter().zip(b).map(|(a, b)| a.unify(b)).collect())
            }
            (a, b) if a == b => a,
            _ => Mixed,
        }
    }

    fn into_type(self) -> Type {
        match self {
            Implied::Free | Implied::Mixed => Type::Dynamic,
            Implied::Bool => Type::Bool,
            Implied::Number => Type::Number,
            Implied::String => Type::String,
            Implied::List(element) => Type::list(element.into_type()),
            Implied::Set(element) => Type::set(element.into_type()),
            Implied::Map(element) => Type::map(element.into_type()),
            Implied::Object(attributes) => Type::Object(
                attributes
                    .into_iter()
                    .map(|(name, implied)| (name, implied.into_type()))
                    .collect(),
            ),
            Implied::Tuple(elements) => {
                Type::Tuple(elements.into_iter().map(Implied::into_type).collect())
            }
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) | (Value::Unknown, Value::Unknown) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => same_elements_in_any_order(a, b),
            _ => false,
        }
    }
}

fn same_elements_in_any_order(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut matched = vec![false; b.len()];
    a.iter().all(|wanted| {
        let found = b
            .iter()
            .enumerate()
            .position(|(at, candidate)| !matched[at] && candidate == wanted);
        found.map(|at| matched[at] = true).is_some()
    })
}

impl fmt::Display for Value {
    /// A compact, HCL-like rendering for messages: `{name = "a", ports = [1, 2]}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let write_list = |f: &mut fmt::Formatter<'_>, elements: &[Value]| {
            f.write_str("[")?;
            for (position, element) in elements.iter().enumerate() {
                if position > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{element}")?;
            }
            f.write_str("]")
        };
        match self {
            Value::Null => f.write_str("null"),
            Value::Unknown => f.write_str("(known after apply)"),
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Number(number) => write!(f, "{number}"),
            Value::String(text) => f.write_str(&crate::json::quote(text)),
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => {
                write_list(f, elements)
            }
            Value::Map(entries) | Value::Object(entries) => {
                f.write_str("{")?;
                for (position, (name, value)) in entries.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    if is_identifier(name) {
                        write!(f, "{name} = {value}")?;
                    } else {
                        write!(f, "{} = {value}", crate::json::quote(name))?;
                    }
                }
                f.write_str("}")
            }
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && characters.all(|rest| rest.is_alphanumeric() || rest == '_' || rest == '-')
}

impl From<bool> for Value {
    fn from(flag: bool) -> Value {
        Value::Bool(flag)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::String(text)
    }
}

impl From<Number> for Value {
    fn from(number: Number) -> Value {
        Value::Number(number)
    }
}

macro_rules! value_from_number {
    ($($source:ty),*) => {$(
        impl From<$source> for Value {
            fn from(number: $source) -> Value {
                Value::Number(Number::from(number))
            }
        }
    )*};
}
value_from_number!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, usize, f32, f64);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(option: Option<T>) -> Value {
        option.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(entries: &[(&str, Value)]) -> Value {
        Value::Object(
            entries
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        )
    }

    #[test]
    fn get_attr_is_null_when_absent() {
        let value = object(&[("name", "cp1".into())]);
        assert_eq!(value.get_attr("name").as_str(), Some("cp1"));
        assert!(value.get_attr("port").is_null());
        assert!(Value::from(3).get_attr("anything").is_null());
    }

    #[test]
    fn wholly_known_looks_at_every_level() {
        let inner = object(&[("address", Value::Unknown)]);
        let value = object(&[("hosts", Value::List(vec![inner]))]);
        assert!(value.is_known());
        assert!(!value.is_wholly_known());
        assert!(!Value::Unknown.is_known());
        assert!(object(&[("a", Value::Null)]).is_wholly_known());
    }

    #[test]
    fn sets_compare_without_order_but_lists_with_order() {
        let a = Value::Set(vec![1.into(), 2.into(), 2.into()]);
        let b = Value::Set(vec![2.into(), 1.into(), 2.into()]);
        let c = Value::Set(vec![2.into(), 1.into(), 1.into()]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            Value::List(vec![1.into(), 2.into()]),
            Value::List(vec![2.into(), 1.into()])
        );
        assert_ne!(Value::List(vec![]), Value::Set(vec![]));
    }

    #[test]
    fn at_path_follows_every_kind_of_step() {
        let mut value = object(&[
            (
                "controllers",
                Value::Map(BTreeMap::from([(
                    "cp1".to_string(),
                    object(&[("port", 22.into())]),
                )])),
            ),
            ("tags", Value::Set(vec!["a".into(), "b".into()])),
            ("hosts", Value::List(vec!["h0".into(), "h1".into()])),
        ]);
        let port = AttributePath::root()
            .attribute("controllers")
            .key("cp1")
            .attribute("port");
        assert_eq!(value.at_path(&port), Some(&Value::from(22)));
        let tag = AttributePath::root().attribute("tags").element("b".into());
        assert_eq!(value.at_path(&tag), Some(&Value::from("b")));
        let host = AttributePath::root().attribute("hosts").index(1);
        assert_eq!(value.at_path(&host), Some(&Value::from("h1")));
        assert_eq!(
            value.at_path(&AttributePath::root().attribute("hosts").index(2)),
            None
        );
        assert_eq!(
            value.at_path(&AttributePath::root().attribute("hosts").index(-1)),
            None
        );
        assert_eq!(value.at_path(&AttributePath::root()), Some(&value.clone()));

        *value.at_path_mut(&port).unwrap() = 2222.into();
        assert_eq!(value.at_path(&port), Some(&Value::from(2222)));
    }

    #[test]
    fn implied_type_agrees_on_elements_or_falls_back_to_dynamic() {
        let agreeing = Value::List(vec![
            object(&[("a", Value::Null)]),
            object(&[("a", 1.into())]),
        ]);
        assert_eq!(
            agreeing.implied_type(),
            Type::list(Type::object([("a", Type::Number)]))
        );
        let mixed = Value::List(vec![1.into(), "x".into()]);
        assert_eq!(mixed.implied_type(), Type::list(Type::Dynamic));
        assert_eq!(
            Value::Map(BTreeMap::new()).implied_type(),
            Type::map(Type::Dynamic)
        );

        // A mixed collection doesn't adopt a sibling's element type.
        let mixed_then_uniform = Value::List(vec![
            Value::List(vec![true.into(), Value::List(vec![])]),
            Value::List(vec![Value::List(vec![1.into()])]),
        ]);
        assert_eq!(
            mixed_then_uniform.implied_type(),
            Type::list(Type::list(Type::Dynamic))
        );
        let bytes = mixed_then_uniform.to_msgpack(&Type::Dynamic).unwrap();
        assert_eq!(
            Value::from_msgpack(&bytes, &Type::Dynamic).unwrap(),
            mixed_then_uniform
        );
    }

    #[test]
    fn displays_like_hcl() {
        let value = object(&[
            ("name", "a".into()),
            ("ports", Value::List(vec![1.into(), Value::Unknown])),
            ("with space", Value::Null),
        ]);
        assert_eq!(
            value.to_string(),
            r#"{name = "a", ports = [1, (known after apply)], "with space" = null}"#
        );
    }
}
