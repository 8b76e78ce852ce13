//! `ephemeral "mke_kubeconfig"` end to end: real Terraform 1.15, real SSH
//! hosts (network namespaces of the test bed), and the k0s stand-in (a test
//! double) as k0s.
//!
//! The configuration consumes the ephemeral values the two ways Terraform
//! 1.15 allows without storing them: a `check` block asserts on them, and a
//! `local-exec` provisioner gets them through its environment. The
//! provisioner calls the cluster API with the token while the run is open
//! and, for this test only, writes the token to a file next to the
//! configuration, so that the test knows what to look for in state, plan
//! and logs, and can try the token again after the run.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use support::e2e::{scenario, Scenario};
use support::kube::{api_status, kubectl_items};
use support::terraform::{self, Output, Workdir, APPLY, REQUIRED_PROVIDERS};

const MANAGED: &str = "app.kubernetes.io/managed-by=terraform-provider-mke";

/// What the test adds to a cluster of one controller: the kubeconfig, a
/// check on it and a provisioner that calls the API with it.
const KUBECONFIG_AND_ITS_USES: &str = r#"
ephemeral "mke_kubeconfig" "admin" {
  controllers  = mke_cluster.main.controllers
  api_endpoint = mke_cluster.main.api_endpoint
}

check "kubeconfig" {
  assert {
    condition = (
      length(ephemeral.mke_kubeconfig.admin.token) > 0 &&
      startswith(ephemeral.mke_kubeconfig.admin.cluster_ca_certificate, "-----BEGIN CERTIFICATE-----") &&
      ephemeral.mke_kubeconfig.admin.host == mke_cluster.main.api_endpoint
    )
    error_message = "mke_kubeconfig opened without usable credentials"
  }
}

resource "terraform_data" "api_call" {
  # Replaced on every apply, so that every run calls the API.
  triggers_replace = timestamp()

  provisioner "local-exec" {
    command = <<-EOT
      printf '%s' "$CA" > run-ca.pem
      printf '%s\n' "$TOKEN" >> tokens.txt
      curl -s -o /dev/null -w '%%{http_code}\n' --max-time 20 --cacert run-ca.pem \
        -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/kube-system" >> during.txt
    EOT
    environment = {
      TOKEN = ephemeral.mke_kubeconfig.admin.token
      CA    = ephemeral.mke_kubeconfig.admin.cluster_ca_certificate
      API   = ephemeral.mke_kubeconfig.admin.host
    }
  }
}
"#;

/// Every JSON Web Token in `text`: three base64url parts whose first two
/// start with `eyJ` (`{"`). Service account tokens are JWTs; nothing else
/// this configuration handles is.
fn jwts(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .filter(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && parts[0].starts_with("eyJ")
                && parts[1].starts_with("eyJ")
                && !parts[2].is_empty()
        })
        .map(str::to_string)
        .collect()
}

