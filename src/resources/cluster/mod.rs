//! `mke_cluster`: the k0s control plane. This folder is the Terraform side:
//! [`schema`], plan-time checks and planning ([`plan`]), and the typed
//! [`model`] that plans and state decode into. The host work lives in
//! `crate::ops::cluster`.

mod list;
mod model;
mod plan;
mod schema;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::tfvalue::{from_value, Value};
use tfplugin::{
    Ctx, Diagnostics, IdentityAttribute, IdentitySchema, Plan, PlanRequest, Resource, Schema,
    StateOutcome,
};

pub use list::ClusterList;
pub use model::{nulls_for_unknowns, time_limit, ClusterModel, TimeoutsModel};
pub use plan::{
    cluster_spec, controller_addresses, plan_binary_source, plan_cluster, validate_binary_source,
    validate_config, validate_timeouts,
};
pub use schema::{schema, timeouts_attribute};

use crate::ops::cluster::{self, ClusterReached, Seen, Update};
use crate::ops::{HostStatus, OpError, Warning};
use crate::resources::controllers;
use crate::resources::private;
use crate::resources::{advice, diagnose};
use crate::resources::{identity_of, import_id_in, runtime, SharedRuntime};
use model::{statuses, ControllersOnly};
use tfplugin::tfvalue::Unknowable;

pub const TYPE_NAME: &str = "mke_cluster";

pub struct ClusterResource {
    pub runtime: SharedRuntime,
}

fn outcome(state: Value, diagnostics: Diagnostics) -> StateOutcome {
    StateOutcome {
        state,
        private: Vec::new(),
        diagnostics,
    }
}

pub fn identity_schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![IdentityAttribute {
            name: "controllers".into(),
            ty: tfplugin::tfvalue::Type::String,
            required_for_import: true,
            description: "Every controller as `<key>=<address>[:<port>]`, comma-separated.".into(),
        }],
    }
}

/// `<key>=<address>[:<port>],…`: the import ID, and the identity.
pub fn import_id(state: &Value) -> Option<String> {
    let Value::Map(entries) = state.get_attr("controllers") else {
        return None;
    };
    let mut parts = Vec::new();
    for (key, entry) in entries {
        let address = entry.get_attr("address").as_str()?;
        match entry.get_attr("port").as_i64() {
            Some(port) => parts.push(format!("{key}={address}:{port}")),
            None => parts.push(format!("{key}={address}")),
        }
    }
    Some(parts.join(","))
}

