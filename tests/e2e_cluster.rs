//! mke_cluster end to end: real Terraform, real SSH hosts (network
//! namespaces of the test bed), and the k0s stand-in (a test double)
//! uploaded as the k0s binary.
//!
//! Every test has its own test bed, so they run in parallel. Variants of the
//! stand-in (another version, a token recorder) are made from a copy in a
//! temporary directory under the target dir, which the hosts can read.
//!
//! About the stand-in: `k0s token invalidate` deletes the token's Secret from
//! its datastore, so once a join is done nothing on the leader holds the token
//! any more. `nothing_secret_reaches_state_or_the_trace_log` therefore uploads a
//! copy that also appends every token it mints (and its bearer part) to
//! `/var/log/k0s-standin/minted-tokens`.

mod support;

use std::time::{Duration, Instant};

use support::e2e::{provider_block, provider_block_with, scenario, squash, standin, Scenario};
use support::standin::{
    changing_calls, first, has_call, last, variant, Call, K0S, MINTED_TOKENS, VERSION,
};
use support::terraform::{Workdir, APPLY, PLAN_CHANGES};

const SECOND_VERSION: &str = "v1.29.4+k0s.0";

/// When the first `k0s stop` among `calls` ran.
fn first_stop(calls: &[Call]) -> &str {
    &first(calls, &["stop"]).time
}

fn assert_stopped_and_started_one_at_a_time(order: &[(&str, Vec<Call>)]) {
    for (host, calls) in order {
        assert!(
            has_call(calls, &["stop"]) && has_call(calls, &["start"]),
            "{host} was not restarted: {calls:#?}"
        );
    }
    for pair in order.windows(2) {
        let (a, a_calls) = &pair[0];
        let (b, b_calls) = &pair[1];
        let a_started = last(a_calls, &["start"]).time.as_str();
        let b_stopped = first_stop(b_calls);
        assert!(
            a_started < b_stopped,
            "{b} was stopped ({b_stopped}) before {a} was started again ({a_started}): \
             controllers must go one at a time"
        );
    }
}

