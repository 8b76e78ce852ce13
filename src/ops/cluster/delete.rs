//! Delete, in two steps. First every controller, in parallel: connect →
//! lock → probe → the host must be the cluster's own. Then, only when every
//! controller passed (or its address does not answer at all), wipe the ones
//! that hold k0s.
//!
//! Fails closed: a controller that refuses the login or the connection,
//! presents another host key, cannot be reached through the bastion or
//! belongs to someone else fails the delete before any controller is wiped,
//! and the cluster stays in state.

use std::collections::BTreeMap;

use crate::ops::phase::lock::HostLock;
use crate::ops::phase::ownership::{Claim, Owned};
use crate::ops::phase::{probe, wipe};
use crate::ops::{ControllerHost, OpError, Runtime};

/// Whose controllers they are: the cluster id in state and the resource's
/// instance id.
pub struct Owner {
    pub id: String,
    pub instance: Option<String>,
    /// The CA fingerprint recorded when the cluster was adopted.
    pub adopted_ca: Option<String>,
}

impl Owner {
    fn claim(&self) -> Claim<'_> {
        Claim {
            cluster_id: &self.id,
            role: "controller",
            instance: self.instance.as_deref(),
            resource: "mke_cluster",
            adopted_ca: self.adopted_ca.as_deref(),
        }
    }
}

/// What a delete did, by controller key.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Controllers whose address did not answer: not wiped.
    pub unreachable: Vec<(String, OpError)>,
    /// Controllers that failed. When any failed before the wipe,
    /// `wiped_none` is set: no controller was touched.
    pub failed: Vec<(String, OpError)>,
    pub wiped_none: bool,
}

/// One controller after the checks.
enum Checked {
    /// Ours (or nothing installed: `None`), locked.
    Ready(Option<Owned>, HostLock),
    Unreachable(OpError),
    Failed(OpError),
}

async fn check(rt: &Runtime, c: &ControllerHost, owner: &Owner) -> Checked {
    let host = match rt.connect(&c.target(), rt.quick()).await {
        Ok(h) => h,
        Err(e) if e.is_unreachable() => return Checked::Unreachable(e),
        Err(e) => return Checked::Failed(e),
    };
    let lock = match rt.lock(&host).await {
        Ok(l) => l,
        Err(e) => return Checked::Failed(e),
    };
    let claimed = match probe::probe(&host).await {
        Ok(facts) => Owned::claim(host.clone(), &facts, &owner.claim()),
        Err(e) => Err(e),
    };
    match claimed {
        Ok(owned) => Checked::Ready(owned, lock),
        Err(e) => {
            lock.release().await;
            Checked::Failed(e)
        }
    }
}

pub async fn delete(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
    owner: &Owner,
) -> Deleted {
    rt.controller_views().forget().await;
    let items: Vec<(String, ControllerHost)> = controllers.clone().into_iter().collect();
    let checked = rt
        .each(items, |(key, c)| async move {
            (key, check(rt, &c, owner).await)
        })
        .await;

    let mut out = Deleted::default();
    let mut ready = Vec::new();
    for (key, c) in checked {
        match c {
            Checked::Ready(owned, lock) => ready.push((key, owned, lock)),
            Checked::Unreachable(e) => out.unreachable.push((key, e)),
            Checked::Failed(e) => out.failed.push((key, e)),
        }
    }
    if !out.failed.is_empty() {
        out.wiped_none = true;
        for (_, _, lock) in ready {
            lock.release().await;
        }
        return out;
    }
    let wiped = rt
        .each(ready, |(key, owned, lock)| async move {
            let r = match &owned {
                Some(owned) => wipe::wipe(owned).await,
                None => Ok(()),
            };
            lock.release().await;
            (key, r)
        })
        .await;
    out.failed = wiped
        .into_iter()
        .filter_map(|(key, r)| r.err().map(|e| (key, e)))
        .collect();
    out
}
