//! `mke_cluster_health`: how a running cluster is doing, read without changing
//! anything. Every controller must come with its pinned host key (no trust on
//! first use: there is no state to record a key in).
//!
//! On each controller, in parallel, one round trip: the probe (k0s running?
//! its version) and the certificates under k0s's pki directory (`*.crt` only).
//! Then, on the first controller (in key order) where k0s runs:
//! `k0s etcd member-list` and `k0s kubectl get nodes -o json`.
//!
//! An unhealthy cluster is data, and so is a controller that does not answer
//! or whose probe fails: they come back as such, with warnings saying why. A
//! refused login, a changed or unknown host key, a controller without a host
//! key, or sudo asking for a password are errors: they say nothing about the
//! cluster and everything about the configuration.

use std::collections::BTreeMap;

use mke_k0s::pki::CertificateFacts;
use mke_ssh::{Command, Host, SshError};

use super::phase::etcd;
use super::phase::probe::{self, HostFacts};
use super::{rfc3339_of, unix_now, ControllerHost, OpError, Runtime, Warning};

/// One controller as the health check saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerHealth {
    /// It answered over SSH.
    pub reachable: bool,
    /// k0s answers `k0s status` there.
    pub running: bool,
    /// The version k0s runs, or else the version of its binary; empty when unknown.
    pub version: String,
    /// It runs and is a member of etcd (the definition of the quorum checks).
    pub etcd_member_healthy: bool,
}

/// One Node as the API server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    pub ready: bool,
    /// The kubelet's version, e.g. `v1.29.3+k0s`.
    pub version: String,
    /// Seconds since the kubelet last reported its Ready condition.
    pub heartbeat_age_seconds: Option<i64>,
}

/// The whole cluster.
#[derive(Debug, Default)]
pub struct ClusterHealth {
    pub controllers: BTreeMap<String, ControllerHealth>,
    /// Empty when no controller could list them (then `nodes_listed` is false).
    pub nodes: BTreeMap<String, NodeHealth>,
    pub nodes_listed: bool,
    /// The control-plane certificate that expires first, and the controller it is on.
    pub earliest_certificate: Option<(String, CertificateFacts)>,
    /// Why a part of the cluster could not be seen.
    pub warnings: Vec<Warning>,
}

impl ClusterHealth {
    /// Every controller runs and is a healthy etcd member, and every Node is Ready.
    pub fn healthy(&self) -> bool {
        !self.controllers.is_empty()
            && self
                .controllers
                .values()
                .all(|c| c.running && c.etcd_member_healthy)
            && self.nodes_listed
            && self.nodes.values().all(|n| n.ready)
    }

    /// `notAfter` of [`Self::earliest_certificate`], RFC 3339 (UTC).
    pub fn certificates_expire_at(&self) -> Option<String> {
        self.earliest_certificate
            .as_ref()
            .map(|(_, c)| rfc3339_of(c.not_after))
    }
}

/// Failures that are about the configuration (who may log in, which key the
/// host must show), not about the health of the cluster.
fn is_configuration_error(e: &OpError) -> bool {
    match e {
        OpError::Ssh(e) => matches!(
            e,
            SshError::LoginRefused { .. }
                | SshError::BastionLoginRefused { .. }
                | SshError::BastionHostKeyUnknown { .. }
                | SshError::HostKeyChanged { .. }
                | SshError::SudoNeedsPassword { .. }
                | SshError::InvalidHostKey { .. }
                | SshError::InvalidTarget { .. }
        ),
        OpError::NotConfigured => true,
        _ => false,
    }
}

/// What one controller's round trip gave.
enum Looked {
    Unreachable(OpError),
    /// It answered, but the probe failed.
    ProbeFailed(OpError),
    Found {
        host: std::sync::Arc<Host>,
        facts: Box<HostFacts>,
        certificates: Vec<CertificateFacts>,
    },
}

async fn look(rt: &Runtime, key: &str, c: &ControllerHost) -> Result<Looked, OpError> {
    if c.host_key.is_none() {
        return Err(OpError::host(
            &c.address,
            format!("controller {key} has no host_key, and the health check connects only to pinned hosts"),
            "Pass `mke_cluster.<name>.controllers`, which carries the keys the cluster pinned.",
        ));
    }
    let host = match rt.connect(&c.target(), rt.quick()).await {
        Ok(h) => h,
        Err(e) if is_configuration_error(&e) => return Err(e),
        Err(e) => return Ok(Looked::Unreachable(e)),
    };
    match probe::probe_with_certificates(&host).await {
        Ok((facts, report)) => Ok(Looked::Found {
            host,
            facts: Box::new(facts),
            certificates: report.certificates,
        }),
        Err(e) if is_configuration_error(&e) => Err(e),
        Err(e) => Ok(Looked::ProbeFailed(e)),
    }
}