#[test]
fn one_controller_installs_reads_drifts_and_destroys_cleanly() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    let config = s.cluster(&["c1"], "");
    s.apply(&config);

    let attrs = s.cluster_attrs();
    assert!(
        attrs["id"].as_str().is_some_and(|id| !id.is_empty()),
        "id: {attrs}"
    );
    assert_eq!(attrs["host_status"]["c1"], "running");
    assert_eq!(
        attrs["api_endpoint"],
        format!("https://{}:6443", s.address("c1"))
    );
    assert!(attrs["kubeconfig"]
        .as_str()
        .unwrap()
        .contains(&format!("server: https://{}:6443", s.address("c1"))));
    assert!(attrs["ca_certificate"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert_eq!(
        attrs["controllers"]["c1"]["host_key"].as_str().unwrap(),
        s.bed.host("c1").host_key("ed25519"),
        "the key presented on first contact is pinned in state"
    );
    let calls = s.calls("c1");
    assert!(
        has_call(
            &calls,
            &["install", "controller", "--config=/etc/k0s/k0s.yaml"]
        ),
        "{calls:?}"
    );
    assert!(has_call(&calls, &["start"]));
    assert_eq!(s.status("c1")["Role"], "controller");

    // Nothing secret in state.
    let raw_state = s.work.read("terraform.tfstate");
    assert!(
        !raw_state.contains("PRIVATE KEY"),
        "the SSH key must not be in state"
    );

    s.assert_plan_empty("after apply");

    // Drift: k0s stopped out of band shows in the plan, and apply fixes it.
    s.k0s("c1", "stop");
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(
        code, 2,
        "a stopped controller must show as a change:\n{text}"
    );
    assert!(text.contains("\"stopped\" -> \"running\""), "{text}");
    s.apply(&config);
    assert!(s.status("c1")["Pid"].as_u64().is_some());
    assert_eq!(s.plan_exit(&[]).0, 0);

    s.destroy();
    s.assert_clean("c1");
}

#[test]
fn three_controllers_join_one_at_a_time_and_survive_a_restart() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let hosts = ["c1", "c2", "c3"];
    s.apply(&s.cluster(&hosts, ""));

    let attrs = s.cluster_attrs();
    for h in hosts {
        assert_eq!(attrs["host_status"][h], "running", "{attrs}");
        assert_eq!(s.status(h)["Role"], "controller", "k0s status on {h}");
    }
    assert_eq!(
        attrs["controller_addresses"][0],
        s.address("c1"),
        "the first key leads"
    );
    let members = s.members("c1");
    assert_eq!(members.len(), 3, "etcd members: {members:?}");
    for h in hosts {
        assert!(
            members.values().any(|url| url.contains(&s.address(h))),
            "{h} is not an etcd member: {members:?}"
        );
    }
    let k0s_config = attrs["k0s_config"].as_str().unwrap();
    assert!(
        k0s_config.contains("nodeLocalLoadBalancing:") && k0s_config.contains("EnvoyProxy"),
        "HA without an external address needs node-local load balancing:\n{k0s_config}"
    );

    // The leader is up before anyone joins, and the joins do not overlap.
    let leader = s.calls("c1");
    let c2 = s.calls("c2");
    let c3 = s.calls("c3");
    let leader_started = &first(&leader, &["start"]).time;
    for (h, calls) in [("c2", &c2), ("c3", &c3)] {
        let join = calls
            .iter()
            .find(|c| c.verb() == "install" && c.has_prefix("--token-file="))
            .unwrap_or_else(|| panic!("{h} was not installed with a token file: {calls:#?}"));
        assert!(
            &join.time > leader_started,
            "{h} joined before the leader started"
        );
        let reinstall = last(calls, &["install", "controller", "--force"]);
        assert!(
            !reinstall.has_prefix("--token-file"),
            "{h}: the last install must drop --token-file: {reinstall:?}"
        );
    }
    let c2_done = &last(&c2, &["install"]).time;
    let c3_begins = &first(&c3, &["install"]).time;
    assert!(
        c2_done < c3_begins,
        "c3 began joining ({c3_begins}) before c2 had finished ({c2_done})"
    );
    let invalidations: usize = leader
        .iter()
        .filter(|c| c.has(&["token", "invalidate"]))
        .count();
    assert_eq!(invalidations, 2, "one token per join, each invalidated");
    assert!(s
        .k0s("c1", "token list --role=controller")
        .contains("No k0s join tokens found"));

    for h in ["c2", "c3"] {
        let host = s.bed.host(h);
        assert_eq!(
            host.exec_ok("ls /etc/k0s/join.token 2>/dev/null || echo gone")
                .trim(),
            "gone",
            "the join token file stays on {h}"
        );
        let unit = host.exec_ok("cat /etc/systemd/system/k0scontroller.service");
        assert!(
            unit.contains("controller") && !unit.contains("--token-file"),
            "the unit on {h} still needs the token:\n{unit}"
        );
    }

    // A joined controller comes back after a restart: it no longer needs the token.
    s.k0s("c2", "stop");
    s.k0s("c2", "start");
    let status = s.wait_for_status("c2", Duration::from_secs(60));
    assert_eq!(status["Role"], "controller");
    assert_eq!(s.members("c2").len(), 3);

    s.assert_plan_empty("after an HA apply");

    let running = s.bed.host("c3").exec_ok("pgrep -f 'bin/k0[s]' || true");
    assert!(
        !running.trim().is_empty(),
        "assert_clean looks for k0s processes this way"
    );
    s.destroy();
    for h in hosts {
        s.assert_clean(h);
    }
}

