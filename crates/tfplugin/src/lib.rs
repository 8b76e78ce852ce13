//! A Terraform plugin protocol 6.10 server for providers written in Rust.
//!
//! - [`serve`]: the process: go-plugin handshake, unix socket, AutoMTLS,
//!   controller/stdio/broker and health services.
//! - [`server`]: the tfplugin6 service, dispatching to the [`provider`] traits
//!   (resources, ephemeral resources, actions, list resources).
//! - [`schema`] and [`plan`]: schemas with defaults and replacement rules,
//!   and the plan rules every resource shares.
//! - [`diagnostics`]: what the user reads.
//!
//! Nothing in this crate knows what the provider manages.

pub mod diagnostics;
pub mod logging;
pub mod plan;
pub mod proto;
pub mod provider;
pub mod schema;
pub mod serve;
pub mod server;
pub mod tls;

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use provider::{
    Action, ActionPlan, ClientCapabilities, Ctx, DataSource, Deferral, EphemeralResource,
    ListRequest, ListResource, ListResult, ListResults, ListingStopped, OpenOutcome, Plan,
    PlanRequest, Progress, Provider, RenewOutcome, Resource, StateOutcome,
};
pub use schema::{
    Attribute, Block, IdentityAttribute, IdentitySchema, NestedBlock, Nesting, Recompute, Schema,
};
pub use tfvalue;
