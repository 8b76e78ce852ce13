//! `mke_cluster` on the hosts. Each phase is a named step:
//!
//! create: connect → lock → preflight → stage k0s → write config → install
//! leader → join controllers (one at a time) → collect outputs.
//! read: probe every controller (one round trip each) → record drift.
//! update: reconcile each controller toward the plan, one at a time.
//! delete: stop, reset and clean every controller.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mke_k0s::{InstallFlags, Role};
use mke_ssh::{Command, Host};
use tfplugin::tfvalue::Value;
use tfplugin::{Ctx, Diagnostics, StateOutcome};

use super::hosts::{release_all, HostLock, Hosts};
use super::join::{hand_over_token, invalidate};
use super::probe::{self, HostFacts, Marker};
use super::stage::{stage_k0s, BinarySource};
use super::{failed, succeeded, wait_for, within_limit, OpError, Step};
use crate::provider::ProviderState;
use crate::resources::controllers::{self, ControllerHost};
use crate::validate::{attr, known_str};

mod import;
mod read;
pub use import::{import, parse_import_id};
pub use read::read;

const CONTROLLER_TOKEN_EXPIRY: Duration = Duration::from_secs(3600);
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// The inputs of one cluster operation, read from the planned (or stored) value.
struct Cluster {
    name: String,
    version: String,
    source: BinarySource,
    controllers: BTreeMap<String, ControllerHost>,
    k0s_config: String,
    api_endpoint: String,
}

impl Cluster {
    fn from_value(v: &Value) -> Option<Cluster> {
        let text = |n: &str| known_str(attr(v, n)).map(str::to_string);
        Some(Cluster {
            name: text("name")?,
            version: text("k0s_version")?,
            source: BinarySource::new(
                known_str(attr(v, "k0s_binary_path")),
                known_str(attr(v, "k0s_download_url")),
            ),
            controllers: controllers::hosts_from(attr(v, "controllers"))?,
            k0s_config: text("k0s_config")?,
            api_endpoint: text("api_endpoint")?,
        })
    }

    /// Controller keys, the leader (first of `controller_addresses`) first.
    fn ordered_keys(&self, state: &Value) -> Vec<String> {
        let leader = match attr(state, "controller_addresses") {
            Value::List(l) => l.first().and_then(known_str).map(str::to_string),
            _ => None,
        };
        let mut keys: Vec<String> = self.controllers.keys().cloned().collect();
        if let Some(leader) = leader {
            if let Some(pos) = keys
                .iter()
                .position(|k| self.controllers[k].address == leader)
            {
                let k = keys.remove(pos);
                keys.insert(0, k);
            }
        }
        keys
    }
}

pub(crate) fn timeout_of(v: &Value, op: &str, default: Duration) -> Duration {
    known_str(attr(attr(v, "timeouts"), op))
        .and_then(|t| mke_k0s::parse_duration(t).ok())
        .unwrap_or(default)
}

pub(crate) fn set(v: &mut Value, name: &str, value: Value) {
    if let Value::Object(f) = v {
        f.insert(name.to_string(), value);
    }
}

/// Terraform needs every value known after apply; what a failed run did not
/// learn is saved as null.
pub(crate) fn nulls_for_unknowns(v: &mut Value) {
    match v {
        Value::Unknown => *v = Value::Null,
        Value::Object(f) | Value::Map(f) => f.values_mut().for_each(nulls_for_unknowns),
        Value::List(l) | Value::Set(l) | Value::Tuple(l) => {
            l.iter_mut().for_each(nulls_for_unknowns)
        }
        _ => {}
    }
}

