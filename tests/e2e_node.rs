//! mke_node end to end: 1 controller + workers from a for_each map, on the
//! test bed, with the k0s stand-in (a test double) as the k0s binary.

mod support;

use serde_json::Value as Json;
use support::e2e::{controller_and_workers, provider_block, scenario, squash, standin, Scenario};
use support::kube::kubectl_json;
use support::standin::{variant, CALLS_LOG};
use support::terraform::APPLY;

impl Scenario {
    /// One controller `c1` and one mke_node per worker, with `extra` inside each node.
    fn config(&self, workers: &[&str], extra: &str) -> String {
        controller_and_workers(&self.bed, &provider_block("30s"), "nodes", workers, extra)
    }

    fn node(&self, name: &str) -> Option<Json> {
        kubectl_json(self.bed.host("c1"), "get nodes")["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["metadata"]["name"] == name)
            .cloned()
    }

    fn worker_pid(&self, host: &str) -> String {
        self.status(host)["Pid"].to_string()
    }

    fn controller_calls(&self) -> String {
        self.bed.host("c1").exec_ok(&format!("cat {CALLS_LOG}"))
    }
}

fn ready(node: &Json) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[test]
fn workers_join_scale_down_in_the_middle_rejoin_and_relabel() {
    let Some(s) = scenario(&["c1", "w1", "w2", "w3"]) else {
        return;
    };
    let labels = "  labels = { tier = \"web\" }\n  taints = [\"dedicated=web:NoSchedule\"]";
    s.apply(&s.config(&["w1", "w2", "w3"], labels));

    for w in ["w1", "w2", "w3"] {
        let node = s
            .node(w)
            .unwrap_or_else(|| panic!("node {w} is not in the cluster"));
        assert!(ready(&node), "{w} is not Ready: {node}");
        assert_eq!(node["metadata"]["labels"]["tier"], "web");
        assert!(
            node["spec"]["taints"].to_string().contains("dedicated"),
            "{node}"
        );
        let host = s.bed.host(w);
        assert!(
            host.exec("test -e /etc/k0s/join.token").status.code() != Some(0),
            "token file left on {w}"
        );
        let unit = host.exec_ok("cat /etc/systemd/system/k0sworker.service");
        assert!(
            !unit.contains("--token-file"),
            "{w}'s service still needs the token: {unit}"
        );
    }
    let state = s.work.read("terraform.tfstate");
    let tokens = s.k0s("c1", "token list --role=worker || true");
    assert!(!state.contains("PRIVATE KEY"));
    for line in tokens.lines().skip(1) {
        let id = line.split_whitespace().next().unwrap_or("");
        assert!(
            id.is_empty() || !state.contains(id),
            "a join token ID is in state"
        );
    }
    assert_eq!(s.plan_exit(&[]).0, 0, "plan after apply is empty");
    assert_eq!(s.plan_exit(&["-refresh=false"]).0, 0);

    // Remove the middle key: only w2 is drained, deleted and reset.
    let (pid1, pid3) = (s.worker_pid("w1"), s.worker_pid("w3"));
    s.apply(&s.config(&["w1", "w3"], labels));
    assert!(s.node("w2").is_none(), "w2's Node object must be deleted");
    let calls = s.controller_calls();
    assert!(
        calls.contains("\"drain\", \"w2\""),
        "w2 was not drained: {calls}"
    );
    assert!(!calls.contains("\"drain\", \"w1\"") && !calls.contains("\"drain\", \"w3\""));
    let gone = s
        .bed
        .host("w2")
        .exec("test -e /usr/local/bin/k0s || test -e /etc/k0s");
    assert_ne!(gone.status.code(), Some(0), "w2 still has k0s files");
    assert_eq!(s.worker_pid("w1"), pid1, "w1's k0s must keep running");
    assert_eq!(s.worker_pid("w3"), pid3, "w3's k0s must keep running");
    assert_eq!(s.plan_exit(&[]).0, 0);

    // The same address again joins cleanly.
    s.apply(&s.config(&["w1", "w2", "w3"], labels));
    assert!(s.node("w2").is_some_and(|n| ready(&n)));
    assert_eq!(s.plan_exit(&[]).0, 0);

    // Labels and taints change in place; removed keys are removed.
    let relabel = "  labels = { zone = \"a\" }\n  taints = []";
    let out = s.apply(&s.config(&["w1", "w2", "w3"], relabel));
    assert!(
        out.stdout.contains("3 changed, 0 destroyed"),
        "{}",
        out.stdout
    );
    let node = s.node("w1").unwrap();
    assert_eq!(node["metadata"]["labels"]["zone"], "a");
    assert!(node["metadata"]["labels"].get("tier").is_none(), "{node}");
    assert!(
        !node["spec"]["taints"].to_string().contains("dedicated"),
        "{node}"
    );
    assert_eq!(s.plan_exit(&[]).0, 0);
}

#[test]
fn drift_on_a_worker_shows_in_the_plan_and_apply_fixes_it() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let config = s.config(&["w1"], "");
    s.apply(&config);
    s.k0s("w1", "stop");
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("\"stopped\" -> \"running\""), "{text}");
    s.apply(&config);
    assert!(s.k0s("w1", "status -o json").contains("\"Pid\""));
    assert_eq!(s.plan_exit(&[]).0, 0);
}

