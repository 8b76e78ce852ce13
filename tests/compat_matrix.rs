//! The same lifecycle on every Terraform release a user may run, one test per
//! release (`matrix_terraform_1_6_6` ... `matrix_terraform_1_15_5`), each on
//! its own test bed (1 controller, 1 worker, the k0s stand-in as k0s).
//!
//! The provider is installed the way a user installs it: `scripts/install.sh`
//! fills a filesystem mirror and `terraform init` installs from it, with no
//! `dev_overrides`. Then: create, plan empty with and without refresh, a label
//! changed in place, both resources forgotten and imported again (import
//! blocks; by identity from 1.12), `mke_kubeconfig` opened (from 1.10; below
//! that, Terraform's own parse error), the worker removed (drained, deleted,
//! reset) and everything destroyed, leaving both hosts clean.
//!
//! Every release but 1.15.5 comes from a pinned Python package, installed on
//! first use under the target dir (`support::versions`). The lifecycles of
//! all releases run at the same time (see [`started_runs`]).

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Instant;

use serde_json::Value as Json;
use support::e2e::{provider_block, squash, standin, Scenario};
use support::terraform::Output;
use support::versions::{self, Release};

const K0S: &str = "/usr/local/bin/k0s";
const CALLS: &str = "/var/log/k0s-standin/calls.jsonl";
/// k0s calls that change a host; reading calls (status, kubectl get) do not count.
const CHANGING_CALLS: &str = r#""(install|start|stop|reset|drain|uncordon|delete|label|taint)""#;

