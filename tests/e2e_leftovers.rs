//! What a failed or stopped operation leaves on the hosts: no join token
//! file after a failed join; a drain and an upload that stop on Ctrl-C,
//! keeping the state they reached and no partial binary.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mke_ssh::{Host, Secret};
use serde_json::Value as Json;
use support::e2e::{scenario, squash, standin, Scenario};
use support::terraform::REQUIRED_PROVIDERS;
use support::testbed::{require_root_or_fail, TestBed, TestHost};
use terraform_provider_mke::ops::phase::stage::{self, BinarySource};
use terraform_provider_mke::ops::phase::{drain, probe};
use terraform_provider_mke::ops::{runtime, Cancel, OpError, Runtime, Settings};

const TOKEN_FILE: &str = "/etc/k0s/join.token";

/// Controller `c1` and an `mke_node` on `w1`.
fn cluster_with_worker(s: &Scenario) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "mke" {{
  ssh {{
    private_key = file("${{path.module}}/key.pem")
    timeout     = "30s"
  }}
}}

resource "mke_cluster" "main" {{
  name            = "leftovers"
  k0s_binary_path = "{standin}"
  controllers     = {{ c1 = {{ address = "{c1}" }} }}
}}

resource "mke_node" "w1" {{
  cluster_id      = mke_cluster.main.id
  controllers     = mke_cluster.main.controllers
  k0s_version     = mke_cluster.main.k0s_version
  k0s_binary_path = mke_cluster.main.k0s_binary_path
  address         = "{w1}"
}}
"#,
        standin = standin(),
        c1 = s.bed.host("c1").address,
        w1 = s.bed.host("w1").address,
    )
}

/// A provider runtime that reaches the bed's hosts with its key.
fn runtime(bed: &TestBed) -> Runtime {
    let mut settings = Settings::default();
    settings.ssh.private_key = Some(Secret::new(bed.client_private_key()));
    settings.ssh.timeout = Duration::from_secs(20);
    Runtime::new(settings)
}

async fn connect(rt: &Runtime, host: &TestHost) -> Arc<Host> {
    let target = runtime::target(&host.address, None, None, None);
    rt.connect(&target, Duration::from_secs(20))
        .await
        .expect("connect")
}