#[test]
fn an_unreachable_worker_is_still_removed_from_the_cluster_at_destroy() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    s.apply(&s.config(&["w1"], ""));
    s.bed.host("w1").set_link(false);
    // A short SSH timeout: refresh and delete give up on the dead host quickly.
    let started = std::time::Instant::now();
    s.apply(&controller_and_workers(
        &s.bed,
        &provider_block("5s"),
        "nodes",
        &[],
        "",
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        s.node("w1").is_none(),
        "the Node object of an unreachable worker is deleted"
    );
    s.destroy();
}

#[test]
fn a_worker_is_imported_by_address() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let labels = "  labels = { tier = \"web\" }";
    let config = s.config(&["w1"], labels);
    s.apply(&config);
    // Forget the node, then import it.
    let rm = s
        .work
        .run(&s.tf, &["state", "rm", "mke_node.worker[\"w1\"]"]);
    assert_eq!(rm.code, 0, "{}", rm.combined());
    let address = s.bed.host("w1").address.clone();
    let out = s.work.run(
        &s.tf,
        &["import", "-no-color", "mke_node.worker[\"w1\"]", &address],
    );
    assert_eq!(out.code, 0, "{}", out.combined());
    let changes = |s: &Scenario| {
        s.bed.host("w1").exec_ok(&format!(
            "grep -c -E '\"(install|start|stop|reset|token)\"' {CALLS_LOG} || true"
        ))
    };
    let before = changes(&s);
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 2, "the first plan records controllers: {text}");
    assert!(text.contains("update in-place"), "{text}");
    s.apply(&config);
    let after = changes(&s);
    assert_eq!(
        before.trim(),
        after.trim(),
        "recording controllers must not touch the host"
    );
    assert_eq!(s.plan_exit(&[]).0, 0);
}

