//! `mke_node` on the hosts. Named steps:
//!
//! create: connect node + controllers → lock → preflight → stage k0s →
//! mint a worker token on a controller → install worker → wait Ready →
//! invalidate the token, reinstall without `--token-file`, remove the file.
//! read: probe the host (one round trip) and the Node object (one round trip
//! on a controller).
//! update: labels and taints through kubectl; a new version drains,
//! upgrades and uncordons; a stopped or unregistered node is brought back.
//! delete: drain and delete the Node on a controller, wipe the host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mke_k0s::{InstallFlags, NodeInfo, Role};
use mke_ssh::{Command, Host};
use tfplugin::tfvalue::Value;
use tfplugin::{Ctx, Diagnostics, StateOutcome};

use super::cluster::{nulls_for_unknowns, set, start, stop, timeout_of, wipe};
use super::hosts::{release_all, Hosts};
use super::join::{hand_over_token, invalidate};
use super::probe::{self, HostFacts, Marker};
use super::stage::{stage_k0s, BinarySource};
use super::{failed, succeeded, wait_for, within_limit, OpError, Step};
use crate::provider::ProviderState;
use crate::resources::controllers::{self, ControllerHost};
use crate::validate::{attr, known_i64, known_str};

const WORKER_TOKEN_EXPIRY: Duration = Duration::from_secs(600);
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// A deleted Node object gets this long to come back before k0s is restarted.
const REREGISTER_GRACE: Duration = Duration::from_secs(60);

/// The inputs of one node operation.
struct Node {
    cluster_id: String,
    version: String,
    source: BinarySource,
    address: String,
    private_address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    host_key: Option<String>,
    labels: BTreeMap<String, String>,
    taints: Vec<String>,
    drain_timeout: Duration,
    controllers: BTreeMap<String, ControllerHost>,
}