#[async_trait]
impl Resource for ClusterResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn schema(&self) -> Schema {
        schema()
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(identity_schema())
    }
    fn identity(&self, state: &Value) -> Option<Value> {
        identity_of("controllers", import_id(state))
    }
    fn import_id_from_identity(&self, identity: &Value) -> Result<String, Diagnostics> {
        import_id_in(identity, "controllers")
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }
    fn modify_plan(&self, request: &PlanRequest<'_>, plan: &mut Plan) {
        plan_cluster(request, plan)
    }

    async fn create(&self, ctx: &Ctx, planned: Value, _config: Value) -> StateOutcome {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => {
                return outcome(
                    Value::Null,
                    diagnose::error("Cannot create the cluster", &e),
                )
            }
        };
        let marker_id = private::fresh();
        let Some((mut model, plan)) = ClusterModel::decode(&planned).and_then(|m| {
            let p = m.plan(Some(&marker_id))?;
            Some((m, p))
        }) else {
            let e = OpError::UnknownAtApply {
                resource: TYPE_NAME.into(),
            };
            return outcome(
                Value::Null,
                diagnose::error("Cannot create the cluster", &e),
            );
        };
        model.marker_id = Unknowable::Known(Some(marker_id.clone()));
        let limit = time_limit(&model.timeouts, "create", Duration::from_secs(30 * 60));
        let (state, diagnostics) = match cluster::create(rt, &ctx.cancel, &plan, limit).await {
            Ok(reached) => {
                model.record(&reached);
                (model.encode(), Diagnostics::new())
            }
            Err(partial) => {
                let d = diagnose::error("Creating the cluster failed", &partial.error);
                if partial.reached.changed.is_empty() {
                    // No host was touched: nothing to save, nothing to taint.
                    (Value::Null, d)
                } else {
                    // Keep the hosts it wrote to, and only those: Terraform
                    // saves them tainted, and the next apply resets them
                    // (they carry this resource's marker) and installs again.
                    model.record(&partial.reached);
                    model.keep_only(&partial.reached, None);
                    let mut state = model.encode();
                    nulls_for_unknowns(&mut state);
                    (state, d)
                }
            }
        };
        outcome(state, diagnostics)
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: Value,
        planned: Value,
        _config: Value,
        _private: Vec<u8>,
    ) -> StateOutcome {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return outcome(prior, diagnose::error("Cannot update the cluster", &e)),
        };
        let decoded = ClusterModel::decode(&prior).zip(ClusterModel::decode(&planned));
        let marker_id = decoded
            .as_ref()
            .map(|(b, _)| private::ensured(&b.marker_id))
            .unwrap_or_else(private::fresh);
        let instance = Some(marker_id.as_str());
        let plans = decoded
            .as_ref()
            .and_then(|(b, a)| Some((b.plan(instance)?, a.plan(instance)?)));
        let (Some((mut prior_model, mut model)), Some((before, mut after))) = (decoded, plans)
        else {
            // Only configuration-side values (after import) change: nothing to do on hosts.
            let mut state = planned;
            private::settle(&mut state, &prior);
            return outcome(state, Diagnostics::new());
        };
        model.marker_id = Unknowable::Known(Some(marker_id.clone()));
        prior_model.marker_id = Unknowable::Known(Some(marker_id.clone()));
        // The cluster keeps its id: the stored one is the truth.
        after.id = before.id.clone();
        let update = Update {
            before: &before,
            after: &after,
            needs_access: model.kubeconfig.is_unknown() || model.ca_certificate.is_unknown(),
            limit: time_limit(&model.timeouts, "update", Duration::from_secs(60 * 60)),
        };
        let (state, diagnostics) = match cluster::update(rt, &ctx.cancel, update).await {
            Ok(reached) => {
                model.record(&reached);
                if model.last_backup.is_unknown() {
                    // Nothing stopped, so no backup was needed.
                    model.last_backup = prior_model.last_backup.clone();
                }
                (model.encode(), Diagnostics::new())
            }
            Err(partial) => {
                // The state reached so far: the controllers it had (less those
                // whose removal finished) and those it changed. The next
                // apply carries on from there.
                let mut reached_model = prior_model.clone();
                reached_model.controllers = model.controllers;
                reached_model.keep_only(&partial.reached, Some(&prior_model));
                controllers::record_host_keys(
                    &mut reached_model.controllers,
                    &partial.reached.host_keys,
                );
                if let Some(backup) = &partial.reached.backup {
                    // Taken before the failure: the way back, worth keeping in state.
                    let mut with_backup = prior_model.clone();
                    with_backup.record(&ClusterReached {
                        backup: Some(backup.clone()),
                        ..Default::default()
                    });
                    reached_model.last_backup = with_backup.last_backup;
                }
                let mut state = reached_model.encode();
                nulls_for_unknowns(&mut state);
                (
                    state,
                    diagnose::error("Updating the cluster failed", &partial.error),
                )
            }
        };
        outcome(state, diagnostics)
    }

    async fn delete(&self, _ctx: &Ctx, prior: Value, _private: Vec<u8>) -> Diagnostics {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return diagnose::error("Cannot delete the cluster", &e),
        };
        let Ok(stored) = from_value::<ControllersOnly>(&prior) else {
            return Diagnostics::new();
        };
        let owner = cluster::Owner {
            id: stored.id.unwrap_or_default(),
            instance: stored.marker_id,
            adopted_ca: stored.adopted_ca_sha256,
        };
        let mut d = Diagnostics::new();
        let controllers = controllers::hosts(&stored.controllers);
        let deleted = cluster::delete(rt, &controllers, &owner).await;
        for (key, e) in &deleted.failed {
            let summary = if deleted.wiped_none {
                format!("Cannot delete controller {key}; no controller was wiped")
            } else {
                format!("Wiping controller {key} failed")
            };
            d.extend(advice::read_or_destroy_error(&summary, e));
        }
        if !deleted.wiped_none {
            let warnings: Vec<Warning> = deleted
                .unreachable
                .into_iter()
                .map(|(key, e)| {
                    Warning::because(
                        format!("Controller {key} was unreachable; it was not wiped"),
                        e,
                        "k0s may still be installed there. Run `k0s stop; k0s reset` on it by hand.",
                    )
                })
                .collect();
            diagnose::warnings(&mut d, &warnings);
        }
        d
    }

    async fn read(&self, _ctx: &Ctx, current: Value, private: Vec<u8>) -> StateOutcome {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return outcome(current, diagnose::error("Cannot read the cluster", &e)),
        };
        let Some((mut model, plan)) = ClusterModel::decode(&current).and_then(|m| {
            let p = m.plan(private::stored(&m.marker_id).as_deref())?;
            Some((m, p))
        }) else {
            return StateOutcome {
                state: current,
                private,
                diagnostics: Diagnostics::new(),
            };
        };
        let mut d = Diagnostics::new();
        let mut status = BTreeMap::new();
        let mut any_k0s = false;
        let mut all_answered = true;
        for (key, seen) in cluster::read(rt, &plan).await {
            match seen {
                Seen::Failed(e) => {
                    all_answered = false;
                    d.extend(advice::read_or_destroy_error(
                        &format!("Cannot read controller {key}"),
                        &e,
                    ));
                }
                Seen::Unreachable(e) => {
                    all_answered = false;
                    status.insert(key.clone(), HostStatus::Unreachable);
                    let warning = Warning::because(
                        format!("Controller {key} is unreachable"),
                        e,
                        "Its state is kept as it was; the plan shows it as `unreachable`.",
                    );
                    diagnose::warnings(&mut d, &[warning]);
                }
                Seen::Found(found) => {
                    diagnose::warnings(&mut d, &found.warnings());
                    status.insert(key.clone(), found.status);
                    any_k0s |= found.has_k0s;
                    model.record_drift(&key, &found);
                }
            }
        }
        let state = if d.has_errors() {
            // Nothing learned from a refused host may reach the plan.
            current
        } else if all_answered && !any_k0s {
            tracing::info!("k0s is gone from every controller; removing mke_cluster from state");
            Value::Null
        } else {
            model.host_status = tfplugin::tfvalue::Unknowable::Known(Some(statuses(&status)));
            model.encode()
        };
        StateOutcome {
            state,
            private,
            diagnostics: d,
        }
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> StateOutcome {
        let summary = "Cannot import the cluster";
        let hint = "The import ID lists every controller: <key>=<address>[:<port>],<key>=<address>[:<port>]…";
        let targets = match cluster::parse_import_id(id) {
            Ok(t) => t,
            Err(e) => {
                let mut d = Diagnostics::new();
                d.error(summary, format!("{e}. {hint}"));
                return outcome(Value::Null, d);
            }
        };
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return outcome(Value::Null, diagnose::error(summary, &e)),
        };
        match cluster::import(rt, &targets).await {
            Ok(found) => {
                let mut d = Diagnostics::new();
                diagnose::warnings(&mut d, &found.warnings);
                outcome(ClusterModel::imported(&found).encode(), d)
            }
            Err(e) => outcome(Value::Null, diagnose::error(summary, &e)),
        }
    }
}