#[test]
fn an_upgrade_goes_to_the_cluster_first_then_drains_and_uncordons_each_worker() {
    let Some(s) = scenario(&["c1", "w1", "w2"]) else {
        return;
    };
    s.apply(&s.config(&["w1", "w2"], ""));
    let newer = variant(Some("v1.29.4+k0s.0"), false);
    let upgraded = s.config(&["w1", "w2"], "").replace(
        &format!("k0s_binary_path = \"{}\"", standin()),
        &format!(
            "k0s_binary_path = \"{}\"\n  k0s_version     = \"v1.29.4+k0s.0\"",
            newer.path()
        ),
    );
    let out = s.apply(&upgraded);
    assert!(out.stdout.contains("3 changed"), "{}", out.stdout);
    for h in ["c1", "w1", "w2"] {
        let status = s.k0s(h, "status -o json");
        assert!(
            status.contains("v1.29.4+k0s.0"),
            "{h} was not upgraded: {status}"
        );
    }
    let calls = s.controller_calls();
    for w in ["w1", "w2"] {
        assert!(
            calls.contains(&format!("\"drain\", \"{w}\"")),
            "{w} was not drained"
        );
        assert!(
            calls.contains(&format!("\"uncordon\", \"{w}\"")),
            "{w} was not uncordoned"
        );
        let node = s.node(w).unwrap();
        assert!(
            node["spec"]["unschedulable"].as_bool() != Some(true),
            "{w} is still cordoned"
        );
    }
    // The cluster's controller was upgraded before any worker was drained.
    let log: Vec<&str> = calls.lines().collect();
    let first_drain = log.iter().position(|l| l.contains("\"drain\"")).unwrap();
    let c1_restart = log
        .iter()
        .rposition(|l| l.contains("\"install\", \"controller\""))
        .unwrap();
    assert!(
        c1_restart < first_drain,
        "workers were drained before the controller was upgraded"
    );
    assert_eq!(s.plan_exit(&[]).0, 0);
}

#[test]
fn a_deleted_node_object_shows_as_unregistered_and_apply_brings_it_back() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let config = s.config(&["w1"], "  labels = { tier = \"web\" }");
    s.apply(&config);
    s.k0s("c1", "kubectl delete node w1");
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("\"unregistered\" -> \"running\""), "{text}");
    s.apply(&config);
    let node = s.node("w1").expect("w1 registered again");
    assert!(ready(&node));
    assert_eq!(
        node["metadata"]["labels"]["tier"], "web",
        "relabelled after re-registration"
    );
    assert_eq!(s.plan_exit(&[]).0, 0);
}

#[test]
fn a_controller_whose_host_key_changed_is_refused_and_no_secret_is_logged() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    s.work.write("main.tf", &s.config(&["w1"], ""));
    let (out, trace) = s.work.run_logged(&s.tf, &APPLY, "trace", "trace.log");
    assert_eq!(out.code, 0, "{}", out.combined());
    assert!(
        trace.contains("join worker"),
        "the trace log has the provider's progress"
    );
    let key = s.bed.client_private_key();
    let key_body = key.lines().nth(1).unwrap();
    for (what, text) in [
        ("trace log", &trace),
        ("state", &s.work.read("terraform.tfstate")),
        ("output", &out.combined()),
    ] {
        assert!(
            !text.contains(key_body),
            "the SSH private key is in the {what}"
        );
        assert!(
            !text.contains("kubelet-bootstrap") && !text.contains("H4sI"),
            "a join token is in the {what}"
        );
    }

    s.bed.host("c1").reinstall_ssh();
    let (code, text) = s.plan_exit(&[]);
    assert_ne!(code, 0, "a changed controller key must be refused:\n{text}");
    let flat = squash(&text);
    assert!(flat.contains(&s.bed.host("c1").address), "{text}");
    assert!(
        flat.matches("SHA256:").count() >= 2,
        "both fingerprints: {text}"
    );
}

#[test]
fn a_drain_that_times_out_fails_with_the_way_out_and_keeps_the_node() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    s.apply(&s.config(&["w1"], "  drain_timeout = \"2s\""));
    // The stand-in's knob: pods on this node cannot be evicted.
    s.k0s(
        "c1",
        "kubectl annotate node w1 standin.test/drain-blocked=true",
    );
    let out = s.try_apply(&s.config(&[], ""));
    assert_ne!(out.code, 0, "the drain must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("drain_timeout"),
        "the error says what to raise: {text}"
    );
    assert!(
        text.contains("--disable-eviction"),
        "the error says how to force it: {text}"
    );
    let state = s.work.read("terraform.tfstate");
    assert!(
        state.contains("\"mke_node\""),
        "the node stays in state after a failed drain"
    );
    assert!(s.node("w1").is_some(), "and in the cluster");
}

