//! The node's host work. Lands with the [node] issue.

use tfplugin::tfvalue::Value;
use tfplugin::{Ctx, Diagnostics, StateOutcome};

use super::failed;
use crate::provider::ProviderState;

fn not_yet(what: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("{what} is not available in this build"),
        "This build of the mke provider manages mke_cluster on hosts, but does not yet change \
         worker hosts. Nothing was changed on any machine.",
    );
    d
}

pub async fn create(_s: &ProviderState, _ctx: &Ctx, _planned: Value) -> StateOutcome {
    failed(Value::Null, not_yet("Creating mke_node"))
}
pub async fn update(_s: &ProviderState, _ctx: &Ctx, prior: Value, _planned: Value) -> StateOutcome {
    failed(prior, not_yet("Updating mke_node"))
}
pub async fn delete(_s: &ProviderState, _ctx: &Ctx, _prior: Value) -> Diagnostics {
    not_yet("Deleting mke_node")
}
pub async fn read(_s: &ProviderState, _ctx: &Ctx, state: Value, private: Vec<u8>) -> StateOutcome {
    StateOutcome {
        state,
        private,
        diagnostics: Diagnostics::new(),
    }
}
pub async fn import(_s: &ProviderState, _ctx: &Ctx, _id: &str) -> StateOutcome {
    failed(Value::Null, not_yet("Importing mke_node"))
}
