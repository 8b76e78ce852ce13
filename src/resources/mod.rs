//! The resources: the Terraform side of the provider. Each decodes Terraform
//! values into a typed plan for `crate::ops`, validates and plans, and builds
//! state and diagnostics from the typed outcome `ops` returns. `tfplugin` and
//! `tfvalue` stop here.

pub mod advice;
pub mod backup;
pub mod cluster;
pub mod controllers;
pub mod diagnose;
pub mod health;
pub mod kubeconfig;
pub mod node;
pub mod private;
pub mod validate;

use std::sync::{Arc, OnceLock};

use tfplugin::tfvalue::Value;
use tfplugin::Diagnostics;

use crate::ops::{OpError, Runtime};

/// The runtime the provider builds at configure time, shared by every
/// resource of the process.
pub type SharedRuntime = Arc<OnceLock<Runtime>>;

pub(crate) fn runtime(shared: &SharedRuntime) -> Result<&Runtime, OpError> {
    shared.get().ok_or(OpError::NotConfigured)
}

/// A one-attribute identity (version 0): the import ID under `name`.
pub(crate) fn identity_of(name: &str, import_id: Option<String>) -> Option<Value> {
    Some(Value::Object(std::collections::BTreeMap::from([(
        name.to_string(),
        Value::String(import_id?),
    )])))
}

/// The import ID held by a one-attribute identity.
pub(crate) fn import_id_in(identity: &Value, name: &str) -> Result<String, Diagnostics> {
    identity
        .get_attr(name)
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            let mut d = Diagnostics::new();
            d.error(
                "Invalid identity",
                format!("`{name}` must be a known string."),
            );
            d
        })
}

/// The plan Terraform would get for `config` over `prior`, refined by a
/// resource's `modify_plan`: for the plan tests beside each resource.
#[cfg(test)]
pub(crate) fn plan_for(
    schema: &tfplugin::Schema,
    prior: &Value,
    config: &Value,
    modify: fn(&tfplugin::PlanRequest<'_>, &mut tfplugin::Plan),
) -> tfplugin::Plan {
    let change = tfplugin::plan::plan_resource(schema, prior, config);
    let mut plan = tfplugin::Plan {
        planned: change.planned,
        requires_replace: change.requires_replace,
        private: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    let request = tfplugin::PlanRequest {
        prior,
        proposed: config,
        config,
        prior_private: &[],
    };
    modify(&request, &mut plan);
    plan
}