/// One filesystem mirror for the whole run, filled by `scripts/install.sh`
/// exactly as a user runs it (`--dir`, `--binary`); Terraform only reads it.
/// It lives at a fixed place under the target dir, and each run installs
/// this build over the last one.
fn mirror() -> &'static PathBuf {
    static MIRROR: OnceLock<PathBuf> = OnceLock::new();
    MIRROR.get_or_init(|| {
        let dir = versions::cache_root().join("mirror");
        let out = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install.sh"))
            .arg("--dir")
            .arg(&dir)
            .arg("--binary")
            .arg(support::terraform::provider_binary())
            .env_remove("PLUGIN_DIR")
            .output()
            .expect("run scripts/install.sh");
        assert!(
            out.status.success(),
            "scripts/install.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

struct Lifecycle {
    s: Scenario,
    release: &'static Release,
    started: Instant,
    step_started: std::cell::Cell<Instant>,
}

impl Lifecycle {
    /// A bed with `c1` and `w1`, and a working directory that installs the
    /// provider from the mirror (`terraform init`, no `dev_overrides`).
    fn start(release: &'static Release) -> Option<Lifecycle> {
        let started = Instant::now();
        let tf = versions::terraform(release)?;
        let s = Scenario::with(tf, &["c1", "w1"])?;
        s.work.write("terraform.rc", &mirror_cli_config());
        let lifecycle = Lifecycle {
            s,
            release,
            started,
            step_started: std::cell::Cell::new(started),
        };
        lifecycle
            .s
            .work
            .write("main.tf", &lifecycle.config(None, ""));
        let init = lifecycle.run(&["init", "-input=false", "-no-color"]);
        lifecycle.expect(0, "init from the filesystem mirror", &init);
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            init.stdout
                .contains(&format!("Installed mke/mke v{version} (unauthenticated)")),
            "{}: init did not install from the mirror:\n{}",
            release.label,
            init.combined()
        );
        lifecycle.step_done("install and init");
        Some(lifecycle)
    }

    /// Says how long the step that just ended took (shown with `--nocapture`):
    /// the figures behind the CI time of the matrix.
    fn step_done(&self, step: &str) {
        let now = Instant::now();
        eprintln!(
            "{}: {step} took {:.1?}",
            self.release.label,
            now - self.step_started.replace(now)
        );
    }

    fn run(&self, args: &[&str]) -> Output {
        self.s.work.run(&self.s.tf, args)
    }

    fn expect(&self, code: i32, what: &str, out: &Output) {
        assert_eq!(
            out.code,
            code,
            "{} {what}: exit {} (expected {code}) after {:?}:\n{}",
            self.release.label,
            out.code,
            self.started.elapsed(),
            out.combined()
        );
    }

    fn address(&self, host: &str) -> String {
        self.s.bed.host(host).address.clone()
    }

    /// The cluster on `c1`; with `worker_labels`, `mke_node.w1` carrying them;
    /// then `extra` (import blocks).
    fn config(&self, worker_labels: Option<&str>, extra: &str) -> String {
        let worker = worker_labels.map_or(String::new(), |labels| {
            format!(
                r#"
resource "mke_node" "w1" {{
  cluster_id      = mke_cluster.main.id
  controllers     = mke_cluster.main.controllers
  k0s_version     = mke_cluster.main.k0s_version
  k0s_binary_path = mke_cluster.main.k0s_binary_path
  address         = "{w1}"
  labels          = {labels}
}}
"#,
                w1 = self.address("w1"),
            )
        });
        format!(
            r#"{provider}
resource "mke_cluster" "main" {{
  name            = "matrix"
  k0s_binary_path = "{standin}"
  controllers     = {{ c1 = {{ address = "{c1}" }} }}
}}
{worker}{extra}"#,
            provider = provider_block("30s"),
            standin = standin(),
            c1 = self.address("c1"),
        )
    }

    fn apply(&self, config: &str, what: &str) -> Output {
        let out = self.s.try_apply(config);
        self.expect(0, what, &out);
        out
    }

    fn assert_plan_empty(&self, after: &str) {
        for extra in [&[][..], &["-refresh=false"][..]] {
            let (code, text) = self.s.plan_exit(extra);
            assert_eq!(
                code, 0,
                "{}: plan {extra:?} after {after} is not empty:\n{text}",
                self.release.label
            );
        }
    }

    fn node(&self, name: &str) -> Option<Json> {
        let text = self
            .s
            .bed
            .host("c1")
            .exec_ok(&format!("{K0S} kubectl get nodes -o json"));
        let nodes: Json = serde_json::from_str(&text).expect("nodes JSON");
        nodes["items"]
            .as_array()?
            .iter()
            .find(|n| n["metadata"]["name"] == name)
            .cloned()
    }

    fn changing_calls(&self, host: &str) -> usize {
        self.s
            .bed
            .host(host)
            .exec_ok(&format!("grep -c -E '{CHANGING_CALLS}' {CALLS} || true"))
            .trim()
            .parse()
            .unwrap_or(0)
    }

    fn assert_clean(&self, host: &str) {
        let h = self.s.bed.host(host);
        let files = h.exec_ok(&format!(
            "for p in {K0S} /etc/k0s /var/lib/k0s; do [ -e \"$p\" ] && echo \"$p\"; done; true"
        ));
        assert_eq!(
            files.trim(),
            "",
            "{}: k0s files left on {host}:\n{files}",
            self.release.label
        );
        let processes = h.exec_ok("pgrep -a -f 'bin/k0[s]' || true");
        assert_eq!(
            processes.trim(),
            "",
            "{}: k0s processes left on {host}:\n{processes}",
            self.release.label
        );
    }

    /// Forgets both resources and takes them back with `import` blocks: by
    /// ID, or by identity where the release has resource identities (1.12).
    fn import_both(&self, labels: &str) {
        for address in ["mke_node.w1", "mke_cluster.main"] {
            let rm = self.run(&["state", "rm", address]);
            self.expect(0, &format!("state rm {address}"), &rm);
        }
        let (c1, w1) = (self.address("c1"), self.address("w1"));
        let blocks = if self.release.at_least(1, 12) {
            format!(
                "\nimport {{\n  to = mke_cluster.main\n  identity = {{\n    controllers = \"c1={c1}\"\n  }}\n}}\n\
                 \nimport {{\n  to = mke_node.w1\n  identity = {{\n    address = \"{w1}\"\n  }}\n}}\n"
            )
        } else {
            format!(
                "\nimport {{\n  to = mke_cluster.main\n  id = \"c1={c1}\"\n}}\n\
                 \nimport {{\n  to = mke_node.w1\n  id = \"{w1}\"\n}}\n"
            )
        };
        let config = self.config(Some(labels), &blocks);
        self.s.work.write("main.tf", &config);
        let before = (self.changing_calls("c1"), self.changing_calls("w1"));
        let (code, text) = self.s.plan_exit(&[]);
        assert_eq!(
            code, 2,
            "{}: the import plan must import both:\n{text}",
            self.release.label
        );
        let flat = squash(&text);
        assert!(
            flat.contains("Plan: 2 to import,"),
            "{}: {text}",
            self.release.label
        );
        let out = self.apply(&config, "apply of the import");
        assert!(
            out.stdout.contains("2 imported,"),
            "{}: {}",
            self.release.label,
            out.stdout
        );
        let after = (self.changing_calls("c1"), self.changing_calls("w1"));
        assert_eq!(
            before, after,
            "{}: import and its first apply must not change a host",
            self.release.label
        );
        self.assert_plan_empty("the import");
        let state: Json = serde_json::from_str(&self.s.work.read("terraform.tfstate")).unwrap();
        let mut types: Vec<&str> = state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["type"].as_str())
            .collect();
        types.sort();
        assert_eq!(types, ["mke_cluster", "mke_node"], "{}", self.release.label);
    }

    /// From 1.10: an `ephemeral "mke_kubeconfig"` opens, its token calls the
    /// API during the run, and it closes. Below: Terraform itself rejects the
    /// block, before the provider is asked anything.
    fn kubeconfig(&self) {
        let block = r#"
ephemeral "mke_kubeconfig" "admin" {
  controllers  = mke_cluster.main.controllers
  api_endpoint = mke_cluster.main.api_endpoint
}

resource "terraform_data" "api_call" {
  provisioner "local-exec" {
    command = <<-EOT
      printf '%s' "$CA" > run-ca.pem
      curl -s -o /dev/null -w '%%{http_code}' --max-time 20 --cacert run-ca.pem \
        -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/kube-system" > api-status.txt
    EOT
    environment = {
      TOKEN = ephemeral.mke_kubeconfig.admin.token
      CA    = ephemeral.mke_kubeconfig.admin.cluster_ca_certificate
      API   = ephemeral.mke_kubeconfig.admin.host
    }
  }
}
"#;
        self.s.work.write("kubeconfig.tf", block);
        if self.release.at_least(1, 10) {
            let out = self.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
            self.expect(0, "apply with mke_kubeconfig", &out);
            for step in ["Opening...", "Closing..."] {
                assert!(
                    out.stdout
                        .contains(&format!("ephemeral.mke_kubeconfig.admin: {step}")),
                    "{}: {}",
                    self.release.label,
                    out.stdout
                );
            }
            assert_eq!(
                self.s.work.read("api-status.txt"),
                "200",
                "{}: the token of mke_kubeconfig must work during the run",
                self.release.label
            );
        } else {
            let out = self.run(&["validate", "-no-color"]);
            self.expect(1, "validate with an ephemeral block", &out);
            let flat = squash(&out.combined());
            assert!(
                flat.contains("Error: Unsupported block type")
                    && flat.contains("Blocks of type \"ephemeral\" are not expected here."),
                "{}: {}",
                self.release.label,
                out.combined()
            );
        }
        std::fs::remove_file(self.s.work.path().join("kubeconfig.tf")).unwrap();
    }

    fn run_all(&self) {
        let web = "{ tier = \"web\" }";
        let out = self.apply(&self.config(Some(web), ""), "create");
        assert!(
            out.stdout.contains("2 added, 0 changed, 0 destroyed"),
            "{}: {}",
            self.release.label,
            out.stdout
        );
        let node = self.node("w1").expect("w1 joined the cluster");
        assert_eq!(node["metadata"]["labels"]["tier"], "web");
        self.assert_plan_empty("create");
        self.step_done("create");

        let db = "{ tier = \"db\" }";
        let out = self.apply(&self.config(Some(db), ""), "relabel");
        assert!(
            out.stdout.contains("0 added, 1 changed, 0 destroyed"),
            "{}: a label changes in place:\n{}",
            self.release.label,
            out.stdout
        );
        let node = self.node("w1").expect("w1 stays in the cluster");
        assert_eq!(node["metadata"]["labels"]["tier"], "db");
        self.assert_plan_empty("the relabel");
        self.step_done("relabel");

        self.import_both(db);
        self.step_done("import");

        let out = self.apply(&self.config(None, ""), "worker removal");
        assert!(
            out.stdout.contains("0 added, 0 changed, 1 destroyed"),
            "{}: {}",
            self.release.label,
            out.stdout
        );
        let calls = self.s.bed.host("c1").exec_ok(&format!("cat {CALLS}"));
        assert!(
            calls.contains("\"drain\", \"w1\""),
            "{}: w1 was not drained: {calls}",
            self.release.label
        );
        assert!(
            self.node("w1").is_none(),
            "{}: w1's Node object is deleted",
            self.release.label
        );
        self.assert_clean("w1");
        self.assert_plan_empty("the worker removal");
        self.step_done("worker removal");

        self.kubeconfig();
        self.step_done("mke_kubeconfig");

        let out = self.s.destroy();
        self.expect(0, "destroy", &out);
        self.assert_clean("c1");
        self.step_done("destroy");
        eprintln!(
            "{}: lifecycle passed in {:.1?}",
            self.release.label,
            self.started.elapsed()
        );
    }
}

fn lifecycle(release: &'static Release) {
    if let Some(lifecycle) = Lifecycle::start(release) {
        lifecycle.run_all();
    }
}

fn test_name(release: &Release) -> String {
    format!("matrix_terraform_{}", release.version.replace('.', "_"))
}

/// Whether this run of the test binary selected `test`, as the harness
/// reads its arguments: name filters (substrings, or whole names with
/// `--exact`) and `--skip`.
fn selected(test: &str) -> bool {
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut exact = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--skip" => skips.extend(args.next()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {
                if let Some(skip) = flag.strip_prefix("--skip=") {
                    skips.push(skip.to_string());
                }
            }
            filter => filters.push(filter.to_string()),
        }
    }
    let matches = |pattern: &String| {
        if exact {
            test == pattern
        } else {
            test.contains(pattern.as_str())
        }
    };
    (filters.is_empty() || filters.iter().any(matches)) && !skips.iter().any(matches)
}

