//! Adoption end to end: a 1 + 1 cluster laid out as k0sctl lays it out (the
//! k0s stand-in installed by hand with `k0s install controller
//! --config=/etc/k0s/k0s.yaml`, a worker joined with a token file, no
//! `/etc/k0s/mke.json`) is taken over by `import` blocks with the HCL a user
//! would write: no host change, the same k0s processes, and the marker is
//! written before the first change.

mod support;

use support::e2e::{provider_block, scenario, squash, standin, Scenario};
use support::kube::kubectl_json;
use support::standin::{changing_calls, Call, K0S};
use support::terraform::PLAN_CHANGES;

const MARKER: &str = "/etc/k0s/mke.json";
const TOKEN_FILE: &str = "/etc/k0s/k0stoken";

/// `/etc/k0s/k0s.yaml` as k0sctl writes it for one controller: its address
/// as `api.address` and etcd peer address, in its SANs.
fn k0s_yaml(address: &str, provider: &str) -> String {
    format!(
        "apiVersion: k0s.k0sproject.io/v1beta1
kind: ClusterConfig
metadata:
  name: adopted
spec:
  storage:
    type: etcd
    etcd:
      peerAddress: {address}
  network:
    provider: {provider}
    clusterDomain: cluster.local
    podCIDR: 10.244.0.0/16
    serviceCIDR: 10.96.0.0/12
    kubeProxy:
      mode: iptables
    calico:
      mode: vxlan
      vxlanPort: 4789
      vxlanVNI: 4096
      mtu: 0
      wireguard: false
  api:
    address: {address}
    sans:
    - {address}
"
    )
}

/// What k0sctl does: upload k0s, write the config, install and start the
/// controller, mint a worker token into a file on the worker, install and
/// start the worker with it. `extra_worker_flags` go to `install worker`.
fn lay_out_as_k0sctl(s: &Scenario, provider: &str, extra_worker_flags: &str) {
    let binary = support::standin::bytes();
    let (c1, w1) = (s.bed.host("c1"), s.bed.host("w1"));
    for h in [c1, w1] {
        h.exec_ok("mkdir -p /usr/local/bin /etc/k0s");
        h.put_file(K0S, &binary, 0o755);
    }
    c1.put_file(
        "/etc/k0s/k0s.yaml",
        k0s_yaml(&s.address("c1"), provider).as_bytes(),
        0o600,
    );
    c1.exec_ok(&format!(
        "{K0S} install controller --config=/etc/k0s/k0s.yaml && {K0S} start"
    ));
    s.wait_for_status("c1", std::time::Duration::from_secs(60));
    let token = s.k0s("c1", "token create --role=worker");
    w1.put_file(TOKEN_FILE, token.trim().as_bytes(), 0o600);
    w1.exec_ok(&format!(
        "{K0S} install worker --token-file={TOKEN_FILE} {extra_worker_flags} && {K0S} start"
    ));
    s.wait_for_status("w1", std::time::Duration::from_secs(60));
    let started = std::time::Instant::now();
    while kubectl_json(c1, "get nodes")["items"]
        .as_array()
        .is_none_or(|items| items.is_empty())
    {
        assert!(
            started.elapsed().as_secs() < 60,
            "the worker did not register"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    for h in ["c1", "w1"] {
        assert_eq!(
            s.bed
                .host(h)
                .exec_ok(&format!("test -e {MARKER} && echo yes || true")),
            "",
            "k0sctl writes no marker"
        );
    }
}

/// The HCL a user writes for that cluster, with `import` blocks.
fn adopting_config(s: &Scenario, labels: &str) -> String {
    let (c1, w1) = (s.address("c1"), s.address("w1"));
    format!(
        r#"{provider}
import {{
  to = mke_cluster.main
  id = "c1={c1}"
}}

import {{
  to = mke_node.w1
  id = "{w1}"
}}

resource "mke_cluster" "main" {{
  name            = "adopted"
  k0s_binary_path = "{standin}"
  controllers     = {{ c1 = {{ address = "{c1}", private_address = "{c1}" }} }}
}}

resource "mke_node" "w1" {{
  cluster_id      = mke_cluster.main.id
  controllers     = mke_cluster.main.controllers
  k0s_version     = mke_cluster.main.k0s_version
  k0s_binary_path = mke_cluster.main.k0s_binary_path
  address         = "{w1}"
{labels}
}}
"#,
        provider = provider_block("30s"),
        standin = standin(),
    )
}

/// The calls that change a host; reading the etcd member list or an object
/// (`kubectl --request-timeout=… get`) does not.
fn writes(calls: Vec<Call>) -> Vec<Call> {
    changing_calls(calls)
        .into_iter()
        .filter(|c| {
            let reading =
                c.has(&["etcd", "member-list"]) || (c.verb() == "kubectl" && c.has(&["get"]));
            !reading
        })
        .collect()
}

/// The k0s daemons' process ids on a host.
fn k0s_pids(s: &Scenario, host: &str) -> String {
    s.bed
        .host(host)
        .exec_ok("pgrep -f 'bin/k0[s] (controller|worker)' | sort || true")
}

#[test]
fn a_k0sctl_cluster_is_adopted_without_a_restart_and_marked_before_its_first_change() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    lay_out_as_k0sctl(&s, "calico", "");
    let pids = (k0s_pids(&s, "c1"), k0s_pids(&s, "w1"));
    assert!(!pids.0.trim().is_empty() && !pids.1.trim().is_empty());
    let before = s.call_counts(&["c1", "w1"]);

    let config = adopting_config(&s, "");
    let out = s.apply(&config);
    assert!(
        out.stdout.contains("2 imported"),
        "both resources are imported:\n{}",
        out.stdout
    );
    for h in ["c1", "w1"] {
        let changing = writes(s.calls_since(h, before[h]));
        assert!(changing.is_empty(), "adoption changed {h}: {changing:#?}");
        assert_eq!(
            s.bed
                .host(h)
                .exec_ok(&format!("test -e {MARKER} && echo yes || true")),
            "",
            "no marker on {h} before a change"
        );
    }
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 0, "the plan after adoption is empty:\n{text}");
    assert_eq!(
        (k0s_pids(&s, "c1"), k0s_pids(&s, "w1")),
        pids,
        "no k0s process restarted"
    );
    let cluster = s.cluster_attrs();
    assert_eq!(cluster["name"], "adopted");
    assert_eq!(
        cluster["adopted_ca_sha256"].as_str().map(str::len),
        Some(64),
        "the CA fingerprint is recorded: {cluster}"
    );

    // The first real change: a label on the node. The marker comes first.
    let labelled = adopting_config(&s, "  labels = { tier = \"web\" }");
    s.apply(&labelled);
    let marker = s.bed.host("w1").exec_ok(&format!("cat {MARKER}"));
    let node_marker_id = s.state()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "mke_node")
        .map(|r| r["instances"][0]["attributes"]["marker_id"].clone())
        .unwrap();
    assert!(
        marker.contains(node_marker_id.as_str().unwrap())
            && marker.contains(cluster["id"].as_str().unwrap()),
        "the worker's marker names the node resource and the cluster: {marker}"
    );
    let calls = s.calls("w1");
    let install = calls
        .iter()
        .find(|c| c.has(&["install", "worker"]) && c.has_prefix("--labels=tier=web"))
        .expect("the label change reinstalls the unit");
    let marked_at = s
        .bed
        .host("w1")
        .exec_ok(&format!("date -u -r {MARKER} +%Y-%m-%dT%H:%M:%S.%6N"));
    assert!(
        marked_at.trim() < &install.time[..26],
        "the marker ({}) is written before the first change ({})",
        marked_at.trim(),
        install.time
    );
    assert_eq!(k0s_pids(&s, "c1"), pids.0, "the controller kept running");
    s.assert_plan_empty("after the first change");
    s.destroy();
}

