//! The control plane keeps its quorum, and a restarted host counts as back
//! only when it really is: real Terraform, test-bed hosts and the k0s
//! stand-in (a test double).

mod support;

use support::e2e::{controller_and_workers, provider_block, scenario};
use support::standin::{first, last, variant, K0S};

const SECOND_VERSION: &str = "v1.29.4+k0s.0";

#[test]
fn an_upgrade_starts_a_stopped_controller_first_and_never_has_two_down() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let hosts = ["c1", "c2", "c3"];
    s.apply(&s.cluster(&hosts, ""));
    // One of three controllers is already down when the upgrade comes.
    s.k0s("c3", "stop");
    let before = s.call_counts(&hosts);

    let newer = variant(Some(SECOND_VERSION), false);
    let plain: Vec<(&str, &str)> = hosts.iter().map(|h| (*h, "")).collect();
    s.apply(&s.cluster_on(
        &provider_block("30s"),
        newer.path(),
        &plain,
        &format!("  k0s_version = \"{SECOND_VERSION}\""),
    ));

    // Every stop and start across the three hosts, in time order.
    let mut events: Vec<(String, &str, bool)> = Vec::new();
    for h in hosts {
        let calls = s.calls_since(h, before[h]);
        for c in &calls {
            match c.verb() {
                "stop" => events.push((c.time.clone(), h, false)),
                "start" => events.push((c.time.clone(), h, true)),
                _ => {}
            }
        }
        assert_eq!(s.status(h)["Version"], SECOND_VERSION, "running on {h}");
    }
    events.sort();
    let c3_start = first(&s.calls_since("c3", before["c3"]), &["start"])
        .time
        .clone();
    let first_stop = events
        .iter()
        .find(|(_, _, start)| !start)
        .map(|(t, _, _)| t.clone())
        .expect("the upgrade stops controllers");
    assert!(
        c3_start < first_stop,
        "the stopped c3 must be started before any controller is stopped: {events:#?}"
    );
    // Walk the events: c3 starts down, and at most one controller is ever down.
    let mut down = vec!["c3"];
    for (time, host, start) in &events {
        if *start {
            down.retain(|h| h != host);
        } else if !down.contains(host) {
            down.push(host);
        }
        assert!(
            down.len() <= 1,
            "two controllers down at {time}: {down:?}\n{events:#?}"
        );
    }
    let _ = last(&s.calls_since("c1", before["c1"]), &["start"]);
    assert_eq!(s.members("c1").len(), 3);
    s.assert_plan_empty("after the upgrade");
}

#[test]
fn a_restarted_worker_is_back_when_apply_returns() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let config = controller_and_workers(&s.bed, &provider_block("30s"), "e2e", &["w1"], "");
    s.apply(&config);
    let heartbeat = |s: &support::e2e::Scenario| -> String {
        let node: serde_json::Value =
            serde_json::from_str(&s.k0s("c1", "kubectl get node w1 -o json")).expect("Node JSON");
        node["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .and_then(|c| c["lastHeartbeatTime"].as_str())
            .expect("a Ready heartbeat")
            .to_string()
    };
    s.k0s("w1", "stop");
    // The Node still reads Ready on its last heartbeat for a while.
    let stale = heartbeat(&s);
    s.apply(&config);
    // Right after apply: k0s answers on the host, and the kubelet has
    // reported since it was stopped.
    let status = s
        .bed
        .host("w1")
        .exec(&format!("timeout 10 {K0S} status -o json"));
    assert!(
        status.status.success(),
        "k0s must answer on w1 when apply returns: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let fresh = heartbeat(&s);
    assert!(
        fresh > stale,
        "the Node's heartbeat must be newer than before the restart: {stale} -> {fresh}"
    );
    assert_eq!(s.plan_exit(&[]).0, 0);
}

#[test]
fn a_worker_newer_than_its_controllers_is_refused_before_anything_is_written() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let newer = variant(Some(SECOND_VERSION), false);
    let config = controller_and_workers(
        &s.bed,
        &provider_block("30s"),
        "e2e",
        &["w1"],
        "",
    )
    .replace(
        "  k0s_version     = mke_cluster.main.k0s_version\n  k0s_binary_path = mke_cluster.main.k0s_binary_path\n",
        &format!(
            "  k0s_version     = \"{SECOND_VERSION}\"\n  k0s_binary_path = \"{}\"\n",
            newer.path()
        ),
    );
    assert!(
        config.contains(SECOND_VERSION),
        "the node runs the newer release"
    );
    let out = s.try_apply(&config);
    assert_ne!(out.code, 0, "the node must be refused:\n{}", out.combined());
    let text = support::e2e::squash(&out.combined());
    assert!(
        text.contains(&format!(
            "k0s_version {SECOND_VERSION} is newer than the controllers' v1.29.3+k0s.0"
        )),
        "{text}"
    );
    // Nothing reached the worker: no marker, no binary.
    let left = s.bed.host("w1").exec_ok(&format!(
        "for p in /etc/k0s/mke.json {K0S}; do [ -e \"$p\" ] && echo \"$p\"; done; true"
    ));
    assert_eq!(left.trim(), "", "files written to w1: {left}");
}