type Outcome = Result<(), String>;

/// The lifecycles of every selected release, all started at once by the
/// first matrix test that runs. The harness runs as many tests at a time as
/// there are cores (2 in CI), but a lifecycle mostly waits on Terraform, SSH
/// and the hosts, and each has a test bed of its own: six together take
/// about as long as two after another. Each test then waits for its own
/// release's outcome, so every release still passes or fails by name.
fn started_runs() -> &'static Mutex<HashMap<&'static str, mpsc::Receiver<Outcome>>> {
    static RUNS: OnceLock<Mutex<HashMap<&'static str, mpsc::Receiver<Outcome>>>> = OnceLock::new();
    RUNS.get_or_init(|| {
        remember_panic_locations();
        let mut runs = HashMap::new();
        for &release in versions::MATRIX.iter() {
            let name = test_name(release);
            if !selected(&name) {
                continue;
            }
            let (sender, receiver) = mpsc::channel();
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let outcome =
                        std::panic::catch_unwind(|| lifecycle(release)).map_err(|panic| {
                            let at = PANICKED_AT.with(|at| at.take()).unwrap_or_default();
                            format!("{}\n(panicked at {at})", panic_text(panic.as_ref()))
                        });
                    let _ = sender.send(outcome);
                })
                .expect("start a lifecycle thread");
            runs.insert(release.version, receiver);
        }
        Mutex::new(runs)
    })
}

