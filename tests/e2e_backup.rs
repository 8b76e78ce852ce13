//! `action "mke_backup"` end to end: real Terraform 1.15 (actions need 1.14+),
//! real SSH hosts (network namespaces of the test bed) and the k0s stand-in
//! (a test double) as k0s, whose `k0s backup` and `k0s restore` behave as
//! v1.29.3's.
//!
//! What a user sees is checked: the archive and its `.sha256` in the
//! directory, the progress lines in Terraform's output, the error that names
//! the host and the file, and that the archive brings the cluster back on
//! another machine.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::e2e::{scenario, squash, standin, Scenario};
use support::standin::K0S;
use support::terraform::Output;

const INVOKE_NOW: [&str; 5] = [
    "apply",
    "-invoke=action.mke_backup.now",
    "-auto-approve",
    "-input=false",
    "-no-color",
];

/// The action block the tests invoke, with `extra` inside its `config`.
fn backup_action(extra: &str) -> String {
    format!(
        r#"
action "mke_backup" "now" {{
  config {{
    controllers = mke_cluster.main.controllers
{extra}
  }}
}}
"#
    )
}

/// Every file in `dir`, hidden ones included, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The archives (not their checksum files) in `dir`, oldest first (names sort by time).
fn archives_in(dir: &Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .filter(|n| n.ends_with(".tar.gz"))
        .collect()
}

impl Scenario {
    fn invoke(&self) -> Output {
        self.work.run(&self.tf, &INVOKE_NOW)
    }

