//! mke_cluster end to end: real Terraform, real SSH hosts (network
//! namespaces of the test bed), and the k0s stand-in (a test double)
//! uploaded as the k0s binary.

mod support;

use serde_json::Value as Json;
use support::terraform::{self, Terraform, Workdir, REQUIRED_PROVIDERS};
use support::testbed::{self, TestBed};

fn standin() -> String {
    format!("{}/tests/k0s-standin/k0s", env!("CARGO_MANIFEST_DIR"))
}

struct Scenario {
    bed: TestBed,
    work: Workdir,
    tf: Terraform,
}

fn scenario(hosts: &[&str]) -> Option<Scenario> {
    if !testbed::require_root_or_fail("the e2e tests need root for network namespaces") {
        return None;
    }
    let tf = terraform::terraform_1_15()?;
    let bed = TestBed::new(hosts).expect("test bed");
    let work = Workdir::new("");
    work.write("key.pem", &bed.client_private_key());
    Some(Scenario { bed, work, tf })
}

impl Scenario {
    fn provider(&self) -> String {
        format!(
            "{REQUIRED_PROVIDERS}\nprovider \"mke\" {{\n  ssh {{\n    private_key = file(\"${{path.module}}/key.pem\")\n    timeout = \"30s\"\n  }}\n}}\n"
        )
    }

    fn cluster(&self, controllers: &[&str], extra: &str) -> String {
        let entries: Vec<String> = controllers
            .iter()
            .map(|h| format!("    {h} = {{ address = \"{}\" }}", self.bed.host(h).address))
            .collect();
        format!(
            "{}\nresource \"mke_cluster\" \"main\" {{\n  name = \"e2e\"\n  k0s_binary_path = \"{}\"\n  controllers = {{\n{}\n  }}\n{extra}\n}}\n",
            self.provider(),
            standin(),
            entries.join("\n")
        )
    }

    fn apply(&self, config: &str) -> terraform::Output {
        self.work.write("main.tf", config);
        let out = self.work.run(
            &self.tf,
            &["apply", "-auto-approve", "-input=false", "-no-color"],
        );
        assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());
        out
    }

    fn plan_exit(&self, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["plan", "-detailed-exitcode", "-input=false", "-no-color"];
        args.extend_from_slice(extra);
        let out = self.work.run(&self.tf, &args);
        (out.code, out.combined())
    }

    fn state(&self) -> Json {
        serde_json::from_str(&self.work.read("terraform.tfstate")).expect("state")
    }

    fn cluster_attrs(&self) -> Json {
        self.state()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "mke_cluster")
            .map(|r| r["instances"][0]["attributes"].clone())
            .expect("mke_cluster in state")
    }

    fn calls(&self, host: &str) -> Vec<Vec<String>> {
        self.bed
            .host(host)
            .exec_ok("cat /var/log/k0s-standin/calls.jsonl 2>/dev/null || true")
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .map(|j| {
                j["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect()
    }
}

fn has_call(calls: &[Vec<String>], words: &[&str]) -> bool {
    calls
        .iter()
        .any(|c| words.iter().all(|w| c.iter().any(|a| a == w)))
}

#[test]
fn one_controller_installs_reads_drifts_and_destroys_cleanly() {
    let Some(s) = scenario(&["c1"]) else { return };
    let config = s.cluster(&["c1"], "");
    s.apply(&config);

    let attrs = s.cluster_attrs();
    assert!(
        attrs["id"].as_str().is_some_and(|id| !id.is_empty()),
        "id: {attrs}"
    );
    assert_eq!(attrs["host_status"]["c1"], "running");
    assert_eq!(
        attrs["api_endpoint"],
        format!("https://{}:6443", s.bed.host("c1").address)
    );
    assert!(attrs["kubeconfig"].as_str().unwrap().contains(&format!(
        "server: https://{}:6443",
        s.bed.host("c1").address
    )));
    assert!(attrs["ca_certificate"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert_eq!(
        attrs["controllers"]["c1"]["host_key"].as_str().unwrap(),
        s.bed.host("c1").host_key("ed25519"),
        "the key presented on first contact is pinned in state"
    );
    let calls = s.calls("c1");
    assert!(
        has_call(
            &calls,
            &["install", "controller", "--config=/etc/k0s/k0s.yaml"]
        ),
        "{calls:?}"
    );
    assert!(has_call(&calls, &["start"]));
    let status = s
        .bed
        .host("c1")
        .exec_ok("/usr/local/bin/k0s status -o json");
    assert!(status.contains("\"Role\": \"controller\""), "{status}");

    // Nothing secret in state.
    let raw_state = s.work.read("terraform.tfstate");
    assert!(
        !raw_state.contains("PRIVATE KEY"),
        "the SSH key must not be in state"
    );

    assert_eq!(s.plan_exit(&[]).0, 0, "plan after apply is empty");
    assert_eq!(s.plan_exit(&["-refresh=false"]).0, 0, "and without refresh");

    // Drift: k0s stopped out of band shows in the plan, and apply fixes it.
    s.bed.host("c1").exec_ok("/usr/local/bin/k0s stop");
    let (code, text) = s.plan_exit(&[]);
    assert_eq!(
        code, 2,
        "a stopped controller must show as a change:\n{text}"
    );
    assert!(text.contains("\"stopped\" -> \"running\""), "{text}");
    s.apply(&config);
    assert!(s
        .bed
        .host("c1")
        .exec_ok("/usr/local/bin/k0s status -o json")
        .contains("\"Pid\""));
    assert_eq!(s.plan_exit(&[]).0, 0);

    // Destroy leaves the host clean.
    let out = s.work.run(
        &s.tf,
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
    );
    assert_eq!(out.code, 0, "{}", out.combined());
    let left = s
        .bed
        .host("c1")
        .exec("ls /usr/local/bin/k0s /etc/k0s /var/lib/k0s 2>&1");
    let text = String::from_utf8_lossy(&left.stdout);
    assert_eq!(
        text.matches("No such file").count(),
        3,
        "leftovers after destroy: {text}"
    );
}
