//! `mke_cluster.backup`: a change that stops a controller takes a backup first (with every
//! Terraform and OpenTofu, no action needed), records it in `last_backup`, and a backup that
//! fails stops the update before any host changes.

mod support;

use support::e2e::{scenario, squash, Scenario};
use support::standin::changing_calls;

fn with_backup(s: &Scenario, directory: &str, proxy_mode: &str) -> String {
    s.cluster(
        &["c1"],
        &format!(
            "  backup = {{ directory = \"{directory}\", keep = 2 }}\n  network = {{ kube_proxy_mode = \"{proxy_mode}\" }}"
        ),
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_reconfigure_takes_a_backup_first_and_records_it() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    reconfigure_with_backup(&s);
}

/// The block needs no action support: Terraform 1.11 too (a panic under CI=true when it
/// cannot be installed).
#[test]
fn the_backup_block_works_on_terraform_1_11() {
    let Some(tf) = support::versions::terraform(&support::versions::TERRAFORM_1_11_4) else {
        return;
    };
    let Some(s) = Scenario::with(tf, &["c1"]) else {
        return;
    };
    reconfigure_with_backup(&s);
}

fn reconfigure_with_backup(s: &Scenario) {
    s.apply(&with_backup(s, "./bk", "iptables"));
    assert!(
        s.cluster_attrs()["last_backup"].is_null(),
        "a create takes no backup"
    );
    let id = s.cluster_attrs()["id"].as_str().unwrap().to_string();

    let (code, text) = {
        s.work.write("main.tf", &with_backup(s, "./bk", "ipvs"));
        s.plan_exit(&[])
    };
    assert_eq!(code, 2, "{text}");
    assert!(
        squash(&text).contains("last_backup = (known after apply)"),
        "the plan says a backup will be taken:\n{text}"
    );
    s.apply(&with_backup(s, "./bk", "ipvs"));

    let last = s.cluster_attrs()["last_backup"].clone();
    let path = s.work.path().join(last["path"].as_str().expect("a path"));
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with(&format!("mke_backup_{id}_")) && name.ends_with(".tar.gz"),
        "{name}"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(last["sha256"], sha256_hex(&bytes).as_str());
    let recorded = std::fs::read_to_string(format!("{}.sha256", path.display())).unwrap();
    assert_eq!(
        recorded.split_whitespace().next(),
        Some(sha256_hex(&bytes).as_str())
    );
    assert!(last["time"].as_str().unwrap().ends_with('Z'), "{last}");

    // The archive holds what a restore needs, and the config from before the change.
    let summary = mke_k0s::backup::verify_archive(&bytes[..]).expect("a valid archive");
    assert!(
        summary.k0s_yaml.contains("mode: iptables"),
        "{}",
        summary.k0s_yaml
    );

    // The change itself went through, and the next plan is empty.
    let config = s.bed.host("c1").exec_ok("cat /etc/k0s/k0s.yaml");
    assert!(config.contains("mode: ipvs"), "{config}");
    s.assert_plan_empty("after the backed-up change");

    // A change that stops no controller (a longer time limit) takes none.
    let before: Vec<_> = std::fs::read_dir(s.work.path().join("bk"))
        .unwrap()
        .collect();
    let relaxed = with_backup(s, "./bk", "ipvs").replace(
        "  backup =",
        "  timeouts = { update = \"90m\" }\n  backup =",
    );
    s.apply(&relaxed);
    let after: Vec<_> = std::fs::read_dir(s.work.path().join("bk"))
        .unwrap()
        .collect();
    assert_eq!(before.len(), after.len(), "no new archive");
    assert_eq!(s.cluster_attrs()["last_backup"], last, "last_backup kept");
}

#[test]
fn a_failed_backup_stops_the_update_before_any_host_changes() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    s.apply(&with_backup(&s, "./bk", "iptables"));
    let before = s.calls("c1").len();

    // A directory that cannot be created: main.tf is a file.
    let out = s.try_apply(&with_backup(&s, "./main.tf/bk", "ipvs"));
    assert_ne!(out.code, 0, "{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("main.tf/bk"),
        "the error names the directory: {text}"
    );

    let changing: Vec<_> = changing_calls(s.calls_since("c1", before))
        .into_iter()
        .filter(|c| c.verb() != "backup")
        .collect();
    assert!(changing.is_empty(), "nothing changed on c1: {changing:#?}");
    let config = s.bed.host("c1").exec_ok("cat /etc/k0s/k0s.yaml");
    assert!(config.contains("mode: iptables"), "{config}");
    assert_eq!(s.status("c1")["Role"], "controller");
}
