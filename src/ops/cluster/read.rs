//! Read: every controller is probed in parallel, one SSH round trip each,
//! and compared with the stored cluster. Only a host whose address does not
//! answer at all is reported as unreachable; any other failure (a refused
//! login or connection, a changed host key, a failing bastion, sudo asking
//! for a password, a probe that fails) is an error: the machine may well be
//! running, so nothing about it may be taken for drift or for gone.

use std::collections::BTreeMap;

use super::ClusterPlan;
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::{ControllerHost, HostStatus, OpError, Runtime};

/// One controller as Read saw it.
pub enum Seen {
    /// Nothing answered at its address.
    Unreachable(OpError),
    /// It could not be read: an error, neither drift nor gone.
    Failed(OpError),
    Found(ControllerSeen),
}

/// What differs from the stored cluster on one controller; `None` where it
/// matches.
#[derive(Debug, Clone)]
pub struct ControllerSeen {
    pub status: HostStatus,
    /// k0s is installed, or at least its binary is there.
    pub has_k0s: bool,
    pub version: Option<String>,
    /// The cluster-wide part of its `k0s.yaml`.
    pub k0s_config: Option<String>,
    pub workloads: Option<bool>,
}

impl ControllerSeen {
    fn compare(facts: &HostFacts, plan: &ClusterPlan, c: &ControllerHost) -> ControllerSeen {
        let version = facts
            .running_version()
            .filter(|v| facts.installed() && *v != plan.version);
        let k0s_config = facts
            .config
            .as_ref()
            .and_then(|found| mke_k0s::strip_host_keys(found).ok())
            .filter(|stripped| !mke_k0s::configs_equal(stripped, &plan.k0s_config));
        let workloads = facts
            .unit
            .as_ref()
            .map(|u| u.workloads())
            .filter(|w| *w != c.workloads);
        ControllerSeen {
            status: facts.status(),
            has_k0s: facts.has_k0s(),
            version,
            k0s_config,
            workloads,
        }
    }
}

fn seen_after(e: OpError) -> Seen {
    if e.is_unreachable() {
        Seen::Unreachable(e)
    } else {
        Seen::Failed(e)
    }
}

async fn look(rt: &Runtime, plan: &ClusterPlan, c: &ControllerHost) -> Seen {
    let host = match rt.connect(&c.target(), rt.quick()).await {
        Ok(h) => h,
        Err(e) => return seen_after(e),
    };
    match probe::probe(&host).await {
        Ok(f) => Seen::Found(ControllerSeen::compare(&f, plan, c)),
        Err(e) => seen_after(e),
    }
}

/// Every controller, probed in parallel.
pub async fn read(rt: &Runtime, plan: &ClusterPlan) -> BTreeMap<String, Seen> {
    let items: Vec<(String, ControllerHost)> = plan.controllers.clone().into_iter().collect();
    rt.each(items, |(key, c)| async move {
        let seen = look(rt, plan, &c).await;
        (key, seen)
    })
    .await
    .into_iter()
    .collect()
}
