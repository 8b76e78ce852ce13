//! Update: connect → lock → probe → preflight → each installed controller,
//! one at a time: upgrade, reconfigure, reinstall or start it → each
//! controller without k0s: leave etcd (if it was a member), stage,
//! configure, join → each controller whose address left: leave etcd, wipe →
//! outputs when the plan needs them.
//!
//! With `backup.before_change`, a backup is taken from a running controller
//! after preflight, before any host is written to, when a controller will
//! stop (upgrade, reconfigure, reinstall, removal); a failed backup ends the
//! update there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use mke_ssh::Host;

use super::steps::{self, join_controller, open, prepare, Opened};
use super::{install_flags, ClusterPlan, ClusterReached};
use crate::ops::phase::etcd::{Leaving, Peer};
use crate::ops::phase::outputs::admin_access;
use crate::ops::phase::ownership::Claim;
use crate::ops::phase::ownership::Owned;
use crate::ops::phase::preflight::{preflight, Expected};
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::phase::{backup, configure, etcd, marker, service, wipe};
use crate::ops::{
    within_limit_keeping, Cancel, ControllerHost, HostStatus, OpError, Partial, Runtime, Step,
};

/// What the update of a cluster starts from and needs.
pub struct Update<'a> {
    pub before: &'a ClusterPlan,
    pub after: &'a ClusterPlan,
    /// The plan left the kubeconfig or CA unknown: read them again.
    pub needs_access: bool,
    pub limit: Duration,
}

pub async fn update(
    rt: &Runtime,
    cancel: &Cancel,
    update: Update<'_>,
) -> Result<ClusterReached, Partial<ClusterReached>> {
    // Workers joining in this process read versions and markers afresh, before and after.
    rt.controller_views().forget().await;
    let result = within_limit_keeping(update.limit, "the cluster", "update", async |reached| {
        run(rt, cancel, &update, reached).await
    })
    .await;
    rt.controller_views().forget().await;
    result
}

/// What an installed controller needs to match the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerChange {
    pub upgrade: bool,
    pub reconfigure: bool,
    /// The unit's `--enable-worker` differs from `workloads`.
    pub reinstall: bool,
    /// Nothing to change, but k0s is stopped.
    pub start: bool,
}

impl ControllerChange {
    pub fn decide(facts: &HostFacts, plan: &ClusterPlan, c: &ControllerHost) -> ControllerChange {
        let upgrade = facts.running_version().as_deref() != Some(plan.version.as_str());
        let wanted = mke_k0s::host_config(&plan.k0s_config, c.private_address.as_deref()).ok();
        let reconfigure = match (&facts.config, &wanted) {
            (Some(found), Some(w)) => !mke_k0s::configs_equal(found, w),
            _ => true,
        };
        let reinstall = facts
            .unit
            .as_ref()
            .is_some_and(|u| u.workloads() != c.workloads);
        let restart = upgrade || reconfigure || reinstall;
        ControllerChange {
            upgrade,
            reconfigure,
            reinstall,
            start: !restart && !facts.running(),
        }
    }

    fn restarts(&self) -> bool {
        self.upgrade || self.reconfigure || self.reinstall
    }
}

/// Brings one installed controller to the plan; k0s is restarted only when
/// something changed, and the API must answer again before the next one.
async fn reconcile(
    cancel: &Cancel,
    host: &Arc<Host>,
    facts: &HostFacts,
    plan: &ClusterPlan,
    c: &ControllerHost,
    started: bool,
) -> Result<(), OpError> {
    let mut change = ControllerChange::decide(facts, plan, c);
    // Started above, with every other stopped controller.
    change.start &= !started;
    if change.restarts() {
        let phase = if change.upgrade {
            "upgrade controller"
        } else {
            "reconfigure controller"
        };
        let step = Step::start(host.name(), phase);
        if change.upgrade {
            steps::stage(cancel, host, facts, plan).await?;
        }
        if change.reconfigure {
            configure::write_config(host, &plan.k0s_config, c.private_address.as_deref()).await?;
        }
        service::stop(host).await?;
        if change.upgrade || change.reinstall {
            let mut flags = install_flags(c);
            flags.force = true;
            service::install(host, &flags).await?;
        }
        service::start(host).await?;
        service::wait_controller_ready(cancel, host).await?;
        step.done();
    } else if change.start {
        let step = Step::start(host.name(), "start stopped controller");
        service::start(host).await?;
        service::wait_controller_ready(cancel, host).await?;
        step.done();
    }
    Ok(())
}