#[test]
fn flags_without_attribute_are_named_at_import() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    lay_out_as_k0sctl(&s, "calico", "--kubelet-extra-args=--max-pods=50");
    let out = s.apply(&adopting_config(&s, ""));
    let text = squash(&out.combined());
    assert!(
        text.contains("installed with flags the provider cannot express")
            && text.contains("--kubelet-extra-args=--max-pods=50"),
        "the import warns and names the flag:\n{text}"
    );
    let labelled = adopting_config(&s, "  labels = { tier = \"web\" }");
    s.work.write("main.tf", &labelled);
    let plan = s.work.run(&s.tf, &PLAN_CHANGES);
    let text = squash(&plan.combined());
    assert!(
        text.contains("reinstalls k0s without flags")
            && text.contains("--kubelet-extra-args=--max-pods=50"),
        "a plan that reinstalls the worker names the flag:\n{text}"
    );
}

#[test]
fn a_kube_router_cluster_is_refused_by_name() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    lay_out_as_k0sctl(&s, "kuberouter", "");
    let before = s.call_counts(&["c1", "w1"]);
    let out = s.try_apply(&adopting_config(&s, ""));
    assert_ne!(out.code, 0);
    let text = squash(&out.combined());
    assert!(
        text.contains("\"kuberouter\"") && text.contains("not an MKE 4 cluster"),
        "{text}"
    );
    for h in ["c1", "w1"] {
        assert!(writes(s.calls_since(h, before[h])).is_empty());
    }
}

#[test]
fn create_on_a_foreign_k0s_refuses_and_points_at_import() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    lay_out_as_k0sctl(&s, "calico", "");
    let pids = k0s_pids(&s, "c1");
    let out = s.try_apply(&s.cluster(&["c1"], ""));
    assert_ne!(out.code, 0);
    let text = squash(&out.combined());
    assert!(
        text.contains(
            "k0s is already installed on this host, by something other than this provider"
        ) && text.contains("import its cluster as an mke_cluster"),
        "{text}"
    );
    assert_eq!(k0s_pids(&s, "c1"), pids, "nothing restarted");
}

/// `terraform query` lists a cluster k0sctl built (no marker) next to the ones this provider
/// manages, marked as not managed yet, so that its generated config adopts it.
#[test]
fn terraform_query_finds_a_cluster_without_a_marker() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    lay_out_as_k0sctl(&s, "calico", "");
    let work = s.workdir(&support::e2e::provider_block("30s"));
    work.write(
        "found.tfquery.hcl",
        &format!(
            "list \"mke_cluster\" \"found\" {{\n  provider = mke\n  config {{\n    addresses = [\"{}\", \"{}\"]\n  }}\n}}\n",
            s.address("c1"),
            s.address("w1")
        ),
    );
    let before = s.calls("c1").len();
    let out = work.run(&s.tf, &["query", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("list.mke_cluster.found"))
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "one cluster, the worker left out:\n{}",
        out.stdout
    );
    assert!(
        rows[0].contains("not managed by this provider yet") && rows[0].contains(&s.address("c1")),
        "{}",
        rows[0]
    );
    let writing = writes(s.calls_since("c1", before));
    assert!(writing.is_empty(), "a query changes nothing: {writing:#?}");
}
