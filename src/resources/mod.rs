//! The resources: the Terraform side of the provider. Each decodes Terraform
//! values into a typed plan for `crate::ops`, validates and plans, and builds
//! state and diagnostics from the typed outcome `ops` returns. `tfplugin` and
//! `tfvalue` stop here.

pub mod cluster;
pub mod controllers;
pub mod diagnose;
pub mod kubeconfig;
pub mod node;
pub mod validate;

use std::sync::{Arc, OnceLock};

use crate::ops::{OpError, Runtime};

/// The runtime the provider builds at configure time, shared by every
/// resource of the process.
pub type SharedRuntime = Arc<OnceLock<Runtime>>;

pub(crate) fn runtime(shared: &SharedRuntime) -> Result<&Runtime, OpError> {
    shared.get().ok_or(OpError::NotConfigured)
}