thread_local! {
    /// Where this thread last panicked: a lifecycle's failure is reported by
    /// another thread, its test's, which would otherwise show its own line.
    static PANICKED_AT: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Records each panic's location for [`PANICKED_AT`], then reports the panic
/// as before.
fn remember_panic_locations() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(location) = info.location() {
            PANICKED_AT.with(|at| at.set(Some(location.to_string())));
        }
        report(info);
    }));
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the lifecycle panicked".to_string())
}

fn matrix(release: &'static Release) {
    let started = started_runs()
        .lock()
        .expect("the runs' lock")
        .remove(release.version);
    let Some(outcome) = started else {
        // Not foreseen from the arguments: run it here.
        return lifecycle(release);
    };
    match outcome.recv() {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("{failure}"),
        Err(_) => panic!("{}: the lifecycle ended without a result", release.label),
    }
}

#[test]
fn matrix_terraform_1_6_6() {
    matrix(&versions::TERRAFORM_1_6_6);
}

#[test]
fn matrix_terraform_1_8_4() {
    matrix(&versions::TERRAFORM_1_8_4);
}

#[test]
fn matrix_terraform_1_10_5() {
    matrix(&versions::TERRAFORM_1_10_5);
}

#[test]
fn matrix_terraform_1_11_4() {
    matrix(&versions::TERRAFORM_1_11_4);
}

