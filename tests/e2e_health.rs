//! mke_cluster_health end to end: a `check` block on a cluster of one
//! controller and one worker, on the test bed with the k0s stand-in (a test
//! double) as the k0s binary.

mod support;

use std::time::{Duration, Instant};

use support::e2e::{controller_and_workers, provider_block, scenario, squash};
use support::kube::kubectl_json;

const HEALTH_CHECK: &str = r#"
check "health" {
  data "mke_cluster_health" "main" {
    controllers = mke_cluster.main.controllers
  }

  assert {
    condition     = data.mke_cluster_health.main.healthy
    error_message = "healthy=${data.mke_cluster_health.main.healthy} nodes=${jsonencode({ for n, node in data.mke_cluster_health.main.nodes : n => node.ready })} controllers=${jsonencode(data.mke_cluster_health.main.controller_health)} certificates_expire_at=${coalesce(data.mke_cluster_health.main.certificates_expire_at, "none")}"
  }
}
"#;

fn node_ready(host: &support::testbed::TestHost, name: &str) -> Option<bool> {
    let nodes = kubectl_json(host, "get nodes");
    let node = nodes["items"]
        .as_array()?
        .iter()
        .find(|n| n["metadata"]["name"] == name)?
        .clone();
    Some(
        node["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True"),
    )
}

#[test]
fn a_check_block_reports_a_stopped_worker_as_a_warning() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let config = format!(
        "{}{HEALTH_CHECK}",
        controller_and_workers(&s.bed, &provider_block("30s"), "health", &["w1"], "")
    );
    let out = s.apply(&config);
    let text = squash(&out.combined());
    assert!(
        !text.contains("Check block assertion failed"),
        "a healthy cluster fails its check:\n{text}"
    );

    // The stand-in keeps a Node Ready for a grace period after its last heartbeat.
    s.k0s("w1", "stop");
    let started = Instant::now();
    while node_ready(s.bed.host("c1"), "w1") != Some(false) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "w1 stays Ready after k0s stopped there"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let plan = s.work.run(&s.tf, &["plan", "-input=false", "-no-color"]);
    let text = squash(&plan.combined());
    assert_ne!(
        plan.code, 1,
        "a failed check must not fail the plan:\n{text}"
    );
    assert!(
        text.contains("Warning: Check block assertion failed"),
        "no warning from the check block:\n{text}"
    );
    assert!(
        text.contains("healthy=false nodes={\"w1\":false}"),
        "w1 must be NotReady and the cluster unhealthy:\n{text}"
    );
    assert!(
        text.contains(
            "controllers={\"c1\":{\"etcd_member_healthy\":true,\"reachable\":true,\"running\":true,\"version\":\"v1.29.3+k0s.0\"}}"
        ),
        "{text}"
    );
    assert!(
        text.contains("certificates_expire_at=20"),
        "the certificates' expiry must be read:\n{text}"
    );
}