fn by_address(plan: &ClusterPlan) -> BTreeMap<String, (String, ControllerHost)> {
    plan.controllers
        .iter()
        .map(|(k, v)| (v.address.clone(), (k.clone(), v.clone())))
        .collect()
}

/// The controllers as the quorum checks see them: those of the plan, and
/// those leaving it (still etcd members until they are removed).
fn peers<'a>(
    after: &'a ClusterPlan,
    hosts: &'a BTreeMap<String, Arc<Host>>,
    facts: &'a BTreeMap<String, HostFacts>,
    leaving: &'a [(String, ControllerHost, Option<Arc<Host>>)],
) -> Vec<Peer<'a>> {
    let planned = after.controllers.iter().map(|(key, c)| Peer {
        key,
        controller: c,
        host: hosts.get(key),
        hostname: facts.get(key).map(|f| f.hostname.as_str()).unwrap_or(""),
    });
    let going = leaving.iter().map(|(key, c, host)| Peer {
        key,
        controller: c,
        host: host.as_ref(),
        hostname: "",
    });
    planned.chain(going).collect()
}

async fn run(
    rt: &Runtime,
    cancel: &Cancel,
    update: &Update<'_>,
    reached: &mut ClusterReached,
) -> Result<(), OpError> {
    let after = update.after;
    let opened = open(rt, cancel, after, &mut reached.host_keys).await?;
    let Opened {
        hosts,
        facts,
        locked,
    } = opened;
    // Ctrl-C, or a lock taken from this run, stops every wait and transfer.
    let cancel = locked.watch.cancel();
    let result = async {
        let id = after.id.as_str();
        for (key, host) in &hosts {
            preflight(host, &facts[key], Expected::Controller(after.claim(id)))?;
        }
        let old = by_address(update.before);
        let kept = by_address(after);
        let mut leaving = Vec::new();
        for (address, (key, c)) in &old {
            if !kept.contains_key(address) {
                let host = rt.connect(&c.target(), rt.quick()).await.ok();
                leaving.push((key.clone(), c.clone(), host));
            }
        }
        let peers = peers(after, &hosts, &facts, &leaving);
        // Before anything is written: a backup when a controller will stop.
        if let Some(policy) = &after.backup {
            let stops = !leaving.is_empty()
                || after.order.iter().any(|key| {
                    facts[key].installed()
                        && ControllerChange::decide(&facts[key], after, &after.controllers[key])
                            .restarts()
                });
            if stops {
                let source = after
                    .order
                    .iter()
                    .find(|key| facts[*key].running())
                    .map(|key| &hosts[key])
                    .ok_or_else(|| {
                        OpError::host(
                            &after.controllers[after.leader_key()].address,
                            "this change stops a controller and `backup.before_change` is set, \
                             but no controller runs k0s, so no backup can be taken",
                            "Start k0s on a controller (`k0s start`), or set \
                             `backup.before_change = false` for this change.",
                        )
                    })?;
                reached.backup =
                    Some(backup::save(cancel, source, id, &policy.directory, policy.keep).await?);
            }
        }
        // Stopped controllers come back first: no controller is restarted
        // below while another member is down.
        let mut started = BTreeSet::new();
        for key in &after.order {
            let f = &facts[key];
            if f.installed() && !f.running() {
                if f.marker.is_none() {
                    // An adopted controller: its marker before its first change.
                    reached.changed.insert(key.clone());
                    marker::write_marker(&hosts[key], &after.marker(id)).await?;
                }
                let step = Step::start(hosts[key].name(), "start stopped controller");
                service::start(&hosts[key]).await?;
                service::wait_controller_ready(cancel, &hosts[key]).await?;
                step.done();
                started.insert(key.clone());
            }
        }
        // Then installed controllers, one at a time, each stopped only while
        // every etcd member is healthy: upgrade, reconfigure or reinstall.
        let mut running: Vec<String> = Vec::new();
        for key in &after.order {
            if !facts[key].installed() {
                continue;
            }
            let f = &facts[key];
            let host = &hosts[key];
            let c = &after.controllers[key];
            let change = ControllerChange::decide(f, after, c);
            // A marker that does not carry the instance id yet is rewritten;
            // an adopted controller (no marker) gets one only before a change.
            let stale_marker = f
                .marker
                .as_ref()
                .is_some_and(|m| Some(m.instance.as_str()) != after.instance.as_deref());
            let adopted_and_changing = f.marker.is_none() && (change.restarts() || change.start);
            if change.restarts() || stale_marker || adopted_and_changing {
                reached.changed.insert(key.clone());
                marker::write_marker(host, &after.marker(id)).await?;
            }
            if change.restarts() {
                etcd::check_before_stop(host, host, &peers).await?;
            }
            reconcile(cancel, host, f, after, c, started.contains(key)).await?;
            running.push(key.clone());
        }
        // Then controllers without k0s (new, or wiped): they join through a
        // running controller, one at a time.
        let no_anchor = || {
            OpError::host(
                &after.controllers[after.leader_key()].address,
                "no controller of the cluster runs k0s, so none can admit the others",
                "Restore one controller (or import the cluster again), then apply.",
            )
        };
        for key in &after.order {
            let f = &facts[key];
            if f.installed() {
                continue;
            }
            let anchor = &hosts[running.first().ok_or_else(no_anchor)?];
            let host = &hosts[key];
            let c = &after.controllers[key];
            if old.contains_key(&c.address) || f.marker.is_some() {
                // A wiped member leaves before its machine joins anew.
                etcd::leave(anchor, f, c, &peers, Leaving::IfMember).await?;
            }
            reached.changed.insert(key.clone());
            marker::write_marker(host, &after.marker(id)).await?;
            prepare(cancel, host, f, after, c).await?;
            join_controller(cancel, anchor, host, after, c, id).await?;
            running.push(key.clone());
        }
        let anchor = &hosts[running.first().ok_or_else(no_anchor)?];
        // Controllers whose address left the map leave etcd and are wiped,
        // one at a time.
        for (address, (key, c)) in &old {
            if kept.contains_key(address) {
                continue;
            }
            remove_controller(rt, anchor, key, c, &after.claim(id), &peers)
                .await
                .map_err(|e| OpError::RemovingController {
                    host: c.address.clone(),
                    key: key.clone(),
                    source: Box::new(e),
                })?;
            reached.removed.insert(address.clone());
        }
        if update.needs_access {
            let leader = &hosts[after.leader_key()];
            reached.access = Some(admin_access(leader, &after.api_endpoint).await?);
        }
        reached.host_status = Some(
            after
                .order
                .iter()
                .map(|k| (k.clone(), HostStatus::Running))
                .collect(),
        );
        reached.id = Some(id.to_string());
        Ok(())
    }
    .await;
    locked.close(result).await
}