#[test]
fn a_second_run_working_on_the_same_host_is_refused_clearly() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let config = s.config(&["w1"], "");
    s.apply(&config);
    // Another provider process holds w1's lock and refreshed it just now.
    s.bed
        .host("w1")
        .exec_ok("mkdir -p -m 700 /var/lib/mke-provider && echo \"$(date +%s) e15e elsewhere:4242\" > /var/lib/mke-provider/lock");
    let out = s.try_apply(&s.config(&["w1"], "  labels = { tier = \"web\" }"));
    assert_ne!(out.code, 0, "{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("another Terraform run (elsewhere:4242)"),
        "{text}"
    );
    // A lock left by a run that died is taken over once stale.
    s.bed.host("w1").exec_ok(
        "echo \"$(( $(date +%s) - 60 )) e15e elsewhere:4242\" > /var/lib/mke-provider/lock",
    );
    s.apply(&s.config(&["w1"], "  labels = { tier = \"web\" }"));
}

/// Workers joining together share one poller on the controller: its Node listings come one
/// after another, an interval apart, however many workers wait, and no worker asks for its
/// own Node while it joins.
#[test]
fn joining_workers_share_one_poller_on_the_controller() {
    let workers = ["w1", "w2", "w3", "w4"];
    let Some(s) = scenario(&["c1", "w1", "w2", "w3", "w4"]) else {
        return;
    };
    s.apply(&s.config(&[], ""));
    let before = s.calls("c1").len();
    s.apply(&s.config(&workers, ""));
    let calls = s.calls_since("c1", before);

    // The joins begin with their tokens; what comes before is the plan's refresh.
    let first_token = calls
        .iter()
        .position(|c| c.has(&["token", "create"]))
        .expect("a join token was minted on c1");
    let joining = &calls[first_token..];
    let minted = joining
        .iter()
        .filter(|c| c.has(&["token", "create"]))
        .count();
    assert_eq!(minted, workers.len(), "one token per worker");
    // `k0s status` on the controller: once for the plan's refresh of the cluster, once for
    // the version-skew check that serves every join (a read per worker would make it 5).
    let status_reads: Vec<_> = calls.iter().filter(|c| c.verb() == "status").collect();
    assert!(
        status_reads.len() <= 2,
        "one status read serves every join: {status_reads:#?}"
    );
    let own_node_reads: Vec<_> = joining.iter().filter(|c| c.has(&["get", "node"])).collect();
    assert!(
        own_node_reads.is_empty(),
        "joining workers wait on the shared listing: {own_node_reads:#?}"
    );
    let listings: Vec<&str> = joining
        .iter()
        .filter(|c| c.has(&["get", "nodes"]))
        .map(|c| c.time.as_str())
        .collect();
    assert!(!listings.is_empty(), "the waits listed the Nodes");
    // One poller sleeps at least 200 ms between the end of a listing and the next one;
    // a poller per worker would list several times at once.
    for pair in listings.windows(2) {
        let gap = micros_since_epoch(pair[1]) - micros_since_epoch(pair[0]);
        assert!(
            gap >= 190_000,
            "two listings {gap} µs apart ({} and {}): more than one poller",
            pair[0],
            pair[1]
        );
    }
    for w in workers {
        assert!(ready(&s.node(w).expect("registered")), "{w} Ready");
    }
}

/// `2026-12-06T11:22:33.123456Z` (the stand-in's call times) in microseconds since the epoch.
fn micros_since_epoch(time: &str) -> i64 {
    let number = |s: &str| -> i64 { s.parse().unwrap_or_else(|e| panic!("{time}: {e}")) };
    let (date, clock) = time
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or_else(|| panic!("not RFC 3339: {time}"));
    let ymd: Vec<i64> = date.split('-').map(number).collect();
    let (seconds, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let hms: Vec<i64> = seconds.split(':').map(number).collect();
    // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let (y, m, d) = (ymd[0] - i64::from(ymd[1] <= 2), ymd[1], ymd[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let micros = number(&format!("{fraction:0<6}")[..6]);
    ((days * 24 + hms[0]) * 60 + hms[1]) * 60_000_000 + hms[2] * 1_000_000 + micros
}