    fn invoke_ok(&self) -> Output {
        let started = Instant::now();
        let out = self.invoke();
        assert_eq!(out.code, 0, "invoke failed:\n{}", out.combined());
        eprintln!(
            "e2e timing: terraform apply -invoke took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        out
    }

    fn backups(&self) -> PathBuf {
        self.work.path().join("backups")
    }

    /// The UID of kube-system as the cluster on `host` serves it.
    fn cluster_id_on(&self, host: &str) -> String {
        self.k0s(
            host,
            "kubectl get namespace kube-system -o jsonpath={.metadata.uid}",
        )
        .trim()
        .to_string()
    }
}

/// Checks the archive `name` in `dir` as a user would: its checksum file in
/// `sha256sum` format matches, and it holds what a restore needs. Returns the
/// archived `k0s.yaml`.
fn assert_archive_sound(dir: &Path, name: &str) -> String {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    let line = std::fs::read_to_string(dir.join(format!("{name}.sha256"))).unwrap();
    assert_eq!(
        line,
        format!("{}  {name}\n", sha256_hex(&bytes)),
        "the .sha256 file is what `sha256sum {name}` prints"
    );
    let check = std::process::Command::new("sha256sum")
        .args(["-c", &format!("{name}.sha256")])
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    assert!(
        check.status.success(),
        "sha256sum -c: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let summary = mke_k0s::backup::verify_archive(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
    summary.k0s_yaml
}

#[test]
fn an_invoked_backup_lands_beside_its_checksum_reports_progress_and_restores_on_another_host() {
    let Some(s) = scenario(&["c1", "c2"]) else {
        return;
    };
    let config = format!("{}{}", s.cluster(&["c1"], ""), backup_action(""));
    s.apply(&config);
    let cluster_id = s.cluster_id_on("c1");
    assert_eq!(s.cluster_attrs()["id"], cluster_id.as_str());

    let out = s.invoke_ok();
    let dir = s.backups();
    let archives = archives_in(&dir);
    assert_eq!(archives.len(), 1, "{:?}", files_in(&dir));
    let name = &archives[0];
    assert_eq!(
        files_in(&dir),
        vec![name.clone(), format!("{name}.sha256")],
        "exactly the archive and its checksum, no temporary file"
    );
    assert!(
        name.starts_with(&format!("mke_backup_{cluster_id}_")),
        "the name carries the cluster id: {name}"
    );
    let parsed = mke_k0s::backup::parse_archive_name(name).expect("our own name parses");
    let age = std::time::SystemTime::now()
        .duration_since(parsed.taken_at)
        .expect("taken in the past");
    assert!(
        age < Duration::from_secs(300),
        "the name carries UTC now: {name}"
    );
    let archived_config = assert_archive_sound(&dir, name);
    let size = std::fs::metadata(dir.join(name)).unwrap().len();
    eprintln!("e2e measure: archive {name} is {size} bytes");

    // Progress, as Terraform prints it while the action runs.
    let text = squash(&out.combined());
    let c1 = s.address("c1");
    assert!(
        text.contains(&format!("backing up from c1 ({c1})")),
        "no progress line naming the controller:\n{}",
        out.combined()
    );
    assert!(
        text.contains(&format!("wrote ./backups/{name} (")) && text.contains("sha256 "),
        "no progress line naming the archive:\n{}",
        out.combined()
    );
    assert!(
        !s.bed
            .host("c1")
            .exec_ok("ls -A /tmp /var/lib/k0s")
            .contains("k0s_backup"),
        "nothing of the backup stays on the controller"
    );

    // The archive restores on a fresh machine, as the k0s docs do it: the
    // host's own config first (restore reads storage and peer address from
    // it), then `k0s restore`, install and start.
    let c2 = s.bed.host("c2");
    let c2_config = archived_config.replace(&c1, &s.address("c2"));
    c2.exec_ok("mkdir -p /etc/k0s /root/restore");
    c2.put_file(K0S, &std::fs::read(standin()).unwrap(), 0o755);
    c2.put_file("/etc/k0s/k0s.yaml", c2_config.as_bytes(), 0o644);
    c2.put_file(
        "/root/restore/backup.tar.gz",
        &std::fs::read(dir.join(name)).unwrap(),
        0o600,
    );
    let started = Instant::now();
    c2.exec_ok(&format!(
        "{K0S} restore /root/restore/backup.tar.gz --config-out=/root/restore/k0s.yaml"
    ));
    eprintln!(
        "e2e timing: k0s restore took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        c2.exec_ok("cat /root/restore/k0s.yaml"),
        archived_config,
        "restore hands back the archived config"
    );
    c2.exec_ok(&format!(
        "{K0S} install controller --config=/etc/k0s/k0s.yaml && {K0S} start"
    ));
    s.wait_for_status("c2", Duration::from_secs(60));
    let restored = Instant::now();
    let restored_id = loop {
        let out = c2.exec(&format!(
            "{K0S} kubectl get namespace kube-system -o jsonpath={{.metadata.uid}}"
        ));
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        assert!(
            restored.elapsed() < Duration::from_secs(60),
            "the restored API did not answer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        restored_id, cluster_id,
        "the restored cluster is the same cluster"
    );
    c2.exec_ok(&format!("{K0S} stop"));

    s.destroy();
    assert_eq!(
        archives_in(&dir),
        vec![name.clone()],
        "destroy leaves backups alone"
    );
}

#[test]
fn keep_leaves_the_newest_and_a_controller_without_its_config_is_named() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    let config = format!(
        "{}{}",
        s.cluster(&["c1"], ""),
        backup_action("    directory = \"./backups\"\n    keep = 2")
    );
    s.apply(&config);
    let dir = s.backups();
    let mut made = Vec::new();
    for _ in 0..3 {
        s.invoke_ok();
        let newest = archives_in(&dir).last().cloned().expect("an archive");
        assert!(
            !made.contains(&newest),
            "each invocation names a new archive"
        );
        made.push(newest);
    }
    assert_eq!(archives_in(&dir), made[1..].to_vec(), "the 2 newest stay");
    let mut expected: Vec<String> = made[1..]
        .iter()
        .flat_map(|n| [n.clone(), format!("{n}.sha256")])
        .collect();
    expected.sort();
    assert_eq!(
        files_in(&dir),
        expected,
        "the oldest went with its checksum"
    );
    for name in &made[1..] {
        assert_archive_sound(&dir, name);
    }

    // k0s cannot back up a controller that runs without its config file.
    let c1 = s.bed.host("c1");
    c1.exec_ok("rm /etc/k0s/k0s.yaml");
    let empty = s.work.path().join("empty-backups");
    let config = format!(
        "{}{}",
        s.cluster(&["c1"], ""),
        backup_action("    directory = \"./empty-backups\"")
    );
    s.work.write("main.tf", &config);
    let out = s.invoke();
    assert_ne!(out.code, 0, "the backup must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    let host = format!("root@{}:22", s.address("c1"));
    assert!(
        text.contains("Backup failed")
            && text.contains(&host)
            && text.contains("/etc/k0s/k0s.yaml does not exist")
            && text.contains("k0s backup --save-path=-"),
        "the error names the host, the file and the command:\n{}",
        out.combined()
    );
    assert_eq!(
        files_in(&empty),
        Vec::<String>::new(),
        "no archive and no temporary file"
    );
}

#[test]
fn a_trigger_before_updates_backs_up_first_and_a_failed_backup_stops_the_update() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    // The documented pattern: the controllers, with their host keys, in a
    // local value that the cluster and the triggered action both read.
    let config = |allow_http: bool| {
        format!(
            r#"{provider}
locals {{
  controllers = {{
    c1 = {{ address = "{c1}", host_key = "{key}" }}
  }}
}}

resource "mke_cluster" "main" {{
  name                    = "e2e"
  k0s_binary_path         = "{standin}"
  k0s_download_allow_http = {allow_http}
  controllers             = local.controllers

  lifecycle {{
    action_trigger {{
      events  = [before_update]
      actions = [action.mke_backup.before_change]
    }}
  }}
}}

action "mke_backup" "before_change" {{
  config {{
    controllers = local.controllers
  }}
}}
"#,
            provider = support::e2e::provider_block("30s"),
            c1 = s.address("c1"),
            key = s.bed.host("c1").host_key("ed25519"),
            standin = standin(),
        )
    };
    let out = s.apply(&config(false));
    let dir = s.backups();
    assert!(
        !dir.exists(),
        "creating the cluster triggers no backup:\n{}",
        out.combined()
    );

    let out = s.apply(&config(true));
    let archives = archives_in(&dir);
    assert_eq!(archives.len(), 1, "{}", out.combined());
    assert_archive_sound(&dir, &archives[0]);
    let text = squash(&out.combined());
    assert!(
        text.contains("action.mke_backup.before_change (triggered by mke_cluster.main)")
            && text.contains(&format!("wrote ./backups/{} (", archives[0])),
        "{}",
        out.combined()
    );
    assert_eq!(s.cluster_attrs()["k0s_download_allow_http"], true);

    // A backup that fails stops the apply before the cluster changes.
    s.bed.host("c1").exec_ok("rm /etc/k0s/k0s.yaml");
    let out = s.try_apply(&config(false));
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(
        squash(&out.combined()).contains("/etc/k0s/k0s.yaml does not exist"),
        "{}",
        out.combined()
    );
    assert_eq!(
        s.cluster_attrs()["k0s_download_allow_http"],
        true,
        "the update did not happen"
    );
    assert_eq!(
        s.bed
            .host("c1")
            .exec("test -e /etc/k0s/k0s.yaml")
            .status
            .code(),
        Some(1),
        "nothing was written on the controller"
    );
    assert_eq!(archives_in(&dir), archives, "no new archive");
}