/// Takes a controller that left the configuration out of etcd and wipes it.
/// A host that does not answer only leaves etcd; one that answers must be
/// the cluster's own before anything happens. Its member must be found and
/// the members that remain must keep a majority.
async fn remove_controller(
    rt: &Runtime,
    anchor: &Host,
    key: &str,
    c: &ControllerHost,
    claim: &Claim<'_>,
    peers: &[Peer<'_>],
) -> Result<(), OpError> {
    let reachable = rt.connect(&c.target(), rt.quick()).await.ok();
    let (facts, owned) = match &reachable {
        Some(host) => {
            let facts = probe::probe(host).await?;
            let owned = Owned::claim(host.clone(), &facts, claim)?;
            (facts, owned)
        }
        None => (HostFacts::default(), None),
    };
    let mut all: Vec<Peer<'_>> = peers
        .iter()
        .map(|p| Peer {
            key: p.key,
            controller: p.controller,
            host: p.host,
            hostname: p.hostname,
        })
        .collect();
    all.push(Peer {
        key,
        controller: c,
        host: reachable.as_ref(),
        hostname: &facts.hostname,
    });
    etcd::leave(anchor, &facts, c, &all, Leaving::Required).await?;
    if let Some(owned) = owned {
        wipe::wipe(&owned).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ops::phase::stage::BinarySource;

    const CONFIG: &str = "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nmetadata:\n  name: demo\nspec:\n  network:\n    podCIDR: 10.244.0.0/16\n";

    fn controller() -> ControllerHost {
        ControllerHost {
            address: "192.0.2.11".into(),
            private_address: None,
            port: None,
            user: None,
            host_key: None,
            workloads: false,
        }
    }

    fn plan(version: &str) -> ClusterPlan {
        ClusterPlan {
            restore_from: None,
            backup: None,
            name: "demo".into(),
            version: version.into(),
            source: BinarySource::new(None, None),
            controllers: BTreeMap::from([("a".to_string(), controller())]),
            order: vec!["a".into()],
            k0s_config: CONFIG.into(),
            api_endpoint: "https://192.0.2.11:6443".into(),
            id: "u-1".into(),
            instance: Some("i-1".into()),
            adopted_ca: None,
        }
    }

    fn running(version: &str) -> HostFacts {
        let status = format!(
            "{{\"Version\":\"{version}\",\"Pid\":1,\"Role\":\"controller\",\"Workloads\":false,\"SysInit\":\"linux-systemd\",\"StubFile\":\"\",\"Output\":\"\",\"Args\":[],\"ClusterConfig\":null,\"K0sVars\":{{}}}}"
        );
        HostFacts {
            hostname: "c1".into(),
            arch: "x86_64".into(),
            binary_version: Some(version.into()),
            unit: mke_k0s::parse_unit_exec_start(
                "[Service]\nExecStart=/usr/local/bin/k0s controller --config=/etc/k0s/k0s.yaml\n",
            ),
            status: mke_k0s::parse_status_json(&status).ok(),
            config: mke_k0s::host_config(CONFIG, None).ok(),
            marker: None,
            ca_sha256: None,
            join_server: None,
        }
    }

    #[test]
    fn a_controller_that_matches_the_plan_is_left_alone() {
        let facts = running("v1.29.3+k0s.0");
        assert!(facts.running(), "the status JSON above must parse");
        let change = ControllerChange::decide(&facts, &plan("v1.29.3+k0s.0"), &controller());
        assert!(!change.restarts() && !change.start, "{change:?}");
    }

    #[test]
    fn a_new_version_upgrades_and_a_stopped_controller_is_started() {
        let facts = running("v1.29.3+k0s.0");
        let change = ControllerChange::decide(&facts, &plan("v1.29.4+k0s.0"), &controller());
        assert!(change.upgrade && change.restarts());

        let mut stopped = running("v1.29.3+k0s.0");
        stopped.status = None;
        let change = ControllerChange::decide(&stopped, &plan("v1.29.3+k0s.0"), &controller());
        assert!(change.start && !change.restarts(), "{change:?}");
    }

    #[test]
    fn workloads_that_differ_from_the_unit_reinstall_it() {
        let mut c = controller();
        c.workloads = true;
        let change =
            ControllerChange::decide(&running("v1.29.3+k0s.0"), &plan("v1.29.3+k0s.0"), &c);
        assert!(change.reinstall);
    }
}