#[test]
fn a_wiped_controller_rejoins_and_an_out_of_band_version_is_put_back() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let hosts = ["c1", "c2", "c3"];
    let config = s.cluster(&hosts, "");
    s.apply(&config);
    // The leader, the hardest one to lose: it rejoins through another controller.
    let wiped = "c1";
    let others = ["c2", "c3"];
    let old_peer = s.members("c2")[wiped].clone();

    s.bed
        .host(wiped)
        .exec_ok(&format!("{K0S} stop; {K0S} reset; rm -rf /etc/k0s {K0S}"));
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 2, "a wiped controller must show as a change:\n{text}");
    assert!(
        squash(&text).contains(&format!("\"{wiped}\" = \"absent\" -> \"running\"")),
        "{text}"
    );

    let before = s.call_counts(&hosts);
    s.apply(&config);
    let leaves: Vec<(&str, Call)> = others
        .iter()
        .flat_map(|h| {
            s.calls_since(h, before[h])
                .into_iter()
                .filter(|c| c.has(&["etcd", "leave"]))
                .map(move |c| (*h, c))
        })
        .collect();
    assert_eq!(
        leaves.len(),
        1,
        "one etcd leave for the wiped member: {leaves:?}"
    );
    let expected_peer = format!("--peer-address={}", s.address(wiped));
    assert!(
        leaves[0].1.has(&[&expected_peer]) && old_peer.contains(&s.address(wiped)),
        "etcd leave must name the wiped member's peer address ({old_peer}): {leaves:?}"
    );
    let rejoin = s.calls_since(wiped, before[wiped]);
    let install = rejoin
        .iter()
        .find(|c| c.verb() == "install" && c.has_prefix("--token-file="))
        .unwrap_or_else(|| panic!("{wiped} did not rejoin with a token: {rejoin:#?}"));
    assert!(
        leaves[0].1.time < install.time,
        "{wiped} rejoined before its old member left"
    );
    assert_eq!(s.status(wiped)["Role"], "controller");
    let members = s.members("c3");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.contains_key(wiped), "{members:?}");
    assert!(
        s.bed
            .host(wiped)
            .exec_ok("cat /etc/k0s/mke.json")
            .contains(s.cluster_attrs()["id"].as_str().unwrap()),
        "the rejoined controller is marked as part of the cluster"
    );
    s.assert_plan_empty("after the wiped controller rejoined");

    // Another k0s version on c3, out of band.
    let other = variant(Some(SECOND_VERSION), false);
    let host = s.bed.host("c3");
    host.exec_ok(&format!("{K0S} stop"));
    host.put_file(K0S, &std::fs::read(other.path()).unwrap(), 0o755);
    host.exec_ok(&format!("{K0S} start"));
    s.wait_for_status("c3", Duration::from_secs(60));
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 2, "another version must show as a change:\n{text}");
    assert!(
        squash(&text).contains(&format!(
            "k0s_version = \"{SECOND_VERSION}\" -> \"{VERSION}\""
        )),
        "{text}"
    );
    s.apply(&config);
    assert_eq!(s.k0s("c3", "version").trim(), VERSION);
    assert_eq!(s.status("c3")["Version"], VERSION);
    s.assert_plan_empty("after the version was put back");
}

#[test]
fn an_upgrade_replaces_controllers_one_at_a_time() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let hosts = ["c1", "c2", "c3"];
    s.apply(&s.cluster(&hosts, ""));
    let before = s.call_counts(&hosts);

    let newer = variant(Some(SECOND_VERSION), false);
    let plain: Vec<(&str, &str)> = hosts.iter().map(|h| (*h, "")).collect();
    let upgraded = s.cluster_on(
        &provider_block("30s"),
        newer.path(),
        &plain,
        &format!("  k0s_version = \"{SECOND_VERSION}\""),
    );
    s.apply(&upgraded);

    let mut order = Vec::new();
    for h in hosts {
        assert_eq!(s.k0s(h, "version").trim(), SECOND_VERSION, "binary on {h}");
        assert_eq!(s.status(h)["Version"], SECOND_VERSION, "running on {h}");
        let calls = s.calls_since(h, before[h]);
        let stop = first(&calls, &["stop"]).time.clone();
        let install = first(&calls, &["install", "controller", "--force"]);
        assert!(
            !install.has_prefix("--token-file"),
            "an upgrade needs no token: {install:?}"
        );
        let start = last(&calls, &["start"]).time.clone();
        assert!(
            stop < install.time && install.time < start,
            "{h}: stop, install --force, start, in that order: {calls:#?}"
        );
        order.push((h, calls));
    }
    order.sort_by(|a, b| first_stop(&a.1).cmp(first_stop(&b.1)));
    assert_eq!(order[0].0, "c1", "the leader goes first");
    assert_stopped_and_started_one_at_a_time(&order);
    assert_eq!(s.members("c3").len(), 3);
    s.assert_plan_empty("after the upgrade");
}

