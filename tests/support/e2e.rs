//! What every end-to-end test starts from: test-bed hosts, a Terraform
//! working directory holding the bed's SSH key, and the k0s stand-in (a
//! test double) as the k0s binary the provider uploads.

#![allow(dead_code)]

use super::terraform::{self, Output, Terraform, Workdir, REQUIRED_PROVIDERS};
use super::testbed::{self, TestBed};

/// The k0s stand-in, uploaded as `k0s_binary_path`.
pub fn standin() -> String {
    format!("{}/tests/k0s-standin/k0s", env!("CARGO_MANIFEST_DIR"))
}

/// Terraform wraps its messages; comparing on single spaces ignores that.
pub fn squash(text: &str) -> String {
    text.replace("│ ", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Scenario {
    pub bed: TestBed,
    pub work: Workdir,
    pub tf: Terraform,
}

/// Hosts on the test bed driven by Terraform 1.15; `None` (after saying why,
/// and never under CI=true) when the machine cannot run them.
pub fn scenario(hosts: &[&str]) -> Option<Scenario> {
    let tf = terraform::terraform_1_15()?;
    Scenario::with(tf, hosts)
}

impl Scenario {
    pub fn with(tf: Terraform, hosts: &[&str]) -> Option<Scenario> {
        if !testbed::require_root_or_fail("the e2e tests need root for network namespaces") {
            return None;
        }
        let bed = TestBed::new(hosts).expect("test bed");
        let work = Workdir::new("");
        work.write("key.pem", &bed.client_private_key());
        Some(Scenario { bed, work, tf })
    }

    /// `required_providers` and a provider block using the bed's key.
    pub fn provider_block(&self, ssh_timeout: &str) -> String {
        format!(
            "{REQUIRED_PROVIDERS}\nprovider \"mke\" {{\n  ssh {{\n    private_key = file(\"${{path.module}}/key.pem\")\n    timeout     = \"{ssh_timeout}\"\n  }}\n}}\n"
        )
    }

    /// Writes `config` as main.tf and applies it, whatever the outcome.
    pub fn try_apply(&self, config: &str) -> Output {
        self.work.write("main.tf", config);
        self.work.run(
            &self.tf,
            &["apply", "-auto-approve", "-input=false", "-no-color"],
        )
    }

    pub fn apply(&self, config: &str) -> Output {
        let out = self.try_apply(config);
        assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());
        out
    }

    pub fn plan_exit(&self, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["plan", "-detailed-exitcode", "-input=false", "-no-color"];
        args.extend_from_slice(extra);
        let out = self.work.run(&self.tf, &args);
        (out.code, out.combined())
    }

    pub fn destroy(&self) -> Output {
        self.work.run(
            &self.tf,
            &["destroy", "-auto-approve", "-input=false", "-no-color"],
        )
    }
}
