//! Pure k0s and Kubernetes knowledge for MKE 4: the ClusterConfig, k0s and kubectl command lines,
//! manifests, and the parsing and classifying of what k0s and kubectl print.
//!
//! This crate only builds text and parses output: it does no I/O (no network, no files, no
//! processes, no clock), so all of it is tested without a host. The provider runs the commands
//! it builds over SSH and hands the output back here.

pub mod adopt;
pub mod backup;
pub mod cli;
pub mod config;
pub mod kube;
pub mod model;
pub mod node;
pub mod outcome;
pub mod pki;
pub mod status;
pub mod validate;
mod yaml;

pub use cli::{
    go_duration, install_command, parse_duration, shell_join, shell_quote, DurationError,
    InstallFlags, ADMIN_KUBECONFIG_PATH, JOIN_TOKEN_PATH, K0S_BINARY_PATH, K0S_CONFIG_PATH,
    K0S_DATA_DIR,
};
pub use config::{
    check_immutable_overrides, check_overrides, configs_equal, host_config,
    observed_private_address, observed_settings, render_cluster_config, strip_host_keys,
    validate_strict, ConfigError, ObservedSettings,
};
pub use model::{
    ApiSpec, CalicoMode, CalicoSpec, ClusterSpec, ControllerSpec, KubeProxyMode, NetworkSpec, Role,
    UnknownVariant, DEFAULT_K0S_VERSION,
};
pub use node::{
    parse_node_json, parse_node_list, validate_label, NodeError, NodeInfo, Taint, TaintEffect,
};
pub use status::{
    download_arch, download_url, kubeconfig_with_server, parse_k0s_version, parse_kubeconfig,
    parse_member_list, parse_status_json, parse_token_create, parse_unit_exec_start, parse_version,
    peer_host, InstalledUnit, JoinToken, K0sStatus, K0sVersion, Kubeconfig, ParseError,
    VersionError, DEFAULT_DOWNLOAD_URL,
};
