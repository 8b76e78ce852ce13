//! terraform-provider-mke: MKE 4 (k0s + Calico) on your own machines.
//!
//! Data flows one way: `main` → [`provider`] → [`resources`] → [`ops`] →
//! (`mke-k0s`, `mke-ssh`).
//!
//! - [`provider`]: the provider block; builds the [`ops::Runtime`] at
//!   configure time.
//! - [`resources`]: the Terraform side of each resource: schema, plan-time
//!   checks, and the typed model plans and state decode into. `tfplugin`
//!   and `tfvalue` stop here.
//! - [`ops`]: host work on typed values, as named phases (`ops/phase/`), one
//!   file per operation (`ops/cluster/`, `ops/node/`).
//!
//! The protocol layer is the `tfplugin` crate, k0s knowledge is `mke-k0s`,
//! and SSH is `mke-ssh`.

pub mod ops;
pub mod provider;
pub mod resources;