impl Node {
    fn from_value(v: &Value) -> Option<Node> {
        let text = |n: &str| known_str(attr(v, n)).map(str::to_string);
        let labels = match attr(v, "labels") {
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, v)| known_str(v).map(|s| (k.clone(), s.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let taints = match attr(v, "taints") {
            Value::List(l) => l.iter().filter_map(known_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        Some(Node {
            cluster_id: text("cluster_id")?,
            version: text("k0s_version")?,
            source: BinarySource::new(
                known_str(attr(v, "k0s_binary_path")),
                known_str(attr(v, "k0s_download_url")),
            ),
            address: text("address")?,
            private_address: text("private_address"),
            port: known_i64(attr(v, "port")).map(|p| p as u16),
            user: text("user"),
            host_key: text("host_key"),
            labels,
            taints,
            drain_timeout: text("drain_timeout")
                .and_then(|d| mke_k0s::parse_duration(&d).ok())
                .unwrap_or(Duration::from_secs(300)),
            controllers: controllers::hosts_from(attr(v, "controllers")).unwrap_or_default(),
        })
    }

    fn target(&self) -> mke_ssh::Target {
        Hosts::target(
            &self.address,
            self.port,
            self.user.as_deref(),
            self.host_key.as_deref(),
        )
    }

    fn install_flags(&self, token_file: Option<&str>, force: bool) -> InstallFlags {
        let mut f = InstallFlags::new(Role::Worker);
        f.token_file = token_file.map(str::to_string);
        f.labels = self.labels.clone();
        f.taints = self.taints.clone();
        f.kubelet_extra_args = self
            .private_address
            .as_ref()
            .map(|ip| format!("--node-ip={ip}"));
        f.force = force;
        f
    }
}

fn node_name(facts: &HostFacts) -> String {
    facts.hostname.to_lowercase()
}

/// The first controller that answers, with the host keys of every
/// controller contacted (trusted on first use when not given).
async fn reach_controller(
    hosts: &Hosts,
    node: &Node,
    timeout: Duration,
    keys: &mut BTreeMap<String, String>,
) -> Result<Arc<Host>, OpError> {
    let mut last = None;
    for (key, c) in &node.controllers {
        match hosts.connect(&Hosts::controller_target(c), timeout).await {
            Ok(h) => {
                keys.insert(key.clone(), h.host_key().to_string());
                return Ok(h);
            }
            Err(OpError::Ssh(e)) if e.is_unreachable() => last = Some(OpError::Ssh(e)),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        OpError::host(
            &node.address,
            "no controller given",
            "Set `controllers` to `mke_cluster.<name>.controllers`.",
        )
    }))
}

async fn get_node(controller: &Host, name: &str) -> Result<Option<NodeInfo>, OpError> {
    let out = controller
        .run(&Command::new(mke_k0s::cli::kubectl_get_node_json(name)))
        .await?;
    if out.status != 0 {
        if out.stderr.contains("NotFound") || out.stderr.contains("not found") {
            return Ok(None);
        }
        return Err(OpError::host(
            controller.name(),
            format!(
                "`k0s kubectl get node {name}` failed: {}",
                out.stderr.trim()
            ),
            "Check that k0s runs on the controller.",
        ));
    }
    mke_k0s::parse_node_json(&out.stdout)
        .map(Some)
        .map_err(|e| {
            OpError::host(
                controller.name(),
                format!("unexpected Node JSON: {e}"),
                "Check the k0s version.",
            )
        })
}

async fn wait_node_ready(
    ctx: &Ctx,
    controller: &Host,
    name: &str,
    timeout: Duration,
) -> Result<NodeInfo, OpError> {
    wait_for(
        ctx,
        controller.name(),
        &format!("node {name} to be Ready"),
        timeout,
        || async move { Ok(get_node(controller, name).await?.filter(|n| n.ready)) },
    )
    .await
}

fn set_controllers_keys(state: &mut Value, keys: &BTreeMap<String, String>) {
    if let Value::Object(f) = state {
        if let Some(c) = f.get_mut("controllers") {
            controllers::record_host_keys(c, keys);
        }
    }
}

/// Labels and taints on the Node: add what the plan has, remove what it no longer has.
async fn reconcile_labels_and_taints(
    controller: &Host,
    name: &str,
    want_labels: &BTreeMap<String, String>,
    had_labels: &BTreeMap<String, String>,
    want_taints: &[String],
    had_taints: &[String],
) -> Result<(), OpError> {
    let removed: Vec<String> = had_labels
        .keys()
        .filter(|k| !want_labels.contains_key(*k))
        .cloned()
        .collect();
    if let Some(cmd) = mke_k0s::cli::kubectl_label(name, want_labels, &removed) {
        controller.check(&Command::new(cmd)).await?;
    }
    let taint_key = |t: &str| t.split([':', '=']).next().unwrap_or_default().to_string();
    let gone: Vec<String> = had_taints
        .iter()
        .filter(|t| !want_taints.iter().any(|w| taint_key(w) == taint_key(t)))
        .cloned()
        .collect();
    if let Some(cmd) = mke_k0s::cli::kubectl_taint(name, want_taints, &gone) {
        controller.check(&Command::new(cmd)).await?;
    }
    Ok(())
}

pub async fn create(state: &ProviderState, ctx: &Ctx, planned: Value) -> StateOutcome {
    state.node_lists().forget().await;
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(Value::Null, e.to_diagnostics("Cannot create the node")),
    };
    let Some(node) = Node::from_value(&planned) else {
        return failed(
            Value::Null,
            OpError::host(
                "mke_node",
                "values the plan left unknown are still unknown at apply",
                "Run `terraform apply` again; if it repeats, report it as a provider bug.",
            )
            .to_diagnostics("Cannot create the node"),
        );
    };
    let limit = timeout_of(&planned, "create", Duration::from_secs(20 * 60));
    let mut new_state = planned.clone();
    let result = within_limit(
        limit,
        &node.address,
        "create",
        create_steps(&hosts, ctx, &node, &mut new_state),
    )
    .await;
    match result {
        Ok(()) => succeeded(new_state),
        Err(e) => {
            nulls_for_unknowns(&mut new_state);
            let summary = format!("Joining {} failed", node.address);
            failed(new_state, e.to_diagnostics(&summary))
        }
    }
}

async fn create_steps(
    hosts: &Hosts,
    ctx: &Ctx,
    node: &Node,
    state: &mut Value,
) -> Result<(), OpError> {
    let step = Step::start(&node.address, "connect");
    let host = hosts.connect(&node.target(), hosts.patient()).await?;
    if node.host_key.is_none() {
        set(
            state,
            "host_key",
            Value::String(host.host_key().to_string()),
        );
    }
    step.done();
    let mut keys = BTreeMap::new();
    let controller = reach_controller(hosts, node, hosts.patient(), &mut keys).await;
    set_controllers_keys(state, &keys);
    let controller = controller?;
    let lock = hosts.lock(&host).await?;
    let result = async {
        let facts = probe::probe(&host).await?;
        let cluster = probe::read_marker(&controller).await?;
        let cluster_name = match cluster {
            Some(m) if m.id == node.cluster_id => m.cluster,
            Some(m) => {
                return Err(OpError::host(
                    controller.name(),
                    format!(
                        "this controller belongs to cluster {} (id {}), not to cluster_id {}",
                        m.cluster, m.id, node.cluster_id
                    ),
                    "Pass the controllers of the cluster the node should join.",
                ))
            }
            None => {
                return Err(OpError::host(
                    controller.name(),
                    "this host is not a controller installed by the mke provider",
                    "Pass `mke_cluster.<name>.controllers`.",
                ))
            }
        };
        match &facts.marker {
            Some(m) if m.id != node.cluster_id => {
                return Err(OpError::host(
                    host.name(),
                    format!("the host belongs to the MKE cluster \"{}\"", m.cluster),
                    "Remove it from that cluster first, or pick another machine.",
                ))
            }
            None if facts.installed() => {
                return Err(OpError::host(
                    host.name(),
                    "k0s is already installed on this host, by something other than this provider",
                    "Wipe it (`k0s stop; k0s reset`) or import the node.",
                ))
            }
            _ => {}
        }
        stage_k0s(&host, &facts, &node.version, &node.source, READY_TIMEOUT).await?;
        probe::write_marker(
            &host,
            &Marker {
                cluster: cluster_name,
                id: node.cluster_id.clone(),
                role: "worker".into(),
            },
        )
        .await?;

        let step = Step::start(host.name(), "join worker");
        let token = hand_over_token(&controller, &host, Role::Worker, WORKER_TOKEN_EXPIRY).await?;
        let token_path = mke_k0s::JOIN_TOKEN_PATH;
        let joined = async {
            host.check(&Command::new(mke_k0s::install_command(
                &node.install_flags(Some(token_path), true),
            )))
            .await?;
            start(&host).await?;
            wait_node_ready(ctx, &controller, &node_name(&facts), READY_TIMEOUT).await
        }
        .await;
        invalidate(&controller, &token).await;
        joined?;
        host.check(&Command::new(mke_k0s::install_command(
            &node.install_flags(None, true),
        )))
        .await?;
        host.check(&Command::new(format!("rm -f {token_path}")))
            .await?;
        step.done();
        let name = node_name(&facts);
        set(state, "node_name", Value::String(name.clone()));
        set(
            state,
            "id",
            Value::String(format!("{}/{name}", node.cluster_id)),
        );
        set(state, "status", Value::String("running".into()));
        Ok(())
    }
    .await;
    lock.release().await;
    result
}

/// The Node objects of the cluster, fetched once for every `mke_node`
/// refreshed at about the same time: a refresh of 50 nodes then costs the
/// controller one `kubectl get nodes` instead of 50 round trips.
#[derive(Default)]
pub struct NodeLists {
    by_controller: tokio::sync::Mutex<BTreeMap<String, Listing>>,
}

/// When a controller's nodes were listed, and what they were.
type Listing = (std::time::Instant, Arc<BTreeMap<String, NodeInfo>>);

/// How long one listing serves later reads: a whole refresh. Terraform runs
/// a refresh in a provider process of its own, and every change to a node
/// made by this process forgets the listings.
const NODE_LIST_FRESH: Duration = Duration::from_secs(60);

impl NodeLists {
    pub async fn forget(&self) {
        self.by_controller.lock().await.clear();
    }

    pub async fn lookup(&self, controller: &Host, name: &str) -> Result<Option<NodeInfo>, OpError> {
        // Held across the fetch, so concurrent reads wait for one listing.
        let mut cache = self.by_controller.lock().await;
        if let Some((at, nodes)) = cache.get(controller.name()) {
            if at.elapsed() < NODE_LIST_FRESH {
                return Ok(nodes.get(name).cloned());
            }
        }
        let nodes = Arc::new(list_nodes(controller).await?);
        cache.insert(
            controller.name().to_string(),
            (std::time::Instant::now(), nodes.clone()),
        );
        Ok(nodes.get(name).cloned())
    }
}

async fn list_nodes(controller: &Host) -> Result<BTreeMap<String, NodeInfo>, OpError> {
    let out = controller
        .check(&Command::new(format!(
            "{} kubectl get nodes -o json",
            mke_k0s::K0S_BINARY_PATH
        )))
        .await?;
    let bad = |e: String| {
        OpError::host(
            controller.name(),
            format!("unexpected node list: {e}"),
            "Check k0s on the controller.",
        )
    };
    let list: serde_json::Value = serde_json::from_str(&out).map_err(|e| bad(e.to_string()))?;
    let mut nodes = BTreeMap::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let info = mke_k0s::parse_node_json(&item.to_string()).map_err(|e| bad(e.to_string()))?;
        nodes.insert(info.name.clone(), info);
    }
    Ok(nodes)
}

pub async fn read(
    state: &ProviderState,
    _ctx: &Ctx,
    current: Value,
    private: Vec<u8>,
) -> StateOutcome {
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(current, e.to_diagnostics("Cannot read the node")),
    };
    let Some(node) = Node::from_value(&current) else {
        return StateOutcome {
            state: current,
            private,
            diagnostics: Diagnostics::new(),
        };
    };
    let mut d = Diagnostics::new();
    let mut new_state = current.clone();
    let name = known_str(attr(&current, "node_name"))
        .unwrap_or_default()
        .to_string();
    // The host and the controller are asked at the same time.
    let host_side = async {
        let host = hosts.connect(&node.target(), hosts.quick()).await?;
        probe::probe(&host).await
    };
    let cluster_side = async {
        if node.controllers.is_empty() || name.is_empty() {
            return Ok(None);
        }
        let mut keys = BTreeMap::new();
        let controller = reach_controller(&hosts, &node, hosts.quick(), &mut keys).await?;
        let info = state.node_lists().lookup(&controller, &name).await?;
        Ok::<_, OpError>(Some((info, keys)))
    };
    let (facts, seen) = tokio::join!(host_side, cluster_side);
    let status = match &facts {
        Err(e) => {
            d.warning(
                format!("Node {} is unreachable", node.address),
                format!("{e}\n\nIts state is kept; the plan shows it as `unreachable`."),
            );
            "unreachable"
        }
        Ok(f) if !f.installed() && f.binary_version.is_none() => {
            tracing::info!(
                host = node.address.as_str(),
                "k0s is gone from the host; removing mke_node from state"
            );
            return StateOutcome {
                state: Value::Null,
                private,
                diagnostics: d,
            };
        }
        Ok(f) => {
            if let Some(v) = f
                .status
                .as_ref()
                .map(|s| s.version.clone())
                .or(f.binary_version.clone())
            {
                if v != node.version {
                    set(&mut new_state, "k0s_version", Value::String(v));
                }
            }
            f.status_word()
        }
    };
    let status = match seen {
        Ok(Some((found, keys))) => {
            set_controllers_keys(&mut new_state, &keys);
            match found {
                Some(info) => {
                    // Only the keys this resource manages are compared.
                    let labels: BTreeMap<String, Value> = node
                        .labels
                        .keys()
                        .filter_map(|k| {
                            info.labels
                                .get(k)
                                .map(|v| (k.clone(), Value::String(v.clone())))
                        })
                        .collect();
                    if !node.labels.is_empty() || !attr(&current, "labels").is_null() {
                        set(&mut new_state, "labels", Value::Map(labels));
                    }
                    let present: Vec<String> = info.taints.iter().map(|t| t.to_string()).collect();
                    let taints: Vec<Value> = node
                        .taints
                        .iter()
                        .filter(|t| present.contains(t))
                        .map(|t| Value::String(t.clone()))
                        .collect();
                    if !node.taints.is_empty() {
                        set(&mut new_state, "taints", Value::List(taints));
                    }
                    status
                }
                None if status == "running" => "unregistered",
                None => status,
            }
        }
        Ok(None) => status,
        Err(e) => {
            d.warning(
                "No controller answered",
                format!("{e}\n\nLabels, taints and registration were not checked."),
            );
            status
        }
    };
    set(&mut new_state, "status", Value::String(status.into()));
    StateOutcome {
        state: new_state,
        private,
        diagnostics: d,
    }
}

