//! The resources: each translates between Terraform values and the typed
//! domain model, validates at plan time, and hands host work to `crate::ops`.

pub mod advice;
pub mod cluster;
pub mod controllers;
pub mod kubeconfig;
pub mod node;
