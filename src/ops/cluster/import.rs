//! Import of an existing cluster: `<key>=<address>[:<port>],…`. The hosts'
//! markers give `name` and `id`, their `k0s.yaml` the network settings; the
//! first plan after import records what only the configuration knows.

use std::collections::BTreeMap;
use std::sync::Arc;

use mke_ssh::Host;
use tfplugin::tfvalue::Value;
use tfplugin::{Ctx, Diagnostics, StateOutcome};

use super::{outputs, set, statuses, Cluster};
use crate::ops::hosts::Hosts;
use crate::ops::probe::{self, HostFacts};
use crate::ops::{failed, OpError};
use crate::provider::ProviderState;

/// `<key>=<address>[:<port>],…`
pub fn parse_import_id(id: &str) -> Result<BTreeMap<String, (String, Option<u16>)>, String> {
    let mut out = BTreeMap::new();
    for part in id.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, target) = part
            .split_once('=')
            .ok_or_else(|| format!("\"{part}\" is not <key>=<address>[:<port>]"))?;
        let (address, port) = match target.rsplit_once(':') {
            Some((a, p)) => (
                a.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("\"{p}\" in \"{part}\" is not a port"))?,
                ),
            ),
            None => (target.to_string(), None),
        };
        if key.is_empty() || address.is_empty() {
            return Err(format!("\"{part}\" is not <key>=<address>[:<port>]"));
        }
        out.insert(key.to_string(), (address, port));
    }
    if out.is_empty() {
        return Err("the ID lists no controller".into());
    }
    Ok(out)
}

pub async fn import(state: &ProviderState, _ctx: &Ctx, id: &str) -> StateOutcome {
    let summary = "Cannot import the cluster";
    let hint =
        "The import ID lists every controller: <key>=<address>[:<port>],<key>=<address>[:<port>]…";
    let targets = match parse_import_id(id) {
        Ok(t) => t,
        Err(e) => {
            let mut d = Diagnostics::new();
            d.error(summary, format!("{e}. {hint}"));
            return failed(Value::Null, d);
        }
    };
    let hosts = match Hosts::from_state(state) {
        Ok(h) => h,
        Err(e) => return failed(Value::Null, e.to_diagnostics(summary)),
    };
    match import_steps(&hosts, &targets).await {
        Ok(v) => StateOutcome {
            state: v,
            private: Vec::new(),
            diagnostics: Diagnostics::new(),
        },
        Err(e) => failed(Value::Null, e.to_diagnostics(summary)),
    }
}