fn statuses(keys: impl Iterator<Item = (String, &'static str)>) -> Value {
    Value::Map(
        keys.map(|(k, s)| (k, Value::String(s.to_string())))
            .collect(),
    )
}

/// Connects to every controller in parallel and records the host keys
/// presented on first contact into `state`.
async fn connect_all(
    hosts: &Hosts,
    cluster: &Cluster,
    state: &mut Value,
    timeout: Duration,
) -> Result<BTreeMap<String, Arc<Host>>, OpError> {
    let items: Vec<(String, ControllerHost)> = cluster.controllers.clone().into_iter().collect();
    let results = hosts
        .each(items, |(key, c)| {
            let hosts = hosts.clone();
            async move {
                let step = Step::start(&c.address, "connect");
                let r = hosts.connect(&Hosts::controller_target(&c), timeout).await;
                if r.is_ok() {
                    step.done();
                }
                (key, r)
            }
        })
        .await;
    let mut connected = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut first_error = None;
    for (key, r) in results {
        match r {
            Ok(h) => {
                keys.insert(key.clone(), h.host_key().to_string());
                connected.insert(key, h);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Value::Object(f) = state {
        if let Some(c) = f.get_mut("controllers") {
            controllers::record_host_keys(c, &keys);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(connected),
    }
}

async fn lock_all(
    hosts: &Hosts,
    connected: &BTreeMap<String, Arc<Host>>,
) -> Result<Vec<HostLock>, OpError> {
    let mut locks = Vec::new();
    for host in connected.values() {
        match hosts.lock(host).await {
            Ok(l) => locks.push(l),
            Err(e) => {
                release_all(locks).await;
                return Err(e);
            }
        }
    }
    Ok(locks)
}

async fn probe_all(
    hosts: &Hosts,
    connected: &BTreeMap<String, Arc<Host>>,
) -> Result<BTreeMap<String, HostFacts>, OpError> {
    let items: Vec<(String, Arc<Host>)> = connected.clone().into_iter().collect();
    let results = hosts
        .each(items, |(key, host)| async move {
            (key, probe::probe(&host).await)
        })
        .await;
    let mut out = BTreeMap::new();
    for (key, r) in results {
        out.insert(key, r?);
    }
    Ok(out)
}

/// Refuses a host that belongs to another cluster or runs k0s we did not install.
fn preflight(host: &Host, facts: &HostFacts, cluster_name: &str) -> Result<(), OpError> {
    match &facts.marker {
        Some(m) if m.cluster != cluster_name => Err(OpError::host(
            host.name(),
            format!("the host belongs to the MKE cluster \"{}\" (/etc/k0s/mke.json)", m.cluster),
            "Remove it from that cluster first, or pick another machine.",
        )),
        None if facts.installed() || facts.running() => Err(OpError::host(
            host.name(),
            "k0s is already installed on this host, by something other than this provider",
            "Wipe it (`k0s stop; k0s reset`) or import the existing cluster with `terraform import`.",
        )),
        _ if mke_k0s::download_arch(&facts.arch).is_none() => Err(OpError::host(
            host.name(),
            format!("unsupported architecture {:?}", facts.arch),
            "k0s runs on x86_64, aarch64 and armv7l.",
        )),
        _ => Ok(()),
    }
}

async fn write_config(host: &Host, cluster: &Cluster, c: &ControllerHost) -> Result<(), OpError> {
    let yaml =
        mke_k0s::host_config(&cluster.k0s_config, c.private_address.as_deref()).map_err(|e| {
            OpError::host(
                host.name(),
                format!("cannot build its k0s.yaml: {e}"),
                "Check k0s_config_overrides.",
            )
        })?;
    let path = mke_k0s::K0S_CONFIG_PATH;
    host.check(
        &Command::new(format!(
            "mkdir -p /etc/k0s && cat > {path}.tmp && mv -f {path}.tmp {path}"
        ))
        .stdin(yaml.into_bytes())
        .display(format!("write {path}")),
    )
    .await?;
    Ok(())
}

fn install_flags(c: &ControllerHost, token_file: Option<&str>, force: bool) -> InstallFlags {
    let mut f = InstallFlags::new(Role::Controller);
    f.config = Some(mke_k0s::K0S_CONFIG_PATH.to_string());
    f.enable_worker = c.workloads();
    f.no_taints = c.workloads();
    f.token_file = token_file.map(str::to_string);
    f.force = force;
    f
}

/// `k0s start`, where "already running" is success.
pub(crate) async fn start(host: &Host) -> Result<(), OpError> {
    let out = host.run(&Command::new(mke_k0s::cli::start())).await?;
    if out.status == 0 || out.stderr.contains("already running") {
        return Ok(());
    }
    Err(OpError::host(
        host.name(),
        format!("`k0s start` failed: {}", out.stderr.trim()),
        "Look at the k0s service log on the host (journalctl -u k0scontroller).",
    ))
}

/// `k0s stop`, where "already stopped" is success.
pub(crate) async fn stop(host: &Host) -> Result<(), OpError> {
    let out = host.run(&Command::new(mke_k0s::cli::stop())).await?;
    if out.status == 0
        || out.stderr.contains("already stopped")
        || out.stderr.contains("failed state")
    {
        return Ok(());
    }
    Err(OpError::host(
        host.name(),
        format!("`k0s stop` failed: {}", out.stderr.trim()),
        "Stop k0s by hand, then apply again.",
    ))
}

async fn wait_ready(ctx: &Ctx, host: &Host) -> Result<(), OpError> {
    let script = format!(
        "timeout 20 {k0s} status -o json >/dev/null 2>&1 && {readyz}",
        k0s = mke_k0s::K0S_BINARY_PATH,
        readyz = mke_k0s::cli::kubectl_readyz()
    );
    wait_for(
        ctx,
        host.name(),
        "the Kubernetes API to be ready",
        READY_TIMEOUT,
        || {
            let cmd = Command::new(script.clone())
                .timeout(Duration::from_secs(40))
                .display("k0s status && readyz");
            async move {
                let out = host.run(&cmd).await?;
                Ok((out.status == 0 && out.stdout.trim() == "ok").then_some(()))
            }
        },
    )
    .await
}

async fn install_leader(
    ctx: &Ctx,
    host: &Host,
    cluster: &Cluster,
    c: &ControllerHost,
) -> Result<String, OpError> {
    let step = Step::start(host.name(), "install leader controller");
    host.check(&Command::new(mke_k0s::install_command(&install_flags(
        c, None, false,
    ))))
    .await?;
    start(host).await?;
    wait_ready(ctx, host).await?;
    let uid = host
        .check(&Command::new(mke_k0s::cli::kube_system_uid()))
        .await?
        .trim()
        .to_string();
    probe::write_marker(
        host,
        &Marker {
            cluster: cluster.name.clone(),
            id: uid.clone(),
            role: "controller".into(),
        },
    )
    .await?;
    step.done();
    Ok(uid)
}

/// Joins one controller with a token minted on `leader`. The token reaches
/// the host on stdin and is invalidated and removed once it has joined, and
/// the service is reinstalled without `--token-file` so restarts work.
async fn join_controller(
    ctx: &Ctx,
    leader: &Host,
    host: &Host,
    cluster: &Cluster,
    c: &ControllerHost,
    id: &str,
) -> Result<(), OpError> {
    let step = Step::start(host.name(), "join controller");
    let token = hand_over_token(leader, host, Role::Controller, CONTROLLER_TOKEN_EXPIRY).await?;
    let token_path = mke_k0s::JOIN_TOKEN_PATH;
    host.check(&Command::new(mke_k0s::install_command(&install_flags(
        c,
        Some(token_path),
        true,
    ))))
    .await?;
    start(host).await?;
    let joined = wait_ready(ctx, host).await;
    // Whatever happened, the token must not stay valid.
    invalidate(leader, &token).await;
    joined?;
    host.check(&Command::new(mke_k0s::install_command(&install_flags(
        c, None, true,
    ))))
    .await?;
    host.check(&Command::new(format!("rm -f {token_path}")))
        .await?;
    probe::write_marker(
        host,
        &Marker {
            cluster: cluster.name.clone(),
            id: id.to_string(),
            role: "controller".into(),
        },
    )
    .await?;
    step.done();
    Ok(())
}

/// kubeconfig (server = api_endpoint) and CA, from the leader.
async fn outputs(host: &Host, cluster: &Cluster) -> Result<(String, String), OpError> {
    let step = Step::start(host.name(), "read admin kubeconfig");
    let admin = host
        .check(&Command::new(mke_k0s::cli::kubeconfig_admin()).display("k0s kubeconfig admin"))
        .await?;
    let bad = |e: mke_k0s::ParseError| {
        OpError::host(
            host.name(),
            format!("unexpected kubeconfig: {e}"),
            "Check k0s on the leader.",
        )
    };
    let kubeconfig = mke_k0s::kubeconfig_with_server(&admin, &cluster.api_endpoint).map_err(bad)?;
    let ca = mke_k0s::parse_kubeconfig(&admin)
        .map_err(bad)?
        .ca_certificate;
    step.done();
    Ok((kubeconfig, ca))
}

pub async fn create(state: &ProviderState, ctx: &Ctx, planned: Value) -> StateOutcome {
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(Value::Null, e.to_diagnostics("Cannot create the cluster")),
    };
    let Some(cluster) = Cluster::from_value(&planned) else {
        return failed(
            Value::Null,
            OpError::host(
                "mke_cluster",
                "values the plan left unknown are still unknown at apply",
                "Run `terraform apply` again; if it repeats, report it as a provider bug.",
            )
            .to_diagnostics("Cannot create the cluster"),
        );
    };
    let limit = timeout_of(&planned, "create", Duration::from_secs(30 * 60));
    let mut new_state = planned.clone();
    let result = within_limit(
        limit,
        "the cluster",
        "create",
        create_steps(&hosts, ctx, &cluster, &mut new_state),
    )
    .await;
    match result {
        Ok(()) => succeeded(new_state),
        Err(e) => {
            // Keep what was done: Terraform saves it tainted, and the next
            // apply resets these hosts and installs again.
            nulls_for_unknowns(&mut new_state);
            failed(new_state, e.to_diagnostics("Creating the cluster failed"))
        }
    }
}

async fn create_steps(
    hosts: &Hosts,
    ctx: &Ctx,
    cluster: &Cluster,
    state: &mut Value,
) -> Result<(), OpError> {
    let connected = connect_all(hosts, cluster, state, hosts.patient()).await?;
    let locks = lock_all(hosts, &connected).await?;
    let result = async {
        let facts = probe_all(hosts, &connected).await?;
        for (key, host) in &connected {
            preflight(host, &facts[key], &cluster.name)?;
        }
        let items: Vec<String> = connected.keys().cloned().collect();
        let staged = hosts
            .each(items, |key| {
                let host = connected[&key].clone();
                let f = facts[&key].clone();
                let c = cluster.controllers[&key].clone();
                async move {
                    stage_k0s(&host, &f, &cluster.version, &cluster.source, READY_TIMEOUT).await?;
                    let step = Step::start(host.name(), "write k0s.yaml");
                    write_config(&host, cluster, &c).await?;
                    probe::write_marker(
                        &host,
                        &Marker {
                            cluster: cluster.name.clone(),
                            id: String::new(),
                            role: "controller".into(),
                        },
                    )
                    .await?;
                    step.done();
                    Ok::<(), OpError>(())
                }
            })
            .await;
        staged.into_iter().collect::<Result<Vec<()>, OpError>>()?;

        let keys = cluster.ordered_keys(state);
        let leader_key = &keys[0];
        let leader = &connected[leader_key];
        let id = install_leader(ctx, leader, cluster, &cluster.controllers[leader_key]).await?;
        set(state, "id", Value::String(id.clone()));
        let mut status: BTreeMap<String, &'static str> =
            keys.iter().map(|k| (k.clone(), "absent")).collect();
        status.insert(leader_key.clone(), "running");
        for key in &keys[1..] {
            set(state, "host_status", statuses(status.clone().into_iter()));
            join_controller(
                ctx,
                leader,
                &connected[key],
                cluster,
                &cluster.controllers[key],
                &id,
            )
            .await?;
            status.insert(key.clone(), "running");
        }
        set(state, "host_status", statuses(status.into_iter()));
        let (kubeconfig, ca) = outputs(leader, cluster).await?;
        set(state, "kubeconfig", Value::String(kubeconfig));
        set(state, "ca_certificate", Value::String(ca));
        Ok(())
    }
    .await;
    release_all(locks).await;
    result
}

pub async fn update(
    state: &ProviderState,
    ctx: &Ctx,
    prior: Value,
    planned: Value,
) -> StateOutcome {
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(prior, e.to_diagnostics("Cannot update the cluster")),
    };
    let (Some(before), Some(after)) = (Cluster::from_value(&prior), Cluster::from_value(&planned))
    else {
        // Only configuration-side values (after import) change: nothing to do on hosts.
        return StateOutcome {
            state: planned,
            private: Vec::new(),
            diagnostics: Diagnostics::new(),
        };
    };
    let limit = timeout_of(&planned, "update", Duration::from_secs(60 * 60));
    let mut new_state = planned.clone();
    let result = within_limit(
        limit,
        "the cluster",
        "update",
        update_steps(&hosts, ctx, &prior, &before, &after, &mut new_state),
    )
    .await;
    match result {
        Ok(()) => succeeded(new_state),
        Err(e) => {
            // The state reached so far: the next apply carries on from it.
            let mut partial = prior.clone();
            set(
                &mut partial,
                "controllers",
                attr(&new_state, "controllers").clone(),
            );
            nulls_for_unknowns(&mut partial);
            failed(partial, e.to_diagnostics("Updating the cluster failed"))
        }
    }
}

fn by_address(c: &Cluster) -> BTreeMap<String, (String, ControllerHost)> {
    c.controllers
        .iter()
        .map(|(k, v)| (v.address.clone(), (k.clone(), v.clone())))
        .collect()
}

async fn update_steps(
    hosts: &Hosts,
    ctx: &Ctx,
    prior: &Value,
    before: &Cluster,
    after: &Cluster,
    state: &mut Value,
) -> Result<(), OpError> {
    let connected = connect_all(hosts, after, state, hosts.patient()).await?;
    let locks = lock_all(hosts, &connected).await?;
    let result = async {
        let facts = probe_all(hosts, &connected).await?;
        for (key, host) in &connected {
            preflight(host, &facts[key], &after.name)?;
        }
        let id = known_str(attr(prior, "id")).unwrap_or_default().to_string();
        let keys = after.ordered_keys(state);
        let old = by_address(before);
        // Installed controllers first: upgrade, reconfigure or start them.
        let mut running: Vec<String> = Vec::new();
        for key in &keys {
            let host = &connected[key];
            let c = &after.controllers[key];
            let f = &facts[key];
            if !f.installed() {
                continue;
            }
            let running_version = f
                .status
                .as_ref()
                .map(|s| s.version.clone())
                .or(f.binary_version.clone());
            let upgrade = running_version.as_deref() != Some(after.version.as_str());
            let wanted = mke_k0s::host_config(&after.k0s_config, c.private_address.as_deref()).ok();
            let reconfigure = match (&f.config, &wanted) {
                (Some(found), Some(w)) => !mke_k0s::configs_equal(found, w),
                _ => true,
            };
            let reinstall = f
                .unit
                .as_ref()
                .is_some_and(|u| u.workloads() != c.workloads());
            if upgrade || reconfigure || reinstall {
                let step = Step::start(
                    host.name(),
                    if upgrade {
                        "upgrade controller"
                    } else {
                        "reconfigure controller"
                    },
                );
                if upgrade {
                    stage_k0s(host, f, &after.version, &after.source, READY_TIMEOUT).await?;
                }
                if reconfigure {
                    write_config(host, after, c).await?;
                }
                stop(host).await?;
                if upgrade || reinstall {
                    host.check(&Command::new(mke_k0s::install_command(&install_flags(
                        c, None, true,
                    ))))
                    .await?;
                }
                start(host).await?;
                wait_ready(ctx, host).await?;
                step.done();
            } else if !f.running() {
                let step = Step::start(host.name(), "start stopped controller");
                start(host).await?;
                wait_ready(ctx, host).await?;
                step.done();
            }
            running.push(key.clone());
        }
        // Then controllers without k0s (new, or wiped): they join through a
        // running controller, one at a time.
        let no_anchor = || {
            OpError::host(
                &after.controllers[&keys[0]].address,
                "no controller of the cluster runs k0s, so none can admit the others",
                "Restore one controller (or import the cluster again), then apply.",
            )
        };
        for key in &keys {
            let f = &facts[key];
            if f.installed() {
                continue;
            }
            let anchor = running.first().ok_or_else(no_anchor)?.clone();
            let host = &connected[key];
            let c = &after.controllers[key];
            if old.contains_key(&c.address) || f.marker.is_some() {
                leave_etcd(hosts, &connected[&anchor], f, c).await?;
            }
            stage_k0s(host, f, &after.version, &after.source, READY_TIMEOUT).await?;
            write_config(host, after, c).await?;
            join_controller(ctx, &connected[&anchor], host, after, c, &id).await?;
            running.push(key.clone());
        }
        let anchor_key = running.first().ok_or_else(no_anchor)?.clone();
        // Controllers whose address left the map leave etcd and are wiped.
        let kept = by_address(after);
        for (address, (key, c)) in &old {
            if kept.contains_key(address) {
                continue;
            }
            remove_controller(hosts, &connected[&anchor_key], c)
                .await
                .map_err(|e| {
                    OpError::host(
                        &c.address,
                        format!("removing controller {key} failed: {e}"),
                        e.hint(),
                    )
                })?;
        }
        if attr(state, "kubeconfig").is_unknown() || attr(state, "ca_certificate").is_unknown() {
            let leader_key = keys
                .iter()
                .find(|k| connected.contains_key(*k))
                .expect("a controller");
            let (kubeconfig, ca) = outputs(&connected[leader_key], after).await?;
            set(state, "kubeconfig", Value::String(kubeconfig));
            set(state, "ca_certificate", Value::String(ca));
        }
        set(
            state,
            "host_status",
            statuses(keys.iter().map(|k| (k.clone(), "running"))),
        );
        if attr(state, "id").is_unknown() {
            set(state, "id", Value::String(id));
        }
        Ok(())
    }
    .await;
    release_all(locks).await;
    result
}

/// `k0s etcd leave` for a controller's member, found by hostname in the
/// member list (its etcd peer address, not its SSH address).
async fn leave_etcd(
    _hosts: &Hosts,
    anchor: &Host,
    facts: &HostFacts,
    c: &ControllerHost,
) -> Result<(), OpError> {
    let list = anchor
        .check(&Command::new(mke_k0s::cli::etcd_member_list()))
        .await?;
    let members = mke_k0s::parse_member_list(&list).map_err(|e| {
        OpError::host(
            anchor.name(),
            format!("unexpected etcd member list: {e}"),
            "Check etcd on that controller.",
        )
    })?;
    let peer = members
        .get(&facts.hostname)
        .map(|url| mke_k0s::peer_host(url))
        .or_else(|| {
            members
                .values()
                .map(|u| mke_k0s::peer_host(u))
                .find(|p| Some(p.as_str()) == c.private_address.as_deref() || *p == c.address)
        });
    if let Some(peer) = peer {
        let step = Step::start(anchor.name(), "etcd leave");
        let out = anchor
            .run(&Command::new(mke_k0s::cli::etcd_leave(&peer)))
            .await?;
        if out.status != 0 && !out.stderr.contains("peer not found") {
            return Err(OpError::host(
                anchor.name(),
                format!(
                    "`k0s etcd leave --peer-address={peer}` failed: {}",
                    out.stderr.trim()
                ),
                "Check etcd health on the controllers.",
            ));
        }
        step.done();
    }
    Ok(())
}

async fn remove_controller(
    hosts: &Hosts,
    anchor: &Host,
    c: &ControllerHost,
) -> Result<(), OpError> {
    let reachable = hosts
        .connect(&Hosts::controller_target(c), hosts.quick())
        .await;
    let facts = match &reachable {
        Ok(h) => probe::probe(h).await.unwrap_or_default(),
        Err(_) => HostFacts::default(),
    };
    leave_etcd(hosts, anchor, &facts, c).await?;
    if let Ok(host) = reachable {
        wipe(&host).await?;
    }
    Ok(())
}

/// Stops and resets k0s, then removes its binary, config and data.
pub async fn wipe(host: &Host) -> Result<(), OpError> {
    let step = Step::start(host.name(), "stop and reset k0s");
    let k0s = mke_k0s::K0S_BINARY_PATH;
    let script = format!(
        "k={k0s}; if [ -x \"$k\" ]; then \
           out=$(\"$k\" stop 2>&1) || case \"$out\" in *'already stopped'*|*'not been installed'*|*'failed state'*) ;; *) echo \"$out\" >&2; exit 1;; esac; \
           out=$(\"$k\" reset 2>&1) || case \"$out\" in *'not been installed'*) ;; *) echo \"$out\" >&2; exit 1;; esac; \
         fi; rm -rf /etc/k0s /var/lib/k0s /run/k0s \"$k\""
    );
    host.check(
        &Command::new(script)
            .timeout(Duration::from_secs(300))
            .display("k0s stop; k0s reset; remove k0s files"),
    )
    .await?;
    step.done();
    Ok(())
}

pub async fn delete(state: &ProviderState, _ctx: &Ctx, prior: Value) -> Diagnostics {
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return e.to_diagnostics("Cannot delete the cluster"),
    };
    let Some(cluster) = controllers::hosts_from(attr(&prior, "controllers")) else {
        return Diagnostics::new();
    };
    let items: Vec<(String, ControllerHost)> = cluster.into_iter().collect();
    let results = hosts
        .each(items, |(key, c)| {
            let hosts = hosts.clone();
            async move {
                let host = match hosts
                    .connect(&Hosts::controller_target(&c), hosts.quick())
                    .await
                {
                    Ok(h) => h,
                    Err(e) => return (key, Err(e)),
                };
                let lock = match hosts.lock(&host).await {
                    Ok(l) => l,
                    Err(e) => return (key, Err(e)),
                };
                let r = wipe(&host).await;
                lock.release().await;
                (key, r)
            }
        })
        .await;
    let mut d = Diagnostics::new();
    for (key, r) in results {
        match r {
            Ok(()) => {}
            Err(OpError::Ssh(e)) if e.is_unreachable() => d.warning(
                format!("Controller {key} was unreachable; it was not wiped"),
                format!("{e}\n\nk0s may still be installed there. Run `k0s stop; k0s reset` on it by hand."),
            ),
            Err(e) => d.extend(e.to_diagnostics(&format!("Wiping controller {key} failed"))),
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_list_every_controller() {
        let t = parse_import_id("cp1=10.0.0.1,cp2=10.0.0.2:2222").unwrap();
        assert_eq!(t["cp1"], ("10.0.0.1".to_string(), None));
        assert_eq!(t["cp2"], ("10.0.0.2".to_string(), Some(2222)));
        assert!(parse_import_id("10.0.0.1")
            .unwrap_err()
            .contains("<key>=<address>"));
        assert!(parse_import_id("a=10.0.0.1:ssh")
            .unwrap_err()
            .contains("not a port"));
        assert!(parse_import_id("").is_err());
    }
}
