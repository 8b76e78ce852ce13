//! Create: connect → lock → probe → preflight → on every host: write the
//! marker, stage k0s, write `k0s.yaml` → install the leader → join the other
//! controllers one at a time → read the admin kubeconfig.
//!
//! From a backup (`restore_from`): the archive is checked on this machine
//! first, then restored on the leader after staging and before installing,
//! so the leader starts as the old cluster; the others join it fresh.

use std::collections::BTreeMap;
use std::time::Duration;

use super::steps::{install_leader, join_controller, open, prepare, Opened};
use super::{ClusterPlan, ClusterReached};
use crate::ops::phase::outputs::admin_access;
use crate::ops::phase::preflight::{preflight, Expected};
use crate::ops::phase::{marker, restore};
use crate::ops::{within_limit_keeping, Cancel, HostStatus, OpError, Partial, Runtime, Step};

pub async fn create(
    rt: &Runtime,
    cancel: &Cancel,
    plan: &ClusterPlan,
    limit: Duration,
) -> Result<ClusterReached, Partial<ClusterReached>> {
    rt.controller_views().forget().await;
    within_limit_keeping(limit, "the cluster", "create", async |reached| {
        run(rt, cancel, plan, reached).await
    })
    .await
}

async fn run(
    rt: &Runtime,
    cancel: &Cancel,
    plan: &ClusterPlan,
    reached: &mut ClusterReached,
) -> Result<(), OpError> {
    // Before any host is touched: an archive that would not restore stops the create here.
    if let Some(archive) = &plan.restore_from {
        let step = Step::start("this machine", "check backup archive");
        let summary = restore::check_archive(archive)?;
        let differences =
            restore::network_differences(&summary, &plan.k0s_config).map_err(|message| {
                OpError::BackupArchive {
                    path: archive.display().to_string(),
                    message,
                }
            })?;
        if let Some(d) = differences.first() {
            return Err(OpError::BackupArchive {
                path: archive.display().to_string(),
                message: format!(
                    "its cluster ran {} = {}, the plan has {}: the restored objects were \
                     allocated from the archive's settings, so the cluster must keep them",
                    d.key, d.archived, d.planned
                ),
            });
        }
        step.done();
    }
    let opened = open(rt, cancel, plan, &mut reached.host_keys).await?;
    let Opened {
        hosts,
        facts,
        locked,
    } = opened;
    // Ctrl-C, or a lock taken from this run, stops every wait and transfer.
    let cancel = locked.watch.cancel();
    let result = async {
        let addresses = plan.addresses();
        for (key, host) in &hosts {
            let expected = Expected::NewController {
                name: &plan.name,
                addresses: &addresses,
                claim: plan.claim(""),
            };
            preflight(host, &facts[key], expected)?;
        }
        // From here on every host is written to: a failure saves them all.
        reached.changed = hosts.keys().cloned().collect();
        let prepared = rt
            .each(hosts.keys().cloned().collect(), |key| {
                let host = hosts[&key].clone();
                let f = &facts[&key];
                let c = &plan.controllers[&key];
                async move {
                    // The marker first: whatever happens next, the host is
                    // known to be this create's.
                    let step = Step::start(host.name(), "write marker");
                    marker::write_marker(&host, &plan.marker("")).await?;
                    step.done();
                    prepare(cancel, &host, f, plan, c).await
                }
            })
            .await;
        prepared.into_iter().collect::<Result<Vec<()>, OpError>>()?;

        let leader_key = plan.leader_key();
        let leader = &hosts[leader_key];
        if let Some(archive) = &plan.restore_from {
            restore::restore(leader, archive).await?;
        }
        let id = install_leader(cancel, leader, plan, &plan.controllers[leader_key]).await?;
        reached.id = Some(id.clone());
        let mut status: BTreeMap<String, HostStatus> = plan
            .order
            .iter()
            .map(|k| (k.clone(), HostStatus::Absent))
            .collect();
        status.insert(leader_key.to_string(), HostStatus::Running);
        for key in &plan.order[1..] {
            reached.host_status = Some(status.clone());
            join_controller(
                cancel,
                leader,
                &hosts[key],
                plan,
                &plan.controllers[key],
                &id,
            )
            .await?;
            status.insert(key.clone(), HostStatus::Running);
        }
        reached.host_status = Some(status);
        reached.access = Some(admin_access(leader, &plan.api_endpoint).await?);
        Ok(())
    }
    .await;
    locked.close(result).await
}
