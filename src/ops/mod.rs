//! Host work: the phases each resource runs over SSH.

pub mod cluster;
pub mod node;

use tfplugin::tfvalue::Value;
use tfplugin::{Diagnostics, StateOutcome};

pub(crate) fn not_yet(what: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("{what} is not available in this build"),
        "This build of the mke provider validates and plans, but does not yet change hosts. \
         Nothing was changed on any machine.",
    );
    d
}

pub(crate) fn failed(prior: Value, d: Diagnostics) -> StateOutcome {
    StateOutcome {
        state: prior,
        private: Vec::new(),
        diagnostics: d,
    }
}