#[test]
fn a_config_change_is_written_everywhere_and_restarts_one_at_a_time() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let hosts = ["c1", "c2", "c3"];
    s.apply(&s.cluster(&hosts, ""));
    let before = s.call_counts(&hosts);
    for h in hosts {
        assert!(
            !squash(&s.bed.host(h).exec_ok("cat /etc/k0s/k0s.yaml"))
                .contains("telemetry: enabled: false"),
            "telemetry is on by default"
        );
    }

    s.apply(&s.cluster(
        &hosts,
        "  k0s_config_overrides = yamlencode({ spec = { telemetry = { enabled = false } } })",
    ));
    let written = s.cluster_attrs()["k0s_config"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        squash(&written).contains("telemetry: enabled: false"),
        "{written}"
    );
    let mut order = Vec::new();
    for h in hosts {
        let on_host = s.bed.host(h).exec_ok("cat /etc/k0s/k0s.yaml");
        assert_eq!(
            on_host.trim(),
            written.trim(),
            "/etc/k0s/k0s.yaml on {h} is the new config"
        );
        let calls = s.calls_since(h, before[h]);
        assert!(
            !has_call(&calls, &["install"]),
            "a config change needs no reinstall on {h}: {calls:#?}"
        );
        order.push((h, calls));
    }
    order.sort_by(|a, b| first_stop(&a.1).cmp(first_stop(&b.1)));
    assert_stopped_and_started_one_at_a_time(&order);
    for h in hosts {
        assert!(s.status(h)["Pid"].as_u64().is_some(), "{h} runs again");
    }
    s.assert_plan_empty("after the config change");
}

#[test]
fn controllers_are_added_and_removed() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1"], ""));
    let id = s.cluster_attrs()["id"].as_str().unwrap().to_string();

    // 1 → 3: the new ones join through the running controller, one at a time.
    s.apply(&s.cluster(&["c1", "c2", "c3"], ""));
    let attrs = s.cluster_attrs();
    assert_eq!(
        attrs["id"],
        id.as_str(),
        "adding controllers keeps the cluster"
    );
    for h in ["c1", "c2", "c3"] {
        assert_eq!(attrs["host_status"][h], "running", "{attrs}");
    }
    assert_eq!(s.members("c1").len(), 3);
    let c2 = s.calls("c2");
    let c3 = s.calls("c3");
    assert!(
        last(&c2, &["install"]).time < first(&c3, &["install"]).time,
        "c2 and c3 joined at the same time"
    );
    let marker = s.bed.host("c3").exec_ok("cat /etc/k0s/mke.json");
    assert!(
        marker.contains(&id),
        "the marker of a joined controller names the cluster: {marker}"
    );
    s.assert_plan_empty("after adding two controllers");

    // 3 → 1 (etcd stays odd): both leave etcd through c1 and are wiped.
    let before = s.calls("c1").len();
    s.apply(&s.cluster(&["c1"], ""));
    let leaves: Vec<Call> = s
        .calls_since("c1", before)
        .into_iter()
        .filter(|c| c.has(&["etcd", "leave"]))
        .collect();
    for h in ["c2", "c3"] {
        let peer = format!("--peer-address={}", s.address(h));
        assert!(
            leaves.iter().any(|c| c.has(&[&peer])),
            "no etcd leave for {h} on c1: {leaves:?}"
        );
        s.assert_clean(h);
    }
    let members = s.members("c1");
    assert_eq!(
        members.keys().collect::<Vec<_>>(),
        vec!["c1"],
        "{members:?}"
    );
    let attrs = s.cluster_attrs();
    assert_eq!(
        attrs["controller_addresses"],
        serde_json::json!([s.address("c1")])
    );
    s.assert_plan_empty("after removing two controllers");
}