#[test]
fn matrix_terraform_1_14_9() {
    matrix(&versions::TERRAFORM_1_14_9);
}

#[test]
fn matrix_terraform_1_15_5() {
    matrix(&versions::TERRAFORM_1_15_5);
}

/// A CLI configuration that installs `mke/mke` from [`mirror`] only.
fn mirror_cli_config() -> String {
    format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/mke/mke\"]\n  }}\n}}\n",
        mirror().display()
    )
}

/// Below the floor: Terraform 1.0 to 1.4 install the provider and validate a
/// configuration, then the provider stops them when it is configured, the
/// first call of a plan.
#[test]
fn matrix_terraform_1_0_3_is_refused_after_init_and_validate() {
    let Some(tf) = support::terraform::terraform_1_0_3() else {
        return;
    };
    let work = support::terraform::Workdir::new(&format!(
        "{}\nprovider \"mke\" {{}}\n\nresource \"mke_cluster\" \"main\" {{\n  name        = \"old\"\n  controllers = {{ c1 = {{ address = \"127.0.0.1\", port = 1 }} }}\n}}\n",
        support::terraform::REQUIRED_PROVIDERS
    ));
    work.write("terraform.rc", &mirror_cli_config());
    let init = work.run(&tf, &["init", "-input=false", "-no-color"]);
    assert_eq!(init.code, 0, "init:\n{}", init.combined());
    let validate = work.run(&tf, &["validate", "-no-color"]);
    assert_eq!(validate.code, 0, "validate:\n{}", validate.combined());
    let plan = work.run(&tf, &["plan", "-input=false", "-no-color"]);
    assert_eq!(plan.code, 1, "plan:\n{}", plan.combined());
    let flat = squash(&plan.stderr);
    assert!(
        flat.contains("Error: Terraform version not supported")
            && flat.contains(
                "Terraform 1.0.3 is too old for the mke provider: it needs Terraform 1.5 or later (or OpenTofu 1.6 or later)."
            ),
        "{}",
        plan.combined()
    );
}

/// The compatibility table of the docs has a row for every release the
/// matrix runs, naming the test behind it, and for no other Terraform.
#[test]
fn the_docs_table_names_every_release_the_matrix_runs() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/index.md"))
        .expect("docs/index.md");
    let rows: Vec<&str> = docs
        .lines()
        .filter(|l| l.starts_with("| Terraform 1."))
        .collect();
    for release in versions::MATRIX {
        let test = test_name(release);
        assert!(
            rows.iter()
                .any(|row| row.starts_with(&format!("| {} |", release.label))
                    && row.contains(&format!("`{test}`"))),
            "docs/index.md has no row for {} naming `{test}`:\n{}",
            release.label,
            rows.join("\n")
        );
    }
    assert_eq!(
        rows.len(),
        versions::MATRIX.len() + 1,
        "one row per release of the matrix, and 1.0.3:\n{}",
        rows.join("\n")
    );
}
