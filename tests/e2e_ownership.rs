//! Ownership end to end: a host is changed, reset or wiped only when its
//! marker (`/etc/k0s/mke.json`) names the resource at work. Real Terraform,
//! test-bed hosts and the k0s stand-in (a test double).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::e2e::{provider_block, scenario, squash, standin, Scenario};
use support::terraform::{Output, Workdir, APPLY, DESTROY};

const MARKER: &str = "/etc/k0s/mke.json";

/// The marker and the k0s config on `host`, to compare before and after.
fn fingerprint(s: &Scenario, host: &str) -> String {
    s.bed
        .host(host)
        .exec_ok(&format!("cat {MARKER}; sha256sum /etc/k0s/k0s.yaml"))
}

fn cluster_named(s: &Scenario, name: &str, controllers: &[&str]) -> String {
    let entries: Vec<String> = controllers
        .iter()
        .enumerate()
        .map(|(i, h)| format!("    k{i} = {{ address = \"{}\" }}", s.address(h)))
        .collect();
    format!(
        "{}\nresource \"mke_cluster\" \"main\" {{\n  name = \"{name}\"\n  k0s_binary_path = \"{}\"\n  controllers = {{\n{}\n  }}\n}}\n",
        provider_block("30s"),
        standin(),
        entries.join("\n")
    )
}

fn run(s: &Scenario, work: &Workdir, config: &str, args: &[&str]) -> Output {
    work.write("main.tf", config);
    work.run(&s.tf, args)
}

fn assert_still_running_untouched(s: &Scenario, host: &str, before: &str) {
    assert_eq!(
        fingerprint(s, host),
        before,
        "{host}'s marker or k0s.yaml changed"
    );
    assert_eq!(
        s.status(host)["Role"],
        "controller",
        "{host} must still run"
    );
}

#[test]
fn a_typo_pointing_at_another_clusters_controller_changes_nothing_there() {
    let Some(s) = scenario(&["c1", "c2", "c3"]) else {
        return;
    };
    // A running cluster called "prod" on c1.
    s.apply(&cluster_named(&s, "prod", &["c1"]));
    let before = fingerprint(&s, "c1");

    // A second team's cluster, also called "prod", lists c1 by mistake.
    let other = s.workdir("");
    let typo = cluster_named(&s, "prod", &["c2", "c1"]);
    let out = run(&s, &other, &typo, &APPLY);
    assert_ne!(out.code, 0, "the apply must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains(&s.address("c1")) && text.contains("belongs to the MKE cluster \"prod\""),
        "the error names the host and its owner: {text}"
    );
    assert!(text.contains("nothing was changed on it"), "{text}");
    // Nothing was written anywhere, so nothing is saved or tainted.
    let state = other.state();
    assert!(
        state["resources"].as_array().is_none_or(|r| r.is_empty()),
        "no state after a create that changed no host: {state}"
    );
    assert_still_running_untouched(&s, "c1", &before);
    assert!(
        s.bed
            .host("c2")
            .exec(&format!("test -e {MARKER}"))
            .status
            .code()
            == Some(1),
        "c2 must not have been touched either"
    );

    // The corrected configuration installs, and its destroy leaves c1 alone.
    let fixed = cluster_named(&s, "prod", &["c2", "c3"]);
    let out = run(&s, &other, &fixed, &APPLY);
    assert_eq!(out.code, 0, "{}", out.combined());
    let out = run(&s, &other, &fixed, &DESTROY);
    assert_eq!(out.code, 0, "{}", out.combined());
    s.assert_clean("c2");
    s.assert_clean("c3");
    assert_still_running_untouched(&s, "c1", &before);
}

#[test]
fn destroy_refuses_a_controller_that_now_belongs_to_someone_else() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    s.apply(&cluster_named(&s, "prod", &["c1"]));
    // The machine was reinstalled out of band for another cluster.
    s.bed.host("c1").exec_ok(&format!(
        "printf '%s' '{{\"cluster\":\"elsewhere\",\"id\":\"u-2\",\"role\":\"controller\",\"instance\":\"other\"}}' > {MARKER}"
    ));
    let before = fingerprint(&s, "c1");
    let out = s.work.run(&s.tf, &DESTROY);
    assert_ne!(out.code, 0, "destroy must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("belongs to the MKE cluster \"elsewhere\""),
        "{text}"
    );
    assert_still_running_untouched(&s, "c1", &before);
    // The resource stays in state, so a later destroy can still be decided on.
    assert_eq!(s.cluster_attrs()["name"], "prod");
}

#[test]
fn a_node_cannot_join_on_another_clusters_controller() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    s.apply(&cluster_named(&s, "prod", &["c1"]));
    let before = fingerprint(&s, "c1");
    // A second cluster whose node is (by mistake) c1.
    let other = s.workdir("");
    let config = format!(
        "{}\nresource \"mke_node\" \"w\" {{\n  cluster_id = mke_cluster.main.id\n  controllers = mke_cluster.main.controllers\n  address = \"{}\"\n  k0s_binary_path = \"{}\"\n}}\n",
        cluster_named(&s, "staging", &["c2"]),
        s.address("c1"),
        standin()
    );
    let out = run(&s, &other, &config, &APPLY);
    assert_ne!(out.code, 0, "the node must be refused:\n{}", out.combined());
    let text = squash(&out.combined());
    assert!(
        text.contains("the host is a controller of the MKE cluster \"prod\""),
        "{text}"
    );
    assert_still_running_untouched(&s, "c1", &before);
    let state = other.state();
    let node_saved = state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["type"] == "mke_node");
    assert!(!node_saved, "a refused node leaves no state: {state}");
}

/// The provider processes Terraform started for `work`: their working
/// directory is the Terraform working directory.
fn providers_of(work: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        if comm.trim().starts_with("terraform-provi") && cwd.as_deref() == Some(work) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_create_killed_midway_is_finished_by_the_next_apply() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    let config = cluster_named(&s, "prod", &["c1", "c2"]);
    s.work.write("main.tf", &config);
    let work = s.work.path().to_path_buf();
    let apply = s.work.spawn(&s.tf, &APPLY);
    // Once a host carries the create's marker, the provider is killed.
    let started = Instant::now();
    loop {
        let marked = s
            .bed
            .host("c2")
            .exec(&format!("test -s {MARKER}"))
            .status
            .success();
        if marked {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the create never wrote a marker"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pids = providers_of(&work);
    assert!(!pids.is_empty(), "no provider process found for {work:?}");
    for pid in &pids {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    let killed: Output = apply.wait_with_output().expect("the apply ends").into();
    assert_ne!(
        killed.code,
        0,
        "the killed apply must fail:\n{}",
        killed.combined()
    );

    // The killed run's host locks go stale after 30 s without a refresh.
    let started = Instant::now();
    for h in ["c1", "c2"] {
        loop {
            let age = s.bed.host(h).exec_ok(
                "f=/var/lib/mke-provider/lock; if [ -s $f ]; then echo $(( $(date +%s) - $(cut -d' ' -f1 $f) )); else echo 999; fi",
            );
            if age.trim().parse::<u64>().unwrap_or(0) > 30 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the killed run's lock on {h} never went stale (age {age})"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // The rerun takes over the unfinished markers of its own create.
    let rerun = s.apply(&config);
    assert!(rerun.stdout.contains("Apply complete"), "{}", rerun.stdout);
    for h in ["c1", "c2"] {
        assert_eq!(s.status(h)["Role"], "controller", "{h}");
    }
    assert_eq!(s.members("c1").len(), 2);
    s.assert_plan_empty("after the rerun");
}
