//! The same lifecycle on the `terraform` found on PATH (1.11.4 on the
//! development machines): create a controller and a worker, an empty plan,
//! destroy. CI machines have no such binary; the test then says so.

mod support;

use support::e2e::{controller_and_workers, provider_block, Scenario};
use support::standin::K0S;
use support::terraform::{self, APPLY, DESTROY, PLAN_CHANGES};

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
        &controller_and_workers(bed, &provider_block("30s"), "path", &["w1"], ""),
    );
    let apply = work.run(tf, &APPLY);
    assert_eq!(apply.code, 0, "{}", apply.combined());
    let plan = work.run(tf, &PLAN_CHANGES);
    assert_eq!(
        plan.code,
        0,
        "plan after apply must be empty:\n{}",
        plan.combined()
    );
    let nodes = bed
        .host("c1")
        .exec_ok(&format!("{K0S} kubectl get nodes -o json"));
    assert!(nodes.contains("\"w1\""), "{nodes}");
    let destroy = work.run(tf, &DESTROY);
    assert_eq!(destroy.code, 0, "{}", destroy.combined());
    assert!(!bed
        .host("c1")
        .exec_ok(&format!(
            "{K0S} kubectl get nodes -o json 2>/dev/null || echo gone"
        ))
        .contains("\"w1\""));
}
