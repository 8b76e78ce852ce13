use crate::error::ValueError;
use crate::json::{self, Json};
use std::collections::BTreeMap;
use std::fmt;

/// A Terraform (cty) type.
///
/// JSON encoding, as in `Schema.Attribute.type`: `"bool"`, `"number"`,
/// `"string"`, `"dynamic"`, `["list",T]`, `["set",T]`, `["map",T]`,
/// `["object",{"name":T,...}]` and `["tuple",[T,...]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// Any type; the value carries its own type on the wire.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    pub fn object<N: Into<String>>(attributes: impl IntoIterator<Item = (N, Type)>) -> Type {
        Type::Object(
            attributes
                .into_iter()
                .map(|(name, ty)| (name.into(), ty))
                .collect(),
        )
    }

    pub fn tuple(elements: impl IntoIterator<Item = Type>) -> Type {
        Type::Tuple(elements.into_iter().collect())
    }

    /// The compact JSON text of this type, as cty writes it.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::new();
        self.write_json(&mut out);
        out.into_bytes()
    }

    fn write_json(&self, out: &mut String) {
        let collection = |out: &mut String, kind: &str, element: &Type| {
            out.push_str("[\"");
            out.push_str(kind);
            out.push_str("\",");
            element.write_json(out);
            out.push(']');
        };
        match self {
            Type::Bool => out.push_str("\"bool\""),
            Type::Number => out.push_str("\"number\""),
            Type::String => out.push_str("\"string\""),
            Type::Dynamic => out.push_str("\"dynamic\""),
            Type::List(element) => collection(out, "list", element),
            Type::Set(element) => collection(out, "set", element),
            Type::Map(element) => collection(out, "map", element),
            Type::Object(attributes) => {
                out.push_str("[\"object\",{");
                for (position, (name, ty)) in attributes.iter().enumerate() {
                    if position > 0 {
                        out.push(',');
                    }
                    out.push_str(&json::quote(name));
                    out.push(':');
                    ty.write_json(out);
                }
                out.push_str("}]");
            }
            Type::Tuple(elements) => {
                out.push_str("[\"tuple\",[");
                for (position, ty) in elements.iter().enumerate() {
                    if position > 0 {
                        out.push(',');
                    }
                    ty.write_json(out);
                }
                out.push_str("]]");
            }
        }
    }

    /// Reads a type's JSON text. An object's optional-attribute list (a
    /// third element, found in type constraints) is accepted and ignored,
    /// since values on the wire always carry every attribute.
    pub fn from_json(bytes: &[u8]) -> Result<Type, ValueError> {
        Type::from_json_tree(&json::parse_document(bytes)?)
    }

    pub(crate) fn from_json_tree(tree: &Json) -> Result<Type, ValueError> {
        match tree {
            Json::String(name) => match name.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(ValueError::invalid_type(format!(
                    "unknown type name {other:?}"
                ))),
            },
            Json::Array(parts) => {
                let Some(Json::String(kind)) = parts.first() else {
                    return Err(ValueError::invalid_type(
                        "a complex type must be an array starting with its kind",
                    ));
                };
                let arity_error = || {
                    ValueError::invalid_type(format!(
                        "{kind:?} type has {} parts; expected 2",
                        parts.len()
                    ))
                };
                match (kind.as_str(), &parts[1..]) {
                    ("list", [element]) => Ok(Type::list(Type::from_json_tree(element)?)),
                    ("set", [element]) => Ok(Type::set(Type::from_json_tree(element)?)),
                    ("map", [element]) => Ok(Type::map(Type::from_json_tree(element)?)),
                    ("object", [Json::Object(attributes)])
                    | ("object", [Json::Object(attributes), Json::Array(_)]) => {
                        let mut types = BTreeMap::new();
                        for (name, ty) in attributes {
                            types.insert(name.clone(), Type::from_json_tree(ty)?);
                        }
                        Ok(Type::Object(types))
                    }
                    ("tuple", [Json::Array(elements)]) => Ok(Type::Tuple(
                        elements
                            .iter()
                            .map(Type::from_json_tree)
                            .collect::<Result<_, _>>()?,
                    )),
                    ("list" | "set" | "map" | "tuple", _) => Err(arity_error()),
                    ("object", _) => Err(ValueError::invalid_type(
                        "an object type must be [\"object\", {attributes}] with an optional list of optional attribute names",
                    )),
                    (other, _) => Err(ValueError::invalid_type(format!("unknown type kind {other:?}"))),
                }
            }
            _ => Err(ValueError::invalid_type(
                "a type must be a string or an array",
            )),
        }
    }
}

impl fmt::Display for Type {
    /// Friendly names for messages: `list of string`, `object`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("any value"),
            Type::List(element) => write!(f, "list of {element}"),
            Type::Set(element) => write!(f, "set of {element}"),
            Type::Map(element) => write!(f, "map of {element}"),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_json_like_cty() {
        let ty = Type::object([
            ("port", Type::Number),
            (
                "hosts",
                Type::list(Type::object([("address", Type::String)])),
            ),
            ("labels", Type::map(Type::String)),
            ("tags", Type::set(Type::String)),
            ("pair", Type::tuple([Type::Bool, Type::Dynamic])),
        ]);
        assert_eq!(
            String::from_utf8(ty.to_json()).unwrap(),
            r#"["object",{"hosts":["list",["object",{"address":"string"}]],"labels":["map","string"],"pair":["tuple",["bool","dynamic"]],"port":"number","tags":["set","string"]}]"#
        );
        assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }

    #[test]
    fn reads_optional_attribute_lists_and_whitespace() {
        let ty = Type::from_json(
            br#" [ "object" , { "a" : "string", "b": ["list","number"] }, ["b"] ] "#,
        )
        .unwrap();
        assert_eq!(
            ty,
            Type::object([("a", Type::String), ("b", Type::list(Type::Number))])
        );
        assert_eq!(
            Type::from_json(br#"["tuple",[]]"#).unwrap(),
            Type::Tuple(vec![])
        );
        assert_eq!(
            Type::from_json(br#"["object",{}]"#).unwrap(),
            Type::object::<String>([])
        );
    }

    #[test]
    fn rejects_malformed_types_with_a_reason() {
        for (text, reason) in [
            (&br#""integer""#[..], "unknown type name"),
            (br#"["list"]"#, "expected 2"),
            (br#"["list","string","string"]"#, "expected 2"),
            (br#"["object",["a"]]"#, "object type must be"),
            (br#"["vector","string"]"#, "unknown type kind"),
            (br#"42"#, "string or an array"),
            (br#"[]"#, "starting with its kind"),
            (br#"["list","string""#, "malformed JSON"),
        ] {
            let error = Type::from_json(text).unwrap_err().to_string();
            assert!(
                error.contains(reason),
                "{}: {error}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!(
            "{}\"string\"{}",
            "[\"list\",".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(Type::from_json(text.as_bytes()).is_err());
    }
}
