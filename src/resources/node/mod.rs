//! `mke_node`: one machine joined to a cluster as a worker. This folder is
//! the Terraform side: [`schema`], plan-time checks ([`plan`]) and the typed
//! [`model`]. The host work lives in `crate::ops::node`.

mod list;
mod model;
mod plan;
mod schema;

use std::time::Duration;

use async_trait::async_trait;
use tfplugin::tfvalue::Value;
use tfplugin::{
    Ctx, Diagnostics, IdentityAttribute, IdentitySchema, Plan, PlanRequest, Resource, Schema,
    StateOutcome,
};

pub use list::NodeList;
pub use model::NodeModel;
pub use plan::validate_config;
pub use schema::schema;

use crate::ops::node::{self, NodeSeen};
use crate::ops::OpError;
use crate::resources::cluster::{nulls_for_unknowns, time_limit};
use crate::resources::private;
use crate::resources::{advice, diagnose};
use crate::resources::{identity_of, import_id_in, runtime, SharedRuntime};
use tfplugin::tfvalue::Unknowable;

pub const TYPE_NAME: &str = "mke_node";

pub struct NodeResource {
    pub runtime: SharedRuntime,
}

fn outcome(state: Value, diagnostics: Diagnostics) -> StateOutcome {
    StateOutcome {
        state,
        private: Vec::new(),
        diagnostics,
    }
}

pub fn import_id(state: &Value) -> Option<String> {
    let address = state.get_attr("address").as_str()?;
    Some(match state.get_attr("port").as_i64() {
        Some(port) => format!("{address}:{port}"),
        None => address.to_string(),
    })
}

#[async_trait]
impl Resource for NodeResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn schema(&self) -> Schema {
        schema()
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![IdentityAttribute {
                name: "address".into(),
                ty: tfplugin::tfvalue::Type::String,
                required_for_import: true,
                description: "The machine, as `<address>[:<port>]`.".into(),
            }],
        })
    }
    fn identity(&self, state: &Value) -> Option<Value> {
        identity_of("address", import_id(state))
    }
    fn import_id_from_identity(&self, identity: &Value) -> Result<String, Diagnostics> {
        import_id_in(identity, "address")
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }
    fn modify_plan(&self, request: &PlanRequest<'_>, plan: &mut Plan) {
        if let Value::Object(fields) = &mut plan.planned {
            fields.insert("status".into(), Value::String("running".into()));
        }
        plan::plan_node(request, plan);
    }

    async fn create(&self, ctx: &Ctx, planned: Value, _config: Value) -> StateOutcome {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return outcome(Value::Null, diagnose::error("Cannot create the node", &e)),
        };
        let Some(mut model) = NodeModel::decode(&planned) else {
            let e = OpError::UnknownAtApply {
                resource: TYPE_NAME.into(),
            };
            return outcome(Value::Null, diagnose::error("Cannot create the node", &e));
        };
        let marker_id = private::fresh();
        model.marker_id = Unknowable::Known(Some(marker_id.clone()));
        let plan = model.plan(Some(&marker_id));
        let limit = time_limit(&model.timeouts, "create", Duration::from_secs(20 * 60));
        let (state, diagnostics) = match node::create(rt, &ctx.cancel, &plan, limit).await {
            Ok(reached) => {
                model.record(&reached);
                (model.encode(), Diagnostics::new())
            }
            Err(partial) => {
                let summary = format!("Joining {} failed", plan.address);
                let d = diagnose::error(&summary, &partial.error);
                if partial.reached.changed {
                    // Saved tainted: the next apply wipes what this node wrote.
                    model.record(&partial.reached);
                    let mut state = model.encode();
                    nulls_for_unknowns(&mut state);
                    (state, d)
                } else {
                    // Nothing was written to the host: nothing to save or taint.
                    (Value::Null, d)
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
            Err(e) => return outcome(prior, diagnose::error("Cannot update the node", &e)),
        };
        let (Some(before_model), Some(mut model)) =
            (NodeModel::decode(&prior), NodeModel::decode(&planned))
        else {
            let mut state = planned;
            private::settle(&mut state, &prior);
            return outcome(state, Diagnostics::new());
        };
        let marker_id = private::ensured(&before_model.marker_id);
        model.marker_id = Unknowable::Known(Some(marker_id.clone()));
        let before = before_model.plan(Some(&marker_id));
        let mut after = model.plan(Some(&marker_id));
        // The Node keeps the name it registered with.
        after.node_name = before.node_name.clone();
        let limit = time_limit(&model.timeouts, "update", Duration::from_secs(30 * 60));
        let (state, diagnostics) = match node::update(rt, &ctx.cancel, &before, &after, limit).await
        {
            Ok(reached) => {
                model.record(&reached);
                (model.encode(), Diagnostics::new())
            }
            Err(partial) => (
                prior,
                diagnose::error(
                    &format!("Updating {} failed", after.address),
                    &partial.error,
                ),
            ),
        };
        outcome(state, diagnostics)
    }

    async fn delete(&self, ctx: &Ctx, prior: Value, _private: Vec<u8>) -> Diagnostics {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return diagnose::error("Cannot delete the node", &e),
        };
        let Some(model) = NodeModel::decode(&prior) else {
            return Diagnostics::new();
        };
        let marker_id = private::stored(&model.marker_id);
        let deleted = node::delete(rt, &ctx.cancel, &model.plan(marker_id.as_deref())).await;
        let mut d = Diagnostics::new();
        diagnose::warnings(&mut d, &deleted.warnings);
        for (summary, e) in &deleted.errors {
            d.extend(advice::read_or_destroy_error(summary, e));
        }
        d
    }

    async fn read(&self, _ctx: &Ctx, current: Value, private: Vec<u8>) -> StateOutcome {
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return outcome(current, diagnose::error("Cannot read the node", &e)),
        };
        let Some(mut model) = NodeModel::decode(&current) else {
            return StateOutcome {
                state: current,
                private,
                diagnostics: Diagnostics::new(),
            };
        };
        let mut d = Diagnostics::new();
        let marker_id = private::stored(&model.marker_id);
        let state = match node::read(rt, &model.plan(marker_id.as_deref())).await {
            Ok(NodeSeen::Gone) => Value::Null,
            Ok(NodeSeen::Present(observed)) => {
                diagnose::warnings(&mut d, &observed.warnings);
                model.record_observed(&observed);
                model.encode()
            }
            Err(e) => {
                // Neither gone nor drift: the state stays as it was.
                d.extend(advice::read_or_destroy_error(
                    &format!("Cannot read the node at {}", model.address),
                    &e,
                ));
                current
            }
        };
        StateOutcome {
            state,
            private,
            diagnostics: d,
        }
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> StateOutcome {
        let summary = "Cannot import the node";
        let (address, port) = match node::parse_import_id(id) {
            Ok(t) => t,
            Err(e) => {
                let mut d = Diagnostics::new();
                d.error(
                    summary,
                    format!("{e}. The import ID of mke_node is the machine's <address>[:<port>]."),
                );
                return outcome(Value::Null, d);
            }
        };
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return outcome(Value::Null, diagnose::error(summary, &e)),
        };
        match node::import(rt, &address, port).await {
            Ok(found) => {
                let mut d = Diagnostics::new();
                diagnose::warnings(&mut d, &found.warnings);
                outcome(NodeModel::imported(&found).encode(), d)
            }
            Err(e) => outcome(Value::Null, diagnose::error(summary, &e)),
        }
    }
}
