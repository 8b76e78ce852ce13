//! Read: every controller is probed in parallel, one SSH round trip each.
//! What it finds is recorded as drift (status, version, config, workloads);
//! an unreachable host is a warning, a changed host key an error.

use std::collections::BTreeMap;

use tfplugin::tfvalue::Value;
use tfplugin::{Ctx, Diagnostics, StateOutcome};

use super::{set, statuses, Cluster};
use crate::ops::hosts::Hosts;
use crate::ops::probe::{self, HostFacts};
use crate::ops::{failed, OpError};
use crate::provider::ProviderState;
use crate::resources::controllers::ControllerHost;

/// One controller as Read saw it.
enum Seen {
    Unreachable(OpError),
    /// It answered, but must not be trusted or cannot be used as configured
    /// (a changed host key, sudo asking for a password): an error, not drift.
    Refused(OpError),
    Facts(Box<HostFacts>),
}

impl Seen {
    fn failed(e: OpError) -> Seen {
        use mke_ssh::SshError;
        match e {
            OpError::Ssh(
                SshError::HostKeyChanged { .. }
                | SshError::InvalidHostKey { .. }
                | SshError::SudoNeedsPassword { .. },
            ) => Seen::Refused(e),
            e => Seen::Unreachable(e),
        }
    }
}

async fn look(hosts: &Hosts, c: &ControllerHost) -> Seen {
    let host = match hosts
        .connect(&Hosts::controller_target(c), hosts.quick())
        .await
    {
        Ok(h) => h,
        Err(e) => return Seen::failed(e),
    };
    match probe::probe(&host).await {
        Ok(f) => Seen::Facts(Box::new(f)),
        Err(e) => Seen::failed(e),
    }
}

pub async fn read(
    state: &ProviderState,
    _ctx: &Ctx,
    current: Value,
    private: Vec<u8>,
) -> StateOutcome {
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(current, e.to_diagnostics("Cannot read the cluster")),
    };
    let Some(cluster) = Cluster::from_value(&current) else {
        return StateOutcome {
            state: current,
            private,
            diagnostics: Diagnostics::new(),
        };
    };
    let items: Vec<(String, ControllerHost)> = cluster.controllers.clone().into_iter().collect();
    let seen = hosts
        .each(items, |(key, c)| {
            let hosts = hosts.clone();
            async move { (key, look(&hosts, &c).await) }
        })
        .await;
    let mut d = Diagnostics::new();
    let mut new_state = current.clone();
    let mut status = BTreeMap::new();
    let mut any_k0s = false;
    let mut all_answered = true;
    for (key, s) in &seen {
        match s {
            Seen::Refused(e) => {
                all_answered = false;
                d.extend(e.to_diagnostics(&format!("Cannot read controller {key}")));
            }
            Seen::Unreachable(e) => {
                all_answered = false;
                status.insert(key.clone(), "unreachable");
                d.warning(
                    format!("Controller {key} is unreachable"),
                    format!(
                        "{e}\n\nIts state is kept as it was; the plan shows it as `unreachable`."
                    ),
                );
            }
            Seen::Facts(f) => {
                status.insert(key.clone(), f.status_word());
                any_k0s |= f.installed() || f.binary_version.is_some();
                let running_version = f
                    .status
                    .as_ref()
                    .map(|s| s.version.clone())
                    .or(f.binary_version.clone());
                if let Some(v) = running_version {
                    if f.installed() && v != cluster.version {
                        set(&mut new_state, "k0s_version", Value::String(v));
                    }
                }
                if let Some(found) = &f.config {
                    if let Ok(stripped) = mke_k0s::strip_host_keys(found) {
                        if !mke_k0s::configs_equal(&stripped, &cluster.k0s_config) {
                            set(&mut new_state, "k0s_config", Value::String(stripped));
                        }
                    }
                }
                if let Some(unit) = &f.unit {
                    let expected = cluster.controllers[key].workloads();
                    if unit.workloads() != expected {
                        if let Value::Object(fields) = &mut new_state {
                            if let Some(Value::Map(cs)) = fields.get_mut("controllers") {
                                if let Some(Value::Object(c)) = cs.get_mut(key) {
                                    c.insert("workloads".into(), Value::Bool(unit.workloads()));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if d.has_errors() {
        // Nothing learned from a refused host may reach the plan.
        return StateOutcome {
            state: current,
            private,
            diagnostics: d,
        };
    }
    if all_answered && !any_k0s {
        tracing::info!("k0s is gone from every controller; removing mke_cluster from state");
        return StateOutcome {
            state: Value::Null,
            private,
            diagnostics: d,
        };
    }
    set(&mut new_state, "host_status", statuses(status.into_iter()));
    StateOutcome {
        state: new_state,
        private,
        diagnostics: d,
    }
}
