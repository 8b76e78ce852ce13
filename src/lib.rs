//! terraform-provider-mke: MKE 4 (k0s + Calico) on your own machines.
//!
//! - [`provider`]: the provider block and its configuration.
//! - [`resources`]: `mke_cluster`, `mke_node` (and their shared `controllers` type):
//!   schemas, validation and planning.
//! - [`ops`]: the host work each resource runs over SSH.
//!
//! The protocol layer is the `tfplugin` crate, k0s knowledge is `mke-k0s`,
//! and SSH is `mke-ssh`.

pub mod ops;
pub mod provider;
pub mod resources;
