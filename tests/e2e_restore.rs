//! `mke_cluster.restore_from`: a cluster destroyed and created again from a backup archive is
//! the same cluster (id, objects), its plan is empty afterwards, and archives that would not
//! restore it are refused at plan time naming the file or the setting.

mod support;

use base64::Engine;
use support::e2e::{scenario, squash, Scenario};

/// A backup of `host` as `k0s backup --save-path=-` streams it, written to `name` in the
/// working directory; returns its path.
fn backup(s: &Scenario, host: &str, name: &str) -> String {
    let encoded = s.bed.host(host).exec_ok(&format!(
        "{} backup --save-path=- | base64 -w0",
        support::standin::K0S
    ));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .expect("base64 of the archive");
    let path = s.work.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

fn kube_system_uid(s: &Scenario, host: &str) -> String {
    s.k0s(
        host,
        "kubectl get namespace kube-system -o jsonpath={.metadata.uid}",
    )
    .trim()
    .to_string()
}

#[test]
fn a_cluster_created_from_a_backup_is_the_same_cluster_and_plans_empty() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1"], ""));
    let id = s.cluster_attrs()["id"].as_str().unwrap().to_string();
    assert_eq!(id, kube_system_uid(&s, "c1"));
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"kept","namespace":"default"},"data":{"k":"dg=="}}"#;
    s.bed.host("c1").exec_ok(&format!(
        "echo '{secret}' | {} kubectl apply -f -",
        support::standin::K0S
    ));
    let archive = backup(&s, "c1", "before.tar.gz");

    s.destroy();
    s.assert_clean("c1");

    let restoring = s.cluster(&["c1", "c2"], &format!("  restore_from = \"{archive}\""));
    s.apply(&restoring);
    let attrs = s.cluster_attrs();
    assert_eq!(attrs["id"], id.as_str(), "the cluster id is the backup's");
    assert_eq!(kube_system_uid(&s, "c1"), id);
    s.k0s("c1", "kubectl get secret kept -n default");
    let members = s.members("c1");
    assert_eq!(members.len(), 2, "c2 joined the restored c1: {members:?}");
    assert_eq!(attrs["host_status"]["c2"], "running");
    s.assert_plan_empty("after the restore");

    // The archive has done its work: removing the attribute changes no host.
    let before = s.calls("c1").len();
    s.apply(&s.cluster(&["c1", "c2"], ""));
    let changing = support::standin::changing_calls(s.calls_since("c1", before));
    assert!(changing.is_empty(), "{changing:#?}");
    s.assert_plan_empty("after removing restore_from");
}

#[test]
fn archives_that_would_not_restore_the_plan_are_refused_before_any_host_is_touched() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    s.apply(&s.cluster(&["c1"], ""));
    let archive = backup(&s, "c1", "good.tar.gz");

    let corrupt = s.work.path().join("corrupt.tar.gz");
    std::fs::write(&corrupt, b"not an archive at all").unwrap();
    let fresh = s.workdir(&s.cluster(
        &["c2"],
        &format!("  restore_from = \"{}\"", corrupt.display()),
    ));
    let out = fresh.run(&s.tf, &["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1, "{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("Cannot restore from this archive")
            && text.contains(&corrupt.display().to_string())
            && text.contains("gzip"),
        "{text}"
    );

    // Another pod range than the archive's: an error on the attribute to change.
    fresh.write(
        "main.tf",
        &s.cluster(
            &["c2"],
            &format!(
                "  restore_from = \"{archive}\"\n  network = {{ pod_cidr = \"10.50.0.0/16\" }}"
            ),
        ),
    );
    let out = fresh.run(&s.tf, &["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1, "{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("The backup's network differs from the plan")
            && text.contains("spec.network.podCIDR was 10.244.0.0/16")
            && text.contains("network.pod_cidr"),
        "{text}"
    );

    // Another API address: a warning, the plan goes on.
    fresh.write(
        "main.tf",
        &s.cluster(&["c2"], &format!("  restore_from = \"{archive}\"")),
    );
    let out = fresh.run(&s.tf, &["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("The restored cluster gets another API address")
            && text.contains(&s.address("c1")),
        "{text}"
    );
    let calls = s.calls("c2");
    assert!(calls.is_empty(), "nothing ran on c2: {calls:#?}");
}