async fn import_steps(
    hosts: &Hosts,
    targets: &BTreeMap<String, (String, Option<u16>)>,
) -> Result<Value, OpError> {
    let mut controllers_value = BTreeMap::new();
    let mut found: Vec<(String, Arc<Host>, HostFacts)> = Vec::new();
    for (key, (address, port)) in targets {
        let host = hosts
            .connect(&Hosts::target(address, *port, None, None), hosts.patient())
            .await?;
        let f = probe::probe(&host).await?;
        let c = Value::Object(BTreeMap::from([
            ("address".to_string(), Value::String(address.clone())),
            ("private_address".to_string(), Value::Null),
            (
                "port".to_string(),
                port.map(|p| Value::from(p as i64)).unwrap_or(Value::Null),
            ),
            ("user".to_string(), Value::Null),
            (
                "host_key".to_string(),
                Value::String(host.host_key().to_string()),
            ),
            (
                "workloads".to_string(),
                Value::Bool(f.unit.as_ref().is_some_and(|u| u.workloads())),
            ),
        ]));
        controllers_value.insert(key.clone(), c);
        found.push((key.clone(), host, f));
    }
    let (_, first_host, first) = found
        .iter()
        .find(|(_, _, f)| f.marker.is_some() && f.running())
        .ok_or_else(|| {
            OpError::host(
                &targets.values().next().expect("a target").0,
                "no listed controller runs k0s installed by this provider (/etc/k0s/mke.json)",
                "Check the addresses in the import ID.",
            )
        })?;
    let marker = first.marker.clone().expect("marker");
    for (key, host, f) in &found {
        if f.marker
            .as_ref()
            .is_some_and(|m| m.id != marker.id && !m.id.is_empty())
        {
            return Err(OpError::host(
                host.name(),
                format!("controller {key} belongs to another cluster"),
                "List only the controllers of one cluster.",
            ));
        }
    }
    let config_text = first.config.clone().unwrap_or_default();
    let cluster_config = mke_k0s::strip_host_keys(&config_text).unwrap_or(config_text.clone());
    let settings = mke_k0s::observed_settings(&cluster_config).map_err(|e| {
        OpError::host(
            first_host.name(),
            format!("cannot read /etc/k0s/k0s.yaml: {e}"),
            "Check the file.",
        )
    })?;
    // private_address is what host_config added there.
    for (key, _, f) in &found {
        if let Some(cfg) = &f.config {
            if let Ok(s) = mke_k0s::observed_private_address(cfg) {
                if let (Some(addr), Some(Value::Object(c))) = (s, controllers_value.get_mut(key)) {
                    c.insert("private_address".into(), Value::String(addr));
                }
            }
        }
    }
    let version = first
        .status
        .as_ref()
        .map(|s| s.version.clone())
        .or(first.binary_version.clone())
        .unwrap_or_default();
    let n = &settings.network;
    let network = Value::Object(BTreeMap::from([
        ("pod_cidr".to_string(), Value::String(n.pod_cidr.clone())),
        (
            "service_cidr".to_string(),
            Value::String(n.service_cidr.clone()),
        ),
        (
            "cluster_domain".to_string(),
            Value::String(n.cluster_domain.clone()),
        ),
        (
            "kube_proxy_mode".to_string(),
            Value::String(n.kube_proxy_mode.to_string()),
        ),
        (
            "calico".to_string(),
            Value::Object(BTreeMap::from([
                ("mode".to_string(), Value::String(n.calico.mode.to_string())),
                (
                    "vxlan_port".to_string(),
                    Value::from(n.calico.vxlan_port as i64),
                ),
                (
                    "vxlan_vni".to_string(),
                    Value::from(n.calico.vxlan_vni as i64),
                ),
                ("mtu".to_string(), Value::from(n.calico.mtu as i64)),
                ("wireguard".to_string(), Value::Bool(n.calico.wireguard)),
            ])),
        ),
    ]));
    let api = match &settings.api.external_address {
        Some(a) => Value::Object(BTreeMap::from([
            ("external_address".to_string(), Value::String(a.clone())),
            ("sans".to_string(), Value::Null),
        ])),
        None => Value::Null,
    };
    let leader_address = targets.values().next().expect("a target").0.clone();
    let endpoint_host = settings
        .api
        .external_address
        .clone()
        .unwrap_or(leader_address);
    let api_endpoint = format!(
        "https://{endpoint_host}:{}",
        crate::resources::cluster::API_PORT
    );
    let mut state = Value::Object(BTreeMap::from([
        ("name".to_string(), Value::String(marker.cluster.clone())),
        ("k0s_version".to_string(), Value::String(version)),
        ("k0s_binary_path".to_string(), Value::Null),
        ("k0s_download_url".to_string(), Value::Null),
        ("controllers".to_string(), Value::Map(controllers_value)),
        ("api".to_string(), api),
        ("network".to_string(), network),
        ("k0s_config_overrides".to_string(), Value::Null),
        ("timeouts".to_string(), Value::Null),
        ("id".to_string(), Value::String(marker.id.clone())),
        (
            "api_endpoint".to_string(),
            Value::String(api_endpoint.clone()),
        ),
        ("kubeconfig".to_string(), Value::Null),
        ("ca_certificate".to_string(), Value::Null),
        (
            "controller_addresses".to_string(),
            Value::List(
                targets
                    .values()
                    .map(|(a, _)| Value::String(a.clone()))
                    .collect(),
            ),
        ),
        ("k0s_config".to_string(), Value::String(cluster_config)),
        (
            "host_status".to_string(),
            statuses(found.iter().map(|(k, _, f)| (k.clone(), f.status_word()))),
        ),
    ]));
    let cluster = Cluster::from_value(&state).expect("imported cluster");
    let (kubeconfig, ca) = outputs(first_host, &cluster).await?;
    set(&mut state, "kubeconfig", Value::String(kubeconfig));
    set(&mut state, "ca_certificate", Value::String(ca));
    Ok(state)
}