#[test]
fn a_sudo_user_works_and_a_password_prompt_is_a_clear_error() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    s.apply(&s.cluster_on(
        &provider_block("30s"),
        &standin(),
        &[("c1", "user = \"deploy\"")],
        "",
    ));
    assert_eq!(s.cluster_attrs()["host_status"]["c1"], "running");
    assert_eq!(s.status("c1")["Role"], "controller");
    s.assert_plan_empty("with a sudo user");

    // needpw: sudo wants a password. Its own working directory.
    let other = s.workdir(&s.cluster_on(
        &provider_block("30s"),
        &standin(),
        &[("c2", "user = \"needpw\"")],
        "",
    ));
    let out = other.run(&s.tf, &APPLY);
    assert_ne!(out.code, 0, "apply as needpw must fail");
    let text = squash(&out.combined());
    assert!(
        text.contains("sudo") && text.contains(&s.address("c2")) && text.contains("needpw"),
        "the error must name sudo, the user and the host:\n{text}"
    );
    assert_eq!(
        s.bed
            .host("c2")
            .exec_ok(&format!("ls {K0S} 2>/dev/null || echo none"))
            .trim(),
        "none",
        "nothing is installed on a host where sudo fails"
    );
    s.destroy();
    s.assert_clean("c1");
}

#[test]
fn a_controller_behind_a_bastion_is_installed_through_it() {
    let Some(mut s) = scenario(&["jump"]) else {
        return;
    };
    s.add_host_behind("jump", "c1");
    let unreachable = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-i"])
        .arg(s.bed.client_key_path())
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .arg(format!("root@{}", s.address("c1")))
        .arg("true")
        .output()
        .expect("ssh");
    assert!(
        !unreachable.status.success(),
        "c1 must be reachable only through the bastion: {}",
        String::from_utf8_lossy(&unreachable.stdout)
    );
    let provider = provider_block_with(
        "30s",
        &format!(
            "    bastion_host = \"{}\"\n    bastion_host_key = \"{}\"",
            s.address("jump"),
            s.bed.host("jump").host_key("ed25519")
        ),
    );
    s.apply(&s.cluster_on(&provider, &standin(), &[("c1", "")], ""));
    assert_eq!(s.cluster_attrs()["host_status"]["c1"], "running");
    assert_eq!(s.status("c1")["Role"], "controller");
    assert_eq!(
        s.cluster_attrs()["controllers"]["c1"]["host_key"]
            .as_str()
            .unwrap(),
        s.bed.host("c1").host_key("ed25519")
    );
    s.assert_plan_empty("behind a bastion");
    s.destroy();
    s.assert_clean("c1");
}

/// `SHA256:...` of a host's current ed25519 key, as ssh-keygen prints it.
fn fingerprint(s: &Scenario, host: &str) -> String {
    let line = s
        .bed
        .host(host)
        .exec_ok("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    line.split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string()
}

#[test]
fn a_changed_host_key_is_refused_with_both_fingerprints() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1"], ""));
    let old = fingerprint(&s, "c1");
    s.bed.host("c1").reinstall_ssh();
    let new = fingerprint(&s, "c1");
    assert_ne!(old, new);

    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 1, "a changed host key must fail the plan:\n{text}");
    let text = squash(&text);
    for needle in [&old, &new, &s.address("c1"), &"-refresh=false".to_string()] {
        assert!(text.contains(needle.as_str()), "missing {needle}:\n{text}");
    }

    // The way out the error names: pin the new key, apply without refresh.
    let before = s.calls("c1").len();
    let pinned = s.cluster_on(
        &provider_block("30s"),
        &standin(),
        &[(
            "c1",
            &format!("host_key = \"{}\"", s.bed.host("c1").host_key("ed25519")),
        )],
        "",
    );
    s.work.write("main.tf", &pinned);
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
    assert_eq!(
        out.code,
        0,
        "apply -refresh=false failed:\n{}",
        out.combined()
    );
    let changing = changing_calls(s.calls_since("c1", before));
    assert!(
        changing.is_empty(),
        "pinning a new host key changes nothing on the host: {changing:#?}"
    );
    s.assert_plan_empty("after pinning the new host key");
}

