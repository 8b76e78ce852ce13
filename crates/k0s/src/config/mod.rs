//! The k0s ClusterConfig: rendering it from a [`ClusterSpec`](crate::ClusterSpec) with the user's
//! overrides and per-host keys (`render`), strict validation against the keys k0s v1.29.3 knows
//! (`schema`), and reading back what a host's file says (`observe`).

mod observe;
mod render;
mod schema;

pub use observe::{observed_private_address, observed_settings, ObservedSettings};
pub use render::{
    check_immutable_overrides, check_overrides, configs_equal, host_config, render_cluster_config,
    strip_host_keys, FORBIDDEN_OVERRIDES, IMMUTABLE_KEYS,
};
pub use schema::{is_dns_name, is_ip_or_dns_name, validate_strict};

use crate::yaml::{self, KeyPath, ParseFailure};
use serde_yaml_ng::{Mapping, Value};

pub const CLUSTER_CONFIG_API_VERSION: &str = "k0s.k0sproject.io/v1beta1";
pub const CLUSTER_CONFIG_KIND: &str = "ClusterConfig";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid YAML: {message}")]
    InvalidYaml { message: String },
    #[error("{path}: YAML tags are not supported")]
    Tagged { path: String },
    #[error("{path}: expected a mapping, found {found}")]
    NotAMapping { path: String, found: String },
    #[error("{path}: k0s_config_overrides may not set this key: {reason}")]
    ForbiddenOverride { path: String, reason: String },
    #[error("{path}: the overrides would change it from {rendered} to {overridden}, and it cannot change under a running cluster")]
    ImmutableOverride {
        path: String,
        rendered: String,
        overridden: String,
    },
    #[error("{path}: unknown field {field:?}, k0s v1.29.3 does not accept it{}", suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default())]
    UnknownField {
        path: String,
        field: String,
        suggestion: Option<String>,
    },
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigError {
    /// The key path the error is about, e.g. `spec.network.calico.mtu`.
    pub fn path(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidYaml { .. } => None,
            ConfigError::Tagged { path }
            | ConfigError::NotAMapping { path, .. }
            | ConfigError::ForbiddenOverride { path, .. }
            | ConfigError::ImmutableOverride { path, .. }
            | ConfigError::UnknownField { path, .. }
            | ConfigError::WrongType { path, .. }
            | ConfigError::Invalid { path, .. } => Some(path),
        }
    }
}

fn parse(text: &str) -> Result<Value, ConfigError> {
    yaml::parse(text).map_err(|failure| match failure {
        ParseFailure::Syntax(message) => ConfigError::InvalidYaml { message },
        ParseFailure::Tagged(path) => ConfigError::Tagged { path },
    })
}

/// Parses a document that must be a mapping; an empty document counts as an empty mapping.
fn parse_mapping(text: &str) -> Result<Mapping, ConfigError> {
    match parse(text)? {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(mapping) => Ok(mapping),
        other => Err(ConfigError::NotAMapping {
            path: KeyPath::root().to_string(),
            found: describe(&other),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) => format!("the string {text:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(_) => "a tagged value".to_owned(),
    }
}
