use crate::value::Value;
use std::fmt;

/// One step from a value into a part of it.
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    /// An attribute of an object.
    Attribute(String),
    /// A key of a map.
    Key(String),
    /// A position in a list or tuple.
    Index(i64),
    /// An element of a set, named by its own value since sets have no order.
    Element(Value),
}

/// A path inside a value, for diagnostics. Displays like
/// `network.calico.mode` or `controllers["cp1"].port`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    /// The path of the value itself.
    pub fn root() -> Self {
        AttributePath(Vec::new())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }

    /// This path extended by an attribute step.
    pub fn attribute(mut self, name: impl Into<String>) -> Self {
        self.0.push(PathStep::Attribute(name.into()));
        self
    }

    /// This path extended by a map key step.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.0.push(PathStep::Key(key.into()));
        self
    }

    /// This path extended by a list or tuple index step.
    pub fn index(mut self, index: i64) -> Self {
        self.0.push(PathStep::Index(index));
        self
    }

    /// This path extended by a set element step.
    pub fn element(mut self, element: Value) -> Self {
        self.0.push(PathStep::Element(element));
        self
    }
}

impl From<Vec<PathStep>> for AttributePath {
    fn from(steps: Vec<PathStep>) -> Self {
        AttributePath(steps)
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if position == 0 => f.write_str(name)?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{}]", crate::json::quote(key))?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
                PathStep::Element(element) => write!(f, "[{element}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_attributes_keys_indexes_and_elements() {
        let path = AttributePath::root()
            .attribute("controllers")
            .key("cp1")
            .attribute("port");
        assert_eq!(path.to_string(), r#"controllers["cp1"].port"#);

        let path = AttributePath::root()
            .attribute("network")
            .attribute("calico")
            .attribute("mode");
        assert_eq!(path.to_string(), "network.calico.mode");

        let path = AttributePath::root()
            .attribute("hosts")
            .index(2)
            .attribute("labels")
            .element(Value::from("a\"b"));
        assert_eq!(path.to_string(), r#"hosts[2].labels["a\"b"]"#);

        assert_eq!(AttributePath::root().key("x").to_string(), r#"["x"]"#);
        assert_eq!(AttributePath::root().to_string(), "");
    }
}