pub async fn update(
    state: &ProviderState,
    ctx: &Ctx,
    prior: Value,
    planned: Value,
) -> StateOutcome {
    state.node_lists().forget().await;
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(prior, e.to_diagnostics("Cannot update the node")),
    };
    let (Some(before), Some(after)) = (Node::from_value(&prior), Node::from_value(&planned)) else {
        return StateOutcome {
            state: planned,
            private: Vec::new(),
            diagnostics: Diagnostics::new(),
        };
    };
    let limit = timeout_of(&planned, "update", Duration::from_secs(30 * 60));
    let mut new_state = planned.clone();
    let drains = state.drains();
    let result = within_limit(
        limit,
        &after.address,
        "update",
        update_steps(&hosts, ctx, &prior, &before, &after, &mut new_state, drains),
    )
    .await;
    match result {
        Ok(()) => succeeded(new_state),
        Err(e) => failed(
            prior,
            e.to_diagnostics(&format!("Updating {} failed", after.address)),
        ),
    }
}

async fn update_steps(
    hosts: &Hosts,
    ctx: &Ctx,
    prior: &Value,
    before: &Node,
    after: &Node,
    state: &mut Value,
    drains: Arc<tokio::sync::Semaphore>,
) -> Result<(), OpError> {
    let name = known_str(attr(prior, "node_name"))
        .unwrap_or_default()
        .to_string();
    let status = known_str(attr(prior, "status")).unwrap_or("running");
    let labels_changed = before.labels != after.labels || before.taints != after.taints;
    let upgrade = before.version != after.version;
    if !labels_changed && !upgrade && status == "running" {
        // Only `controllers` or configuration-side values changed: recorded only.
        return Ok(());
    }
    let host = hosts.connect(&after.target(), hosts.patient()).await?;
    let mut keys = BTreeMap::new();
    let controller = reach_controller(hosts, after, hosts.patient(), &mut keys).await?;
    set_controllers_keys(state, &keys);
    let locks = vec![hosts.lock(&host).await?];
    let result = async {
        let facts = probe::probe(&host).await?;
        if upgrade {
            let step = Step::start(host.name(), "drain and upgrade worker");
            let _permit = drains.acquire().await.expect("drain semaphore");
            controller
                .check(&Command::new(mke_k0s::cli::kubectl_cordon(&name)))
                .await?;
            drain(&controller, &name, after.drain_timeout).await?;
            stage_k0s(&host, &facts, &after.version, &after.source, READY_TIMEOUT).await?;
            stop(&host).await?;
            host.check(&Command::new(mke_k0s::install_command(
                &after.install_flags(None, true),
            )))
            .await?;
            start(&host).await?;
            wait_node_ready(ctx, &controller, &name, READY_TIMEOUT).await?;
            controller
                .check(&Command::new(mke_k0s::cli::kubectl_uncordon(&name)))
                .await?;
            step.done();
        } else if !facts.running() {
            let step = Step::start(host.name(), "start stopped worker");
            start(&host).await?;
            wait_node_ready(ctx, &controller, &name, READY_TIMEOUT).await?;
            step.done();
        }
        let mut info = get_node(&controller, &name).await?;
        if info.is_none() {
            let step = Step::start(host.name(), "wait for the Node to register again");
            let back = wait_for(
                ctx,
                controller.name(),
                &format!("node {name} to register"),
                REREGISTER_GRACE,
                || get_node(&controller, &name),
            )
            .await;
            info = match back {
                Ok(n) => Some(n),
                Err(OpError::Timeout { .. }) => {
                    // A kubelet registers at start only: restart k0s on the host.
                    stop(&host).await?;
                    start(&host).await?;
                    Some(wait_node_ready(ctx, &controller, &name, READY_TIMEOUT).await?)
                }
                Err(e) => return Err(e),
            };
            step.done();
        }
        let info = info.expect("node info");
        let had_labels: BTreeMap<String, String> = before
            .labels
            .keys()
            .filter_map(|k| info.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        let had_taints: Vec<String> = info
            .taints
            .iter()
            .map(|t| t.to_string())
            .filter(|t| before.taints.contains(t))
            .collect();
        reconcile_labels_and_taints(
            &controller,
            &name,
            &after.labels,
            &had_labels,
            &after.taints,
            &had_taints,
        )
        .await?;
        if labels_changed && !upgrade {
            // The unit carries the current labels and taints, so a Node that
            // registers again gets them. k0s reads them at start only: no restart.
            host.check(&Command::new(mke_k0s::install_command(
                &after.install_flags(None, true),
            )))
            .await?;
        }
        set(state, "status", Value::String("running".into()));
        Ok(())
    }
    .await;
    release_all(locks).await;
    result
}

async fn drain(controller: &Host, name: &str, timeout: Duration) -> Result<(), OpError> {
    let cmd = Command::new(mke_k0s::cli::kubectl_drain(name, timeout))
        .timeout(timeout + Duration::from_secs(60));
    match controller.check(&cmd).await {
        Ok(_) => Ok(()),
        Err(mke_ssh::SshError::CommandFailed { stderr_tail, .. }) => Err(OpError::host(
            controller.name(),
            format!("draining node {name} did not finish within drain_timeout: {}", stderr_tail.trim()),
            format!(
                "Pods that cannot be evicted (PodDisruptionBudgets, unreplicated pods) block the drain. \
                 Raise `drain_timeout`, or move those pods yourself (`k0s kubectl drain {name} --disable-eviction --force` \
                 on a controller), then apply again. The node stays in state until it is removed."
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(state: &ProviderState, _ctx: &Ctx, prior: Value) -> Diagnostics {
    state.node_lists().forget().await;
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return e.to_diagnostics("Cannot delete the node"),
    };
    let Some(node) = Node::from_value(&prior) else {
        return Diagnostics::new();
    };
    let name = known_str(attr(&prior, "node_name"))
        .unwrap_or_default()
        .to_string();
    let mut d = Diagnostics::new();
    let host = hosts.connect(&node.target(), hosts.quick()).await;
    let mut keys = BTreeMap::new();
    let controller = reach_controller(&hosts, &node, hosts.quick(), &mut keys).await;
    match (&host, &controller) {
        (_, Err(e)) => d.warning(
            "No controller answered; the Node object was not deleted",
            format!("{e}\n\nDelete it later with `k0s kubectl delete node {name}` on a controller."),
        ),
        (Ok(_), Ok(c)) if !name.is_empty() => {
            let _permit = state.drains().acquire_owned().await.expect("drain semaphore");
            let step = Step::start(c.name(), "drain node");
            if let Err(e) = drain(c, &name, node.drain_timeout).await {
                return e.to_diagnostics(&format!("Draining {name} failed"));
            }
            step.done();
        }
        (Err(e), Ok(_)) => d.warning(
            format!("Node {} is unreachable; it was not drained", node.address),
            format!("{e}\n\nA dead kubelet's pods never finish draining, so the Node object is deleted without a drain. Wipe k0s from the machine by hand if it comes back."),
        ),
        _ => {}
    }
    if let (Ok(c), false) = (&controller, name.is_empty()) {
        if let Err(e) = c
            .check(&Command::new(mke_k0s::cli::kubectl_delete_node(&name)))
            .await
        {
            return OpError::from(e).to_diagnostics(&format!("Deleting Node {name} failed"));
        }
    }
    if let Ok(h) = host {
        let lock = match hosts.lock(&h).await {
            Ok(l) => l,
            Err(e) => return e.to_diagnostics("Cannot delete the node"),
        };
        let r = wipe(&h).await;
        lock.release().await;
        if let Err(e) = r {
            d.extend(e.to_diagnostics(&format!("Wiping {} failed", node.address)));
        }
    }
    d
}

/// `<address>[:<port>]`
pub fn parse_import_id(id: &str) -> Result<(String, Option<u16>), String> {
    let id = id.trim();
    if id.is_empty() || id.contains(',') || id.contains('=') {
        return Err(format!("\"{id}\" is not <address>[:<port>]"));
    }
    match id.rsplit_once(':') {
        Some((a, p)) => Ok((
            a.to_string(),
            Some(p.parse().map_err(|_| format!("\"{p}\" is not a port"))?),
        )),
        None => Ok((id.to_string(), None)),
    }
}

pub async fn import(state: &ProviderState, _ctx: &Ctx, id: &str) -> StateOutcome {
    let summary = "Cannot import the node";
    let (address, port) = match parse_import_id(id) {
        Ok(t) => t,
        Err(e) => {
            let mut d = Diagnostics::new();
            d.error(
                summary,
                format!("{e}. The import ID of mke_node is the machine's <address>[:<port>]."),
            );
            return failed(Value::Null, d);
        }
    };
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(Value::Null, e.to_diagnostics(summary)),
    };
    let result = async {
        let host = hosts
            .connect(&Hosts::target(&address, port, None, None), hosts.patient())
            .await?;
        let f = probe::probe(&host).await?;
        let marker = f
            .marker
            .clone()
            .filter(|m| m.role == "worker")
            .ok_or_else(|| {
                OpError::host(
                    host.name(),
                    "this host has no worker installed by the mke provider (/etc/k0s/mke.json)",
                    "Check the address.",
                )
            })?;
        let unit = f.unit.clone();
        let labels = unit.as_ref().map(|u| u.labels()).unwrap_or_default();
        let taints = unit.as_ref().map(|u| u.taints()).unwrap_or_default();
        let private_address = unit
            .as_ref()
            .and_then(|u| u.kubelet_extra_args().map(str::to_string))
            .and_then(|a| {
                a.split_whitespace()
                    .find_map(|w| w.strip_prefix("--node-ip=").map(str::to_string))
            });
        let name = node_name(&f);
        let version = f
            .status
            .as_ref()
            .map(|s| s.version.clone())
            .or(f.binary_version.clone())
            .unwrap_or_default();
        let text = |s: String| Value::String(s);
        Ok::<Value, OpError>(Value::Object(BTreeMap::from([
            ("cluster_id".to_string(), text(marker.id.clone())),
            ("controllers".to_string(), Value::Null),
            ("k0s_version".to_string(), text(version)),
            ("k0s_binary_path".to_string(), Value::Null),
            ("k0s_download_url".to_string(), Value::Null),
            ("address".to_string(), text(address.clone())),
            (
                "private_address".to_string(),
                private_address.map(Value::String).unwrap_or(Value::Null),
            ),
            (
                "port".to_string(),
                port.map(|p| Value::from(p as i64)).unwrap_or(Value::Null),
            ),
            ("user".to_string(), Value::Null),
            ("host_key".to_string(), text(host.host_key().to_string())),
            (
                "labels".to_string(),
                if labels.is_empty() {
                    Value::Null
                } else {
                    Value::Map(
                        labels
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    )
                },
            ),
            (
                "taints".to_string(),
                if taints.is_empty() {
                    Value::Null
                } else {
                    Value::List(taints.into_iter().map(Value::String).collect())
                },
            ),
            ("drain_timeout".to_string(), Value::Null),
            ("timeouts".to_string(), Value::Null),
            ("id".to_string(), text(format!("{}/{name}", marker.id))),
            ("node_name".to_string(), text(name)),
            ("status".to_string(), text(f.status_word().to_string())),
        ])))
    }
    .await;
    match result {
        Ok(v) => StateOutcome {
            state: v,
            private: Vec::new(),
            diagnostics: Diagnostics::new(),
        },
        Err(e) => failed(Value::Null, e.to_diagnostics(summary)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_id_is_one_address_with_an_optional_port() {
        assert_eq!(
            parse_import_id("10.0.0.5").unwrap(),
            ("10.0.0.5".into(), None)
        );
        assert_eq!(
            parse_import_id("10.0.0.5:2222").unwrap(),
            ("10.0.0.5".into(), Some(2222))
        );
        assert!(parse_import_id("w1=10.0.0.5").is_err());
        assert!(parse_import_id("10.0.0.5:x")
            .unwrap_err()
            .contains("not a port"));
    }
}