#[test]
fn an_unreachable_host_and_a_wrong_key_fail_clearly() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    s.bed.host("c1").set_link(false);
    let config = s.cluster_on(&provider_block("5s"), &standin(), &[("c1", "")], "");
    let started = Instant::now();
    let out = s.try_apply(&config);
    let took = started.elapsed();
    assert_ne!(out.code, 0, "apply to an unreachable host must fail");
    let text = squash(&out.combined());
    assert!(
        text.contains(&s.address("c1")) && text.contains("5s"),
        "the error must name the host and the timeout:\n{text}"
    );
    assert!(
        took < Duration::from_secs(15),
        "a 5 s SSH timeout took {took:?} to fail"
    );

    // A key the host does not accept: its own working directory.
    let wrong = Workdir::new(&s.cluster_on(&provider_block("30s"), &standin(), &[("c2", "")], ""));
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(wrong.path().join("key.pem"))
        .output()
        .expect("ssh-keygen");
    assert!(keygen.status.success(), "{keygen:?}");
    let out = wrong.run(&s.tf, &APPLY);
    assert_ne!(out.code, 0, "apply with a wrong key must fail");
    let text = squash(&out.combined());
    assert!(
        text.contains(&s.address("c2"))
            && (text.contains("Permission denied") || text.contains("authentication")),
        "the error must name the host and the refused key:\n{text}"
    );
}

#[test]
fn nothing_secret_reaches_state_or_the_trace_log() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let recorder = variant(None, true);
    let plain: Vec<(&str, &str)> = ["c1", "c2", "c3"].iter().map(|h| (*h, "")).collect();
    let config = s.cluster_on(&provider_block("30s"), recorder.path(), &plain, "");
    s.work.write("main.tf", &config);
    let (out, trace) = s.work.run_logged(&s.tf, &APPLY, "trace", "trace.log");
    assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());

    let state = s.work.read("terraform.tfstate");
    assert!(
        trace.contains("mke_cluster") && trace.contains("token create --role=controller"),
        "the trace log ({} bytes) must hold the provider's own log of the joins",
        trace.len()
    );
    assert!(
        state.contains("mke_cluster"),
        "no cluster in state:\n{state}"
    );

    let key = s.bed.client_private_key();
    let key_lines: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 20)
        .collect();
    assert!(!key_lines.is_empty());
    let minted = s.bed.host("c1").exec_ok(&format!("cat {MINTED_TOKENS}"));
    let secrets: Vec<&str> = minted.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        secrets.len(),
        4,
        "two joins, each a token and its bearer part:\n{minted}"
    );
    // Each bearer part is `<id>.<secret>`; the provider invalidated each id.
    let leader = s.calls("c1");
    for bearer in secrets.iter().skip(1).step_by(2) {
        let (id, _) = bearer
            .split_once('.')
            .unwrap_or_else(|| panic!("not a bootstrap token: {bearer}"));
        assert!(
            has_call(&leader, &["token", "invalidate", id]),
            "token {id} was not invalidated"
        );
    }
    for (what, text) in [("terraform.tfstate", &state), ("the trace log", &trace)] {
        assert!(!text.contains("PRIVATE KEY"), "a private key in {what}");
        for line in &key_lines {
            assert!(!text.contains(line), "the SSH private key is in {what}");
        }
        for secret in &secrets {
            assert!(!text.contains(secret), "a join token is in {what}");
        }
    }
}

