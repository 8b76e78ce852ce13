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

#[test]
fn refresh_warns_about_a_control_plane_certificate_that_expires_soon() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    // The stand-in's knob: k0s-api.crt is issued for 5 days when k0s starts.
    s.bed.host("c1").exec_ok(
        "mkdir -p /etc/k0s-standin && echo 'k0s-api 5' > /etc/k0s-standin/short-lived-certificates",
    );
    let in_five_days = || {
        let at = std::time::SystemTime::now() + Duration::from_secs(5 * 86_400);
        mke_k0s::kube::rfc3339(at)[..10].to_string()
    };
    let before = in_five_days();
    s.apply(&s.cluster(&["c1"], ""));

    let plan = s.work.run(&s.tf, &["plan", "-input=false", "-no-color"]);
    let text = squash(&plan.combined());
    assert_eq!(plan.code, 0, "{text}");
    let address = s.address("c1");
    assert!(
        text.contains(&format!("Warning: Certificate on {address} expires soon")),
        "{text}"
    );
    let detail = format!("/var/lib/k0s/pki/k0s-api.crt (CN=k0s-api) on {address} expires on ");
    assert!(text.contains(&detail), "{text}");
    assert!(
        text.contains(&format!("expires on {before}T"))
            || text.contains(&format!("expires on {}T", in_five_days())),
        "the date must be five days ahead:\n{text}"
    );
    assert!(text.contains("(in 5 days)"), "{text}");
    assert!(text.contains("systemctl restart k0scontroller"), "{text}");
    assert_eq!(
        text.matches("expires soon").count(),
        1,
        "only the short-lived certificate is near its expiry:\n{text}"
    );

    // Off with certificate_warning_days = 0.
    let quiet = s.cluster(&["c1"], "").replacen(
        "provider \"mke\" {",
        "provider \"mke\" {\n  certificate_warning_days = 0",
        1,
    );
    s.work.write("main.tf", &quiet);
    let plan = s.work.run(&s.tf, &["plan", "-input=false", "-no-color"]);
    let text = squash(&plan.combined());
    assert_eq!(plan.code, 0, "{text}");
    assert!(!text.contains("expires soon"), "{text}");
}
