//! Failing closed over SSH, end to end on the test bed: only an address that
//! does not answer is "unreachable". A host that refuses the key or presents
//! another host key is an error on refresh and on destroy, and nothing is
//! changed anywhere; a create waits for authorized keys that arrive late.

mod support;

use support::e2e::{controller_and_workers, provider_block, scenario, squash, Scenario};
use support::kube::kubectl_json;
use support::standin::{changing_calls, Call};
use support::terraform::{APPLY, DESTROY};

const AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";
const MARKER: &str = "/etc/k0s/mke.json";

impl Scenario {
    /// One controller `c1` and one mke_node per worker.
    fn nodes(&self, workers: &[&str]) -> String {
        controller_and_workers(&self.bed, &provider_block("30s"), "nodes", workers, "")
    }

    /// The host no longer accepts the bed's key.
    /// Revokes the provider's key and ends the sessions it holds, as an administrator
    /// locking a user out does: a persisted connection would otherwise serve on.
    fn revoke_key(&self, host: &str) {
        let host = self.bed.host(host);
        host.exec_ok(&format!("mv {AUTHORIZED_KEYS} {AUTHORIZED_KEYS}.off"));
        host.end_ssh_sessions();
    }

    fn restore_key(&self, host: &str) {
        self.bed
            .host(host)
            .exec_ok(&format!("mv {AUTHORIZED_KEYS}.off {AUTHORIZED_KEYS}"));
    }