#[test]
fn an_imported_cluster_plans_an_update_that_touches_no_host() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    let hosts = ["c1", "c2", "c3"];
    let config = s.cluster(&hosts, "");
    s.apply(&config);
    let created = s.cluster_attrs();

    let other = s.workdir(&config);
    let id = hosts
        .iter()
        .map(|h| format!("{h}={}", s.address(h)))
        .collect::<Vec<_>>()
        .join(",");
    let before = s.call_counts(&hosts);
    let out = other.run(
        &s.tf,
        &[
            "import",
            "-input=false",
            "-no-color",
            "mke_cluster.main",
            &id,
        ],
    );
    assert_eq!(out.code, 0, "import failed:\n{}", out.combined());

    let plan = other.run(&s.tf, &PLAN_CHANGES);
    assert_eq!(
        plan.code,
        2,
        "the first plan records what only the configuration knows:\n{}",
        plan.combined()
    );
    assert!(
        plan.stdout.contains("will be updated in-place"),
        "an update, not a replacement:\n{}",
        plan.stdout
    );
    let out = other.run(&s.tf, &APPLY);
    assert_eq!(
        out.code,
        0,
        "apply after import failed:\n{}",
        out.combined()
    );
    for h in hosts {
        let changing = changing_calls(s.calls_since(h, before[h]));
        assert!(
            changing.is_empty(),
            "import and its first apply must not change {h}: {changing:#?}"
        );
    }
    let plan = other.run(&s.tf, &PLAN_CHANGES);
    assert_eq!(
        plan.code,
        0,
        "the plan after that is empty:\n{}",
        plan.combined()
    );
    let imported = other.state();
    let attrs = &imported["resources"][0]["instances"][0]["attributes"];
    for field in [
        "id",
        "name",
        "k0s_config",
        "api_endpoint",
        "controller_addresses",
    ] {
        assert_eq!(attrs[field], created[field], "{field} after import");
    }
}

#[test]
fn a_create_that_fails_midway_keeps_what_was_done_and_a_rerun_converges() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    // c3 cannot take its join token: the path is a directory.
    s.bed.host("c3").exec_ok("mkdir -p /etc/k0s/join.token");
    let config = s.cluster(&["c1", "c2", "c3"], "");
    let out = s.try_apply(&config);
    assert_ne!(out.code, 0, "the create must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains(&s.address("c3")),
        "the error names the host: {text}"
    );
    assert!(
        text.contains("join token"),
        "the error names the step: {text}"
    );

    // What was done is in state, tainted, with every value known.
    let state = s.state();
    let instance = &state["resources"][0]["instances"][0];
    assert_eq!(instance["status"], "tainted", "{instance}");
    let attrs = &instance["attributes"];
    assert_eq!(attrs["host_status"]["c1"], "running", "{attrs}");
    assert_eq!(attrs["host_status"]["c2"], "running", "{attrs}");
    assert_eq!(attrs["host_status"]["c3"], "absent", "{attrs}");
    assert!(attrs["id"].as_str().is_some_and(|id| !id.is_empty()));

    // The rerun replaces the tainted cluster: every host is reset, then installed again.
    let rerun = s.apply(&config);
    assert!(
        rerun.stdout.contains("1 added, 0 changed, 1 destroyed"),
        "{}",
        rerun.stdout
    );
    for h in ["c1", "c2", "c3"] {
        assert_eq!(s.status(h)["Role"], "controller", "{h}");
    }
    assert_eq!(s.members("c1").len(), 3);
    s.assert_plan_empty("after the rerun");
}

#[test]
fn an_unreachable_leader_is_a_warning_and_the_others_are_still_read() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1", "c2", "c3"], ""));
    s.bed.host("c1").set_link(false);
    // Drift on another controller must still be seen.
    s.bed.host("c3").exec_ok(&format!("{K0S} stop"));
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(code, 2, "{text}");
    let flat = squash(&text);
    assert!(
        flat.contains("Warning: Controller c1 is unreachable"),
        "{flat}"
    );
    assert!(
        flat.contains("\"c1\" = \"unreachable\" -> \"running\""),
        "{flat}"
    );
    assert!(
        flat.contains("\"c3\" = \"stopped\" -> \"running\""),
        "{flat}"
    );
    s.bed.host("c1").set_link(true);
    s.apply(&s.cluster(&["c1", "c2", "c3"], ""));
    s.assert_plan_empty("after the leader came back");
}