/// Polls `host` with `probe` (a shell test) until it succeeds, for at most `limit`.
fn until(host: &TestHost, probe: &str, limit: Duration, what: &str) {
    let started = Instant::now();
    while !host.exec(probe).status.success() {
        assert!(
            started.elapsed() < limit,
            "{what} (`{probe}` on {}) within {limit:?}",
            host.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_join_that_fails_after_the_token_was_written_leaves_no_token_file() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    // `k0s install worker --force` cannot replace a directory where its unit
    // file goes, so the join fails after the token reached the worker.
    s.bed
        .host("w1")
        .exec_ok("mkdir -p /etc/systemd/system/k0sworker.service/in-the-way");
    let out = s.try_apply(&cluster_with_worker(&s));
    assert_ne!(out.code, 0, "the join must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("k0s install worker"),
        "says which step failed: {text}"
    );

    let w1 = s.bed.host("w1");
    let left = w1.exec(&format!("test -e {TOKEN_FILE}"));
    assert!(
        !left.status.success(),
        "{TOKEN_FILE} survived the failed join"
    );
    let calls = s
        .bed
        .host("c1")
        .exec_ok("cat /var/log/k0s-standin/calls.jsonl");
    assert!(
        calls.contains(r#""token", "invalidate""#),
        "the token was invalidated on the controller: {calls}"
    );

    // Once the obstacle is gone, the next apply joins (and again leaves no file).
    w1.exec_ok("rm -rf /etc/systemd/system/k0sworker.service");
    s.apply(&cluster_with_worker(&s));
    assert!(!w1.exec(&format!("test -e {TOKEN_FILE}")).status.success());
}

fn node(c1: &TestHost, name: &str) -> Json {
    let text = c1.exec_ok(&format!(
        "/usr/local/bin/k0s kubectl get node {name} -o json"
    ));
    serde_json::from_str(&text).expect("node JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_a_drain_and_leaves_the_node_cordoned() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    s.apply(&cluster_with_worker(&s));
    let c1 = s.bed.host("c1");
    // The stand-in's knob: pods on this node cannot be evicted.
    c1.exec_ok("/usr/local/bin/k0s kubectl annotate node w1 standin.test/drain-blocked=true");

    let rt = runtime(&s.bed);
    let controller = connect(&rt, c1).await;
    let cancel = Cancel::new();
    let draining = tokio::spawn({
        let cancel = cancel.clone();
        let controller = controller.clone();
        async move { drain::drain(&cancel, &controller, "w1", Duration::from_secs(600)).await }
    });
    let drain_runs = "pgrep -f '[k]0s kubectl .*drain w1' >/dev/null";
    let cordoned = "/usr/local/bin/k0s kubectl get node w1 -o json | \
                    python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)[\"spec\"].get(\"unschedulable\") else 1)'";
    tokio::task::block_in_place(|| {
        until(
            c1,
            cordoned,
            Duration::from_secs(30),
            "the drain cordons the node",
        );
        until(c1, drain_runs, Duration::from_secs(1), "the drain evicts");
    });
    assert!(!draining.is_finished(), "{:?}", draining.await);

    let stopped = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), draining)
        .await
        .expect("the drain stops at once")
        .unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(5));
    let e = result.unwrap_err();
    assert!(matches!(e, OpError::Cancelled { .. }), "{e}");
    assert!(
        e.to_string().contains("while draining node w1 on"),
        "says what it stopped: {e}"
    );

    assert_eq!(
        node(c1, "w1")["spec"]["unschedulable"],
        true,
        "the node stays cordoned, as the drain left it"
    );
    tokio::task::block_in_place(|| {
        until(
            c1,
            &format!("! {drain_runs}"),
            Duration::from_secs(10),
            "the drain on the controller is stopped",
        )
    });
    assert_eq!(
        c1.exec_ok("ls /run | grep mke-provider || true"),
        "",
        "no pid or stop file left in /run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_an_upload_and_leaves_no_partial_binary() {
    if !require_root_or_fail("the e2e tests need root for network namespaces") {
        return;
    }
    let bed = TestBed::new(&["h1"]).expect("test bed");
    let h1 = bed.host("h1");
    let local = tempfile::tempdir().unwrap();
    let big = local.path().join("k0s");
    std::fs::write(&big, vec![0u8; 128 << 20]).unwrap();

    let rt = runtime(&bed);
    let host = connect(&rt, h1).await;
    let facts = probe::probe(&host).await.expect("probe");
    // A slow link, so the upload is still running when it is stopped.
    h1.set_delay(200);
    let cancel = Cancel::new();
    let staging = tokio::spawn({
        let cancel = cancel.clone();
        let host = host.clone();
        let source = BinarySource::new(Some(big.to_str().expect("a UTF-8 path")), None);
        async move {
            stage::stage_k0s(
                &cancel,
                &host,
                &facts,
                "v1.29.3+k0s.0",
                &source,
                Duration::from_secs(600),
            )
            .await
        }
    });
    let partial = "ls /usr/local/bin | grep -q '^k0s\\.tmp\\.'";
    tokio::task::block_in_place(|| {
        until(h1, partial, Duration::from_secs(60), "the upload starts")
    });

    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), staging)
        .await
        .expect("the upload stops at once")
        .unwrap();
    let e = result.unwrap_err();
    assert!(
        e.to_string().contains("while uploading k0s on"),
        "says what it stopped: {e}"
    );
    h1.set_delay(0);
    tokio::task::block_in_place(|| {
        until(
            h1,
            &format!("! {partial}"),
            Duration::from_secs(30),
            "the host removes the partial upload",
        )
    });
    assert!(
        !h1.exec("test -e /usr/local/bin/k0s").status.success(),
        "no binary was put in place"
    );
}
