//! `provider "mke" { ssh { persist } }`: the SSH master of a host with a known key outlives the
//! provider process, so that the next process (the apply after a plan) logs in no more; it is
//! reused only for the key it checked, and `persist = "0s"` leaves nothing behind.
//!
//! Logins are counted from each host's sshd log ("Accepted publickey"), masters from the
//! working directory's private runtime dir (`XDG_RUNTIME_DIR`, see tests/support/masters.rs).

mod support;

use std::collections::BTreeMap;

use support::e2e::{
    controller_and_workers, provider_block, provider_block_with, scenario, standin, Scenario,
};

const HOSTS: [&str; 2] = ["c1", "w1"];

fn logins(s: &Scenario) -> BTreeMap<&'static str, usize> {
    HOSTS
        .iter()
        .map(|host| (*host, s.bed.ssh_logins(host)))
        .collect()
}

fn new_logins(
    before: &BTreeMap<&'static str, usize>,
    after: &BTreeMap<&'static str, usize>,
) -> BTreeMap<&'static str, usize> {
    after
        .iter()
        .map(|(host, n)| (*host, n - before[host]))
        .collect()
}

fn one_each() -> BTreeMap<&'static str, usize> {
    HOSTS.iter().map(|host| (*host, 1)).collect()
}

fn none() -> BTreeMap<&'static str, usize> {
    HOSTS.iter().map(|host| (*host, 0)).collect()
}

fn labelled(s: &Scenario, provider: &str, tier: &str) -> String {
    controller_and_workers(
        &s.bed,
        provider,
        "persist",
        &["w1"],
        &format!("  labels = {{ tier = \"{tier}\" }}"),
    )
}

#[test]
fn plan_then_apply_log_in_once_per_host_and_the_masters_stay_private() {
    let Some(s) = scenario(&HOSTS) else {
        return;
    };
    let provider = provider_block("30s");
    s.apply(&labelled(&s, &provider, "a"));

    // Create trusted the hosts' keys on first use, which never persists a master; the keys
    // are in state now, so the first plan logs in once per host and leaves the masters.
    let before = logins(&s);
    s.assert_plan_empty("after create");
    let after_first = logins(&s);
    assert_eq!(
        new_logins(&before, &after_first),
        one_each(),
        "the first refresh logs in once per host, two plans share the connection"
    );
    let masters = s.work.runtime.live_masters();
    assert_eq!(
        masters.len(),
        HOSTS.len(),
        "one master per host: {masters:?}"
    );

    // The control directory is private to the user: its sockets give a shell on the hosts.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.work.runtime.control_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "control dir mode {mode:o}");

    // `terraform apply` = a plan process and an apply process: no new login at all.
    s.apply(&labelled(&s, &provider, "b"));
    assert_eq!(
        new_logins(&after_first, &logins(&s)),
        none(),
        "the apply after a plan reuses the persisted masters"
    );
    let labels = support::kube::kubectl_json(s.bed.host("c1"), "get node w1");
    assert_eq!(
        labels["metadata"]["labels"]["tier"], "b",
        "the change landed"
    );
}

#[test]
fn a_master_that_checked_another_host_key_is_never_used() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1"], ""));
    s.assert_plan_empty("after create");
    assert_eq!(s.work.runtime.live_masters().len(), 1);
    let old_key = s.bed.host("c1").host_key("ed25519");

    // The host gets new keys while the old master still holds its session (a persisted
    // master lives as long as its connection: docs/index.md says so), and the state then
    // pins the new key: the next refresh must check the new key on a new login, not use
    // the master that checked the old one.
    s.bed.host("c1").regenerate_host_keys();
    let new_key = s.bed.host("c1").host_key("ed25519");
    assert_ne!(old_key, new_key);
    let pinned = s.cluster_on(
        &provider_block("30s"),
        &standin(),
        &[("c1", &format!("host_key = \"{new_key}\""))],
        "",
    );
    s.work.write("main.tf", &pinned);
    let before = s.bed.ssh_logins("c1");
    let out = s.work.run(
        &s.tf,
        &[
            "apply",
            "-refresh=false",
            "-auto-approve",
            "-input=false",
            "-no-color",
        ],
    );
    assert_eq!(out.code, 0, "pinning the new key:\n{}", out.combined());
    let state_key = s.cluster_attrs()["controllers"]["c1"]["host_key"].clone();
    assert_eq!(state_key, new_key.as_str(), "the state pins the new key");

    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 0, "the refresh with the new key:\n{text}");
    // The apply (or else the plan) logs in once, checking the new key; the rest reuse that.
    assert_eq!(
        s.bed.ssh_logins("c1") - before,
        1,
        "one new login checked {new_key}, not the master that checked {old_key}"
    );
}

#[test]
fn persist_zero_logs_in_every_run_and_leaves_no_master() {
    let Some(s) = scenario(&HOSTS) else {
        return;
    };
    let provider = provider_block_with("30s", "    persist = \"0s\"");
    s.apply(&labelled(&s, &provider, "a"));
    for run in 1..=2 {
        let before = logins(&s);
        s.assert_plan_empty("with persist = 0s");
        // assert_plan_empty runs a refreshing plan and one with -refresh=false.
        assert_eq!(
            new_logins(&before, &logins(&s)),
            one_each(),
            "plan {run}: a fresh login per host"
        );
        assert_eq!(
            s.work.runtime.live_masters(),
            Vec::<std::path::PathBuf>::new(),
            "plan {run}: no master outlives the provider"
        );
    }
    let control = s.work.runtime.control_dir();
    let leftovers: Vec<_> = std::fs::read_dir(&control)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "nothing in {control:?}: {leftovers:?}"
    );
}