    /// `SHA256:...` of the host's current ed25519 key.
    fn fingerprint(&self, host: &str) -> String {
        let line = self
            .bed
            .host(host)
            .exec_ok("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
        line.split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_string()
    }

    fn marker(&self, host: &str) -> String {
        self.bed.host(host).exec_ok(&format!("cat {MARKER}"))
    }

    fn has_node(&self, name: &str) -> bool {
        kubectl_json(self.bed.host("c1"), "get nodes")["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["metadata"]["name"] == name)
    }

    /// `terraform destroy`, then (the refresh having failed) `destroy
    /// -refresh=false`, which reaches the delete itself; the flattened
    /// output of each. Both must fail.
    fn failing_destroys(&self) -> [String; 2] {
        let with_refresh = self.work.run(&self.tf, &DESTROY);
        let mut without: Vec<&str> = DESTROY.to_vec();
        without.push("-refresh=false");
        let without_refresh = self.work.run(&self.tf, &without);
        [with_refresh, without_refresh].map(|out| {
            assert_ne!(out.code, 0, "destroy must fail:\n{}", out.combined());
            squash(&out.combined())
        })
    }

    fn resource_types_in_state(&self) -> Vec<String> {
        self.state()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The calls since `since` on `host` that can change it (listing Kubernetes
/// objects with any flags is reading).
fn changes_on(s: &Scenario, host: &str, since: usize) -> Vec<Call> {
    changing_calls(s.calls_since(host, since))
        .into_iter()
        .filter(|c| !(c.verb() == "kubectl" && c.has(&["get"])))
        .collect()
}

#[test]
fn a_wrong_key_on_destroy_fails_keeps_the_node_in_state_and_touches_nothing() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    s.apply(&s.nodes(&["w1"]));
    let marker = s.marker("w1");
    let pid = s.status("w1")["Pid"].clone();
    let before = s.call_counts(&["c1", "w1"]);
    s.revoke_key("w1");

    let [refreshed, deleted] = s.failing_destroys();
    let address = s.address("w1");
    for (text, summary) in [
        (
            &refreshed,
            format!("Error: Cannot read the node at {address}"),
        ),
        (
            &deleted,
            format!(
                "Error: Cannot delete the node at {address}; nothing was drained, deleted or \
                 wiped"
            ),
        ),
    ] {
        for needle in [&summary, "Permission denied", "terraform state rm"] {
            assert!(text.contains(needle), "missing {needle:?}:\n{text}");
        }
        assert!(
            !text.contains("unreachable"),
            "a refused key is not an unreachable host:\n{text}"
        );
    }

    // Everything stays: state, the Node, k0s and the marker on the host.
    assert_eq!(
        s.resource_types_in_state(),
        ["mke_cluster", "mke_node"],
        "both resources stay in state"
    );
    assert!(s.has_node("w1"), "the Node object is not deleted");
    assert_eq!(
        s.status("w1")["Pid"],
        pid,
        "k0s still runs on w1, untouched"
    );
    assert_eq!(s.marker("w1"), marker, "the marker is intact");
    for host in ["c1", "w1"] {
        let changing = changes_on(&s, host, before[host]);
        assert!(
            changing.is_empty(),
            "nothing changed on {host} (no drain, no Node deletion, no wipe): {changing:#?}"
        );
    }

    // Once the key is accepted again, destroy does its whole job.
    s.restore_key("w1");
    s.destroy();
    s.assert_clean("w1");
    s.assert_clean("c1");
}

#[test]
fn a_controller_that_refuses_the_key_stops_the_whole_cluster_destroy() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1", "c2"], ""));
    let before = s.call_counts(&["c1", "c2"]);
    s.revoke_key("c2");

    let [refreshed, deleted] = s.failing_destroys();
    for (text, summary) in [
        (&refreshed, "Error: Cannot read controller c2"),
        (
            &deleted,
            "Error: Cannot delete controller c2; no controller was wiped",
        ),
    ] {
        for needle in [summary, "Permission denied"] {
            assert!(text.contains(needle), "missing {needle:?}:\n{text}");
        }
    }
    assert_eq!(s.resource_types_in_state(), ["mke_cluster"]);
    for host in ["c1", "c2"] {
        assert_eq!(
            s.status(host)["Role"],
            "controller",
            "k0s still runs on {host}"
        );
        let changing = changes_on(&s, host, before[host]);
        assert!(
            changing.is_empty(),
            "nothing changed on {host}: {changing:#?}"
        );
    }

    s.restore_key("c2");
    s.destroy();
    s.assert_clean("c1");
    s.assert_clean("c2");
}

#[test]
fn on_refresh_only_a_worker_that_does_not_answer_is_unreachable() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    s.apply(&s.nodes(&["w1"]));
    let address = s.address("w1");

    // A link that is down: a warning, and the plan shows it.
    s.bed.host("w1").set_link(false);
    let (code, text) = s.plan_exit(&[]);
    let flat = squash(&text);
    assert_eq!(code, 2, "{flat}");
    assert!(
        flat.contains(&format!("Warning: Node {address} is unreachable")),
        "{flat}"
    );
    assert!(
        flat.contains("status = \"unreachable\" -> \"running\""),
        "{flat}"
    );
    s.bed.host("w1").set_link(true);

    // A refused key: an error, not "unreachable".
    s.revoke_key("w1");
    let (code, text) = s.plan_exit(&[]);
    let flat = squash(&text);
    assert_eq!(code, 1, "a refused key must fail the plan:\n{flat}");
    assert!(
        flat.contains(&format!("Error: Cannot read the node at {address}"))
            && flat.contains("Permission denied"),
        "{flat}"
    );
    assert!(!flat.contains("unreachable"), "{flat}");
    s.restore_key("w1");

    // A changed host key: an error naming both fingerprints.
    let old = s.fingerprint("w1");
    s.bed.host("w1").reinstall_ssh();
    let new = s.fingerprint("w1");
    assert_ne!(old, new);
    let (code, text) = s.plan_exit(&[]);
    let flat = squash(&text);
    assert_eq!(code, 1, "a changed host key must fail the plan:\n{flat}");
    for needle in [
        format!("Error: Cannot read the node at {address}"),
        old.clone(),
        new.clone(),
    ] {
        assert!(flat.contains(&needle), "missing {needle:?}:\n{flat}");
    }
    assert!(!flat.contains("unreachable"), "{flat}");
    assert_eq!(
        s.state()["resources"][1]["instances"][0]["attributes"]["status"],
        "running",
        "the state is kept as it was"
    );
}

#[test]
fn a_create_waits_for_authorized_keys_that_arrive_late() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    // Like cloud-init on a fresh VM: sshd answers at once, the key lands seconds later.
    s.bed.host("c1").exec_ok(&format!(
        "mv {AUTHORIZED_KEYS} {AUTHORIZED_KEYS}.late && \
         (setsid sh -c 'sleep 4; mv {AUTHORIZED_KEYS}.late {AUTHORIZED_KEYS}' \
           </dev/null >/dev/null 2>&1 &)"
    ));
    s.work.write("main.tf", &s.cluster(&["c1"], ""));
    let (out, log) = s.work.run_logged(&s.tf, &APPLY, "INFO", "apply.log");
    assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());
    assert!(
        log.contains("the login was refused; retrying"),
        "each retry is logged at INFO:\n{log}"
    );
    assert_eq!(s.status("c1")["Role"], "controller");
    s.assert_plan_empty("after a create that waited for its key");
}