/// Looks at every controller, then at etcd and the Nodes from one where k0s runs.
pub async fn check(
    rt: &Runtime,
    controllers: &BTreeMap<String, ControllerHost>,
) -> Result<ClusterHealth, OpError> {
    let items: Vec<(String, ControllerHost)> = controllers.clone().into_iter().collect();
    let looked = rt
        .each(items, |(key, c)| async move {
            let r = look(rt, &key, &c).await;
            (key, r)
        })
        .await;
    let mut health = ClusterHealth::default();
    let mut running: Vec<(String, std::sync::Arc<Host>, Box<HostFacts>)> = Vec::new();
    for (key, r) in looked {
        let c = &controllers[&key];
        match r? {
            Looked::Unreachable(e) => {
                health.warnings.push(Warning::because(
                    format!("Controller {key} is unreachable"),
                    e,
                    "It counts as not running: the cluster is reported unhealthy.",
                ));
                health.controllers.insert(key, ControllerHealth::default());
            }
            Looked::ProbeFailed(e) => {
                health.warnings.push(Warning::because(
                    format!("Controller {key} could not be inspected"),
                    e,
                    "It counts as not running: the cluster is reported unhealthy.",
                ));
                health.controllers.insert(
                    key,
                    ControllerHealth {
                        reachable: true,
                        ..Default::default()
                    },
                );
            }
            Looked::Found {
                host,
                facts,
                certificates,
            } => {
                for cert in certificates {
                    let earlier = health
                        .earliest_certificate
                        .as_ref()
                        .is_none_or(|(_, e)| cert.not_after < e.not_after);
                    if earlier {
                        health.earliest_certificate = Some((c.address.clone(), cert));
                    }
                }
                health.controllers.insert(
                    key.clone(),
                    ControllerHealth {
                        reachable: true,
                        running: facts.running(),
                        version: facts.running_version().unwrap_or_default(),
                        etcd_member_healthy: false,
                    },
                );
                if facts.running() {
                    running.push((key, host, facts));
                }
            }
        }
    }
    let Some((anchor_key, anchor, _)) = running.first() else {
        health.warnings.push(Warning::new(
            "No controller runs k0s",
            "Neither etcd nor the Nodes could be read: the cluster is reported unhealthy.",
        ));
        return Ok(health);
    };
    match etcd::member_list(anchor).await {
        Ok(members) => {
            for (key, _, facts) in &running {
                let c = &controllers[key];
                let member = members.iter().any(|(name, url)| {
                    etcd::matches(name, &mke_k0s::peer_host(url), &facts.hostname, c)
                });
                if let Some(h) = health.controllers.get_mut(key) {
                    h.etcd_member_healthy = member;
                }
            }
        }
        Err(e) if is_configuration_error(&e) => return Err(e),
        Err(e) => health.warnings.push(Warning::because(
            format!("The etcd members could not be listed on controller {anchor_key}"),
            e,
            "No controller counts as a healthy etcd member.",
        )),
    }
    match list_nodes(anchor).await {
        Ok(nodes) => {
            health.nodes = nodes;
            health.nodes_listed = true;
        }
        Err(e) if is_configuration_error(&e) => return Err(e),
        Err(e) => health.warnings.push(Warning::because(
            format!("The Nodes could not be listed on controller {anchor_key}"),
            e,
            "`nodes` is empty and the cluster is reported unhealthy.",
        )),
    }
    Ok(health)
}

async fn list_nodes(controller: &Host) -> Result<BTreeMap<String, NodeHealth>, OpError> {
    let out = controller
        .check(&Command::new(mke_k0s::cli::kubectl_get_nodes_json()))
        .await?;
    let nodes = mke_k0s::node::parse_node_list(&out).map_err(|e| {
        OpError::host(
            controller.name(),
            format!("unexpected node list: {e}"),
            "Check k0s on the controller.",
        )
    })?;
    let now = unix_now();
    Ok(nodes
        .into_iter()
        .map(|(name, n)| {
            let health = NodeHealth {
                ready: n.ready,
                version: n.kubelet_version,
                heartbeat_age_seconds: n.ready_heartbeat.map(|at| (now - at).max(0)),
            };
            (name, health)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(running: bool, etcd: bool) -> ControllerHealth {
        ControllerHealth {
            reachable: true,
            running,
            version: "v1.29.3+k0s.0".into(),
            etcd_member_healthy: etcd,
        }
    }

    fn node(ready: bool) -> NodeHealth {
        NodeHealth {
            ready,
            version: "v1.29.3+k0s".into(),
            heartbeat_age_seconds: Some(3),
        }
    }

    fn health(
        controllers: &[(&str, ControllerHealth)],
        nodes: Option<&[(&str, NodeHealth)]>,
    ) -> ClusterHealth {
        ClusterHealth {
            controllers: controllers
                .iter()
                .map(|(k, c)| (k.to_string(), c.clone()))
                .collect(),
            nodes: nodes
                .unwrap_or_default()
                .iter()
                .map(|(k, n)| (k.to_string(), n.clone()))
                .collect(),
            nodes_listed: nodes.is_some(),
            ..Default::default()
        }
    }

    #[test]
    fn healthy_means_every_controller_runs_in_etcd_and_every_node_is_ready() {
        let all_up = health(
            &[("a", controller(true, true))],
            Some(&[("w1", node(true))]),
        );
        assert!(all_up.healthy());
        let worker_down = health(
            &[("a", controller(true, true))],
            Some(&[("w1", node(false))]),
        );
        assert!(!worker_down.healthy());
        let out_of_etcd = health(&[("a", controller(true, false))], Some(&[]));
        assert!(!out_of_etcd.healthy());
        let unreachable = health(
            &[
                ("a", controller(true, true)),
                ("b", ControllerHealth::default()),
            ],
            Some(&[]),
        );
        assert!(!unreachable.healthy());
        let unlisted = health(&[("a", controller(true, true))], None);
        assert!(!unlisted.healthy(), "nodes not seen cannot be called Ready");
    }

    #[test]
    fn a_refused_login_or_a_changed_key_is_an_error_and_silence_is_data() {
        let changed = OpError::Ssh(SshError::HostKeyChanged {
            host: "root@192.0.2.11:22".into(),
            expected_fingerprint: "SHA256:a".into(),
            presented_fingerprint: "SHA256:b".into(),
        });
        assert!(is_configuration_error(&changed));
        let timeout = OpError::Timeout {
            host: "192.0.2.11".into(),
            what: "probe".into(),
            after: std::time::Duration::from_secs(30),
        };
        assert!(!is_configuration_error(&timeout));
    }
}