/// The entries of a zip file (a saved plan), uncompressed, one after another.
fn unzipped(path: &Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
             for n in z.namelist():\n    sys.stdout.buffer.write(n.encode() + b'\\n' + z.read(n) + b'\\n')",
        ])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Scenario {
    /// `terraform <args>` with a trace log in `log`; the output and the log.
    fn traced(&self, args: &[&str], log: &str) -> (Output, String) {
        self.work.run_logged(&self.tf, args, "trace", log)
    }

    fn apply_traced(&self, log: &str) -> (Output, String) {
        let (out, trace) = self.traced(&APPLY, log);
        assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());
        (out, trace)
    }

    /// The lines the provisioner wrote to `name`.
    fn lines(&self, name: &str) -> Vec<String> {
        self.work
            .read(name)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The status of `check "kubeconfig"` as the last run recorded it in state.
    fn check_status(&self) -> String {
        let state = self.state();
        state["check_results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["config_addr"] == "check.kubeconfig")
            .map(|c| c["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| {
                panic!(
                    "no result of check.kubeconfig in state: {}",
                    state["check_results"]
                )
            })
    }

    /// The API's answer to `token` now, trusting the CA the last run saw.
    fn api_status(&self, token: &str) -> u16 {
        let endpoint = format!("https://{}:6443", self.bed.host("c1").address);
        api_status(&endpoint, &self.work.read("run-ca.pem"), token)
    }
}

fn assert_no_token(what: &str, text: &str, tokens: &[String]) {
    assert!(!text.is_empty(), "{what} is empty: nothing was checked");
    for t in tokens {
        assert!(
            !text.contains(t.as_str()),
            "a token minted by mke_kubeconfig is in {what}"
        );
    }
    let found = jwts(text);
    assert!(
        found.is_empty(),
        "{what} holds {} bearer token(s) (JWT)",
        found.len()
    );
}

#[test]
fn tokens_work_during_the_run_die_after_it_and_never_reach_state_plan_or_logs() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    let c1 = s.bed.host("c1");
    s.work.write(
        "main.tf",
        &format!("{}{KUBECONFIG_AND_ITS_USES}", s.cluster(&["c1"], "")),
    );

    // Run 1 creates the cluster, then opens the kubeconfig.
    let (out, trace) = s.apply_traced("trace-1.log");
    assert!(
        !out.combined().contains("Check block assertion failed"),
        "{}",
        out.combined()
    );
    assert_eq!(
        s.check_status(),
        "pass",
        "the check block saw the credentials"
    );
    let tokens = s.lines("tokens.txt");
    assert_eq!(tokens.len(), 1, "the provisioner ran once: {tokens:?}");
    assert_eq!(
        s.lines("during.txt"),
        vec!["200"],
        "the API accepted the token during the run"
    );
    assert_eq!(
        s.api_status(&tokens[0]),
        401,
        "the API rejects the token after the run"
    );
    assert!(
        kubectl_items(c1, &format!("get secrets -n kube-system -l {MANAGED}")).is_empty(),
        "Close deleted every Secret it bound a token to"
    );
    assert_no_token(
        "terraform.tfstate",
        &s.work.read("terraform.tfstate"),
        &tokens,
    );
    assert_no_token("the trace log of apply", &trace, &tokens);
    assert!(
        trace.contains("OpenEphemeralResource") && trace.contains("mke_kubeconfig"),
        "the trace log covers the ephemeral resource"
    );
    let account = kubectl_items(c1, "get serviceaccounts -n kube-system");

    // A saved plan opens the kubeconfig too (its inputs are known now).
    let (plan, plan_trace) = s.traced(
        &["plan", "-input=false", "-no-color", "-out=tfplan"],
        "trace-plan.log",
    );
    assert_eq!(plan.code, 0, "plan failed:\n{}", plan.combined());
    assert!(
        plan_trace.contains("OpenEphemeralResource"),
        "plan opened the ephemeral resource"
    );
    let show = s.work.run(&s.tf, &["show", "-json", "tfplan"]);
    assert_eq!(show.code, 0, "{}", show.combined());
    assert_no_token("the saved plan (show -json)", &show.stdout, &tokens);
    assert_no_token(
        "the saved plan file",
        &unzipped(&s.work.path().join("tfplan")),
        &tokens,
    );
    assert_no_token("the trace log of plan", &plan_trace, &tokens);
    assert!(kubectl_items(c1, &format!("get secrets -n kube-system -l {MANAGED}")).is_empty());

    // Run 2 reuses the service account and its binding and mints a new token.
    let (_, trace2) = s.apply_traced("trace-2.log");
    let tokens = s.lines("tokens.txt");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_ne!(tokens[0], tokens[1], "each run mints its own token");
    assert_eq!(s.lines("during.txt"), vec!["200", "200"]);
    assert_eq!(s.check_status(), "pass");
    assert_eq!(s.api_status(&tokens[1]), 401);
    let accounts = kubectl_items(c1, "get serviceaccounts -n kube-system");
    let uid = |items: &[Json]| {
        items
            .iter()
            .filter(|a| a["metadata"]["name"] == "mke-terraform")
            .map(|a| a["metadata"]["uid"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(uid(&accounts).len(), 1, "one service account");
    assert_eq!(uid(&accounts), uid(&account), "the same service account");
    let bindings = kubectl_items(c1, &format!("get clusterrolebindings -l {MANAGED}"));
    assert_eq!(bindings.len(), 1, "one binding: {bindings:?}");
    assert_eq!(bindings[0]["roleRef"]["name"], "cluster-admin");
    assert!(kubectl_items(c1, &format!("get secrets -n kube-system -l {MANAGED}")).is_empty());
    assert_no_token(
        "terraform.tfstate",
        &s.work.read("terraform.tfstate"),
        &tokens,
    );
    assert_no_token("the trace log of the second apply", &trace2, &tokens);

    s.destroy();
}

/// Removes every top-level block whose header starts with `header`.
fn without_blocks(hcl: &str, header: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut skipping = false;
    for line in hcl.lines() {
        if depth == 0 && line.trim_start().starts_with(header) {
            skipping = true;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        depth = (depth + opens).saturating_sub(closes);
        if skipping {
            if depth == 0 {
                skipping = false;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn the_example_validates_without_its_kubernetes_part() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ephemeral-resources/mke_kubeconfig");
    let readme = std::fs::read_to_string(example.join("README.md")).unwrap();
    assert!(readme.contains("Terraform 1.10 or later") && readme.contains("hashicorp/kubernetes"));
    for tf in terraform::modern_terraforms() {
        let work = Workdir::new("");
        std::fs::remove_file(work.path().join("main.tf")).unwrap();
        for entry in std::fs::read_dir(&example).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name == "kubernetes.tf" || !name.ends_with(".tf") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            work.write(&name, &without_blocks(&text, "provider \"kubernetes\""));
        }
        let snippet = work.read("ephemeral-resource.tf");
        assert!(
            snippet.contains("ephemeral \"mke_kubeconfig\"") && !snippet.contains("kubernetes\" {")
        );
        let out = work.run(&tf, &["validate", "-no-color"]);
        assert_eq!(
            out.code,
            0,
            "{}: the mke part of the example does not validate:\n{}",
            tf.label,
            out.combined()
        );
    }
}

#[test]
fn every_terraform_lists_mke_kubeconfig_among_the_ephemeral_resource_schemas() {
    // Terraform 1.11 on PATH (where present) has ephemeral resources too;
    // 1.5–1.9 would load the provider and ignore them.
    let mut checked = 0;
    for tf in terraform::modern_terraforms() {
        let work = Workdir::new(&format!("{REQUIRED_PROVIDERS}\nprovider \"mke\" {{}}\n"));
        let out = work.run(&tf, &["providers", "schema", "-json"]);
        assert_eq!(out.code, 0, "{}: {}", tf.label, out.combined());
        let schema: Json = serde_json::from_str(&out.stdout).unwrap();
        let mke = &schema["provider_schemas"]["registry.terraform.io/mke/mke"];
        let eph = &mke["ephemeral_resource_schemas"]["mke_kubeconfig"]["block"];
        for name in [
            "controllers",
            "api_endpoint",
            "service_account",
            "cluster_role",
            "duration",
            "kubeconfig",
            "host",
            "cluster_ca_certificate",
            "token",
            "expires_at",
        ] {
            assert!(
                eph["attributes"][name].is_object(),
                "{}: mke_kubeconfig lacks {name}: {eph}",
                tf.label
            );
        }
        assert_eq!(eph["attributes"]["token"]["sensitive"], true);
        assert_eq!(eph["attributes"]["kubeconfig"]["sensitive"], true);
        assert!(eph["description"]
            .as_str()
            .unwrap()
            .contains("Terraform 1.10 or later"));
        checked += 1;
    }
    if terraform::terraform_on_path().is_none() {
        eprintln!("no other terraform on PATH: checked Terraform 1.15 only");
    }
    assert!(checked >= 1 || terraform::terraform_1_15().is_none());
}
