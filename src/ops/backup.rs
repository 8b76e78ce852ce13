//! A backup of the cluster's control plane (etcd, PKI, `k0s.yaml`), taken on
//! one controller and written on the machine running the provider: the
//! `mke_backup` action, and `mke_cluster` before a change that stops a
//! controller.
//!
//! Phases, in order:
//! 1. [`connect`](super::phase::connect): the controllers in the order given
//!    (the leader first), pinned host keys only: no trust on first use;
//!    a controller that does not answer is passed over;
//! 2. [`probe`](super::phase::probe): the first that runs k0s as a
//!    controller (and has `/etc/k0s/k0s.yaml`, which k0s archives) is used;
//! 3. the cluster id: the UID of the `kube-system` namespace;
//! 4. [`backup`](super::phase::backup): `k0s backup --save-path=-` streamed
//!    into `directory`, verified, named, checksummed, older ones pruned.
//!
//! No host lock is taken: a backup only reads the hosts (k0s takes an etcd
//! snapshot, which etcd serves while it works), so it may run beside another
//! run's change, and `mke_cluster` takes it while it holds the locks itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use mke_k0s::Role;
use mke_ssh::{Command, Host};

use super::phase::backup::{human_bytes, save};
use super::phase::probe::{probe, HostFacts};
use super::{Cancel, ControllerHost, OpError, Runtime, Step};

pub use super::phase::backup::BackupRecord;

/// What a backup needs.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// (key, controller), in the order to try them: the leader first.
    pub controllers: Vec<(String, ControllerHost)>,
    /// Where archives go; relative to the provider's working directory.
    pub directory: PathBuf,
    /// How many archives of this cluster to keep there, this one included.
    pub keep: usize,
}

/// Takes a backup on the first healthy controller. `progress` gets short
/// messages for a person watching.
pub async fn take(
    rt: &Runtime,
    cancel: &Cancel,
    request: &BackupRequest,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<BackupRecord, OpError> {
    let (key, controller, host) = healthy_controller(rt, cancel, request, progress).await?;
    progress(format!("backing up from {key} ({})", controller.address));
    let started = Instant::now();
    let step = Step::start(host.name(), "read cluster id");
    let cluster_id = host
        .check(
            &Command::new(mke_k0s::cli::kube_system_uid())
                .display("kubectl get namespace kube-system (its UID is the cluster id)"),
        )
        .await?
        .trim()
        .to_string();
    step.done();
    let record = save(cancel, &host, &cluster_id, &request.directory, request.keep).await?;
    progress(format!(
        "wrote {} ({}) in {:.1}s, sha256 {}",
        record.path.display(),
        human_bytes(record.bytes),
        started.elapsed().as_secs_f64(),
        record.sha256
    ));
    Ok(record)
}

/// The first controller, in the order given, that answers and runs k0s as a
/// controller; one with its config file is preferred, since k0s cannot back
/// up one without (its error says so, if no other is left).
async fn healthy_controller(
    rt: &Runtime,
    cancel: &Cancel,
    request: &BackupRequest,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(String, ControllerHost, Arc<Host>), OpError> {
    if request.controllers.is_empty() {
        return Err(OpError::host(
            "the cluster",
            "no controller given to back up from",
            "List the cluster's controllers.",
        ));
    }
    let mut passed_over: Vec<String> = Vec::new();
    let mut without_config = None;
    for (key, c) in &request.controllers {
        if cancel.is_cancelled() {
            return Err(OpError::Cancelled {
                what: "looking for a controller to back up from".into(),
            });
        }
        if c.host_key.is_none() {
            return Err(OpError::host(
                &c.address,
                format!(
                    "controller {key} has no host_key, and a backup connects only to pinned hosts"
                ),
                "Give every controller its host key (`<type> <base64>`), as the cluster's \
                 `controllers` carry them.",
            ));
        }
        let step = Step::start(&c.address, "connect");
        let host = match rt.connect(&c.target(), rt.quick()).await {
            Ok(host) => host,
            Err(e) if e.is_unreachable() => {
                tracing::warn!(controller = key.as_str(), error = %e, "controller {key} does not answer; trying the next one");
                progress(format!(
                    "{key} ({}) does not answer; trying the next controller",
                    c.address
                ));
                passed_over.push(format!("{key}: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        step.done();
        let facts = probe(&host).await?;
        match unhealthy(&facts) {
            None if facts.config.is_some() => return Ok((key.clone(), c.clone(), host)),
            None => {
                passed_over.push(format!(
                    "{key}: k0s runs without {}",
                    mke_k0s::K0S_CONFIG_PATH
                ));
                without_config.get_or_insert((key.clone(), c.clone(), host));
            }
            Some(why) => {
                progress(format!(
                    "{key} ({}) {why}; trying the next controller",
                    c.address
                ));
                passed_over.push(format!("{key}: {why}"));
            }
        }
    }
    if let Some(found) = without_config {
        return Ok(found);
    }
    Err(OpError::host(
        "the cluster",
        format!(
            "no controller can take a backup:\n{}",
            passed_over
                .iter()
                .map(|p| format!("- {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        "A backup needs one controller that answers over SSH and runs k0s; start k0s on one \
         (`systemctl start k0scontroller`).",
    ))
}

/// Why a probed host cannot take a backup; `None` when it can.
fn unhealthy(facts: &HostFacts) -> Option<String> {
    match &facts.status {
        None if facts.installed() => Some("has k0s installed but not running".into()),
        None => Some("runs no k0s".into()),
        Some(status) if status.role != Role::Controller => {
            Some(format!("runs k0s as a {}", status.role))
        }
        Some(_) => None,
    }
}
