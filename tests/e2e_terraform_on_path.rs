//! The same lifecycle on the `terraform` found on PATH (1.11.4 on the
//! development machines): create a controller and a worker, an empty plan,
//! destroy. CI machines have no such binary; the test then says so.

mod support;

use support::e2e::{standin, Scenario};
use support::terraform;

#[test]
fn a_cluster_and_a_worker_on_the_terraform_on_path() {
    let Some(tf) = terraform::terraform_on_path() else {
        eprintln!(
            "SKIPPED: no terraform 1.5+ on PATH besides the bundled 1.15 (this is expected in CI)"
        );
        return;
    };
    let Some(s) = Scenario::with(tf, &["c1", "w1"]) else {
        return;
    };
    let (bed, work, tf) = (&s.bed, &s.work, &s.tf);
    work.write(
        "main.tf",
        &format!(
            r#"{provider}
resource "mke_cluster" "main" {{
  name            = "path"
  k0s_binary_path = "{standin}"
  controllers     = {{ c1 = {{ address = "{c1}" }} }}
}}
resource "mke_node" "worker" {{
  cluster_id      = mke_cluster.main.id
  controllers     = mke_cluster.main.controllers
  k0s_binary_path = mke_cluster.main.k0s_binary_path
  address         = "{w1}"
}}
"#,
            provider = s.provider_block("30s"),
            standin = standin(),
            c1 = bed.host("c1").address,
            w1 = bed.host("w1").address,
        ),
    );
    let apply = work.run(tf, &["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert_eq!(apply.code, 0, "{}", apply.combined());
    let plan = work.run(
        tf,
        &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
    );
    assert_eq!(
        plan.code,
        0,
        "plan after apply must be empty:\n{}",
        plan.combined()
    );
    let nodes = bed
        .host("c1")
        .exec_ok("/usr/local/bin/k0s kubectl get nodes -o json");
    assert!(nodes.contains("\"w1\""), "{nodes}");
    let destroy = work.run(tf, &["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(destroy.code, 0, "{}", destroy.combined());
    assert!(!bed
        .host("c1")
        .exec_ok("/usr/local/bin/k0s kubectl get nodes -o json 2>/dev/null || echo gone")
        .contains("\"w1\""));
}
