//! Real Terraform loads, validates and plans the provider. No host is
//! touched: these tests stop at `plan`.

mod support;

use std::path::Path;

use serde_json::Value as Json;
use support::examples::copy_example_sources;
use support::terraform::{self, Workdir, REQUIRED_PROVIDERS};

fn contract_attributes() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("provider", vec!["parallelism", "drain_concurrency"]),
        (
            "mke_cluster",
            vec![
                "name",
                "k0s_version",
                "k0s_binary_path",
                "k0s_download_url",
                "controllers",
                "api",
                "network",
                "k0s_config_overrides",
                "timeouts",
                "id",
                "api_endpoint",
                "kubeconfig",
                "ca_certificate",
                "controller_addresses",
                "k0s_config",
                "host_status",
            ],
        ),
        (
            "mke_node",
            vec![
                "cluster_id",
                "controllers",
                "k0s_version",
                "k0s_binary_path",
                "k0s_download_url",
                "address",
                "private_address",
                "port",
                "user",
                "host_key",
                "labels",
                "taints",
                "drain_timeout",
                "timeouts",
                "id",
                "node_name",
                "status",
            ],
        ),
    ]
}

#[test]
fn providers_schema_lists_every_attribute_of_the_contract() {
    for tf in terraform::modern_terraforms() {
        let work = Workdir::new(REQUIRED_PROVIDERS);
        let out = work.run(&tf, &["providers", "schema", "-json"]);
        assert_eq!(out.code, 0, "{}: {}", tf.label, out.combined());
        let schema: Json = serde_json::from_str(&out.stdout).unwrap();
        let provider = &schema["provider_schemas"]["registry.terraform.io/mke/mke"];
        for (what, names) in contract_attributes() {
            let block = if what == "provider" {
                &provider["provider"]["block"]
            } else {
                &provider["resource_schemas"][what]["block"]
            };
            for name in names {
                let attribute = &block["attributes"][name];
                assert!(attribute.is_object(), "{}: {what} lacks {name}", tf.label);
                assert!(
                    attribute["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{}: {what}.{name} has no description",
                    tf.label
                );
            }
        }
        let ssh = &provider["provider"]["block"]["block_types"]["ssh"]["block"]["attributes"];
        for name in [
            "user",
            "port",
            "private_key",
            "timeout",
            "bastion_host",
            "bastion_user",
            "bastion_port",
            "bastion_private_key",
            "bastion_host_key",
        ] {
            assert!(
                ssh[name].is_object(),
                "{}: ssh block lacks {name}",
                tf.label
            );
        }
        assert_eq!(ssh["private_key"]["sensitive"], true);
        let cluster = &provider["resource_schemas"]["mke_cluster"]["block"]["attributes"];
        let node = &provider["resource_schemas"]["mke_node"]["block"]["attributes"];
        assert_eq!(
            cluster["controllers"]["nested_type"], node["controllers"]["nested_type"],
            "mke_cluster.controllers and mke_node.controllers must be one type"
        );
        for name in [
            "address",
            "private_address",
            "port",
            "user",
            "host_key",
            "workloads",
        ] {
            assert!(
                cluster["controllers"]["nested_type"]["attributes"][name].is_object(),
                "controllers.{name}"
            );
        }
        assert_eq!(cluster["kubeconfig"]["sensitive"], true);
    }
}

fn example_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut has_tf = false;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tf") {
                has_tf = true;
            }
        }
        if has_tf {
            found.push(dir);
        }
    }
    found.sort();
    found
}

/// Examples that need another provider or a newer Terraform say so in their
/// README and are skipped here by name.
const SKIPPED_EXAMPLES: &[(&str, &str)] = &[(
    "ephemeral-resources/mke_kubeconfig",
    "needs the hashicorp/kubernetes provider and Terraform 1.10+; tests/e2e_kubeconfig.rs \
     validates its mke part",
)];

#[test]
fn every_example_validates() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for tf in terraform::modern_terraforms() {
        let work = Workdir::new("");
        std::fs::remove_file(work.path().join("main.tf")).unwrap();
        copy_example_sources(&examples, &work.path().join("examples"));
        let dirs = example_dirs(&work.path().join("examples"));
        assert!(dirs.len() >= 7, "expected the examples, found {dirs:?}");
        for dir in dirs {
            let rel = dir
                .strip_prefix(work.path().join("examples"))
                .unwrap()
                .display()
                .to_string();
            if let Some((_, why)) = SKIPPED_EXAMPLES.iter().find(|(n, _)| *n == rel) {
                eprintln!("not validating examples/{rel}: {why}");
                continue;
            }
            if rel.starts_with("actions/") && tf.label != "Terraform 1.15" {
                eprintln!(
                    "not validating examples/{rel} with {}: actions need Terraform 1.14+",
                    tf.label
                );
                continue;
            }
            let query = rel.starts_with("list-resources/");
            if query && tf.label != "Terraform 1.15" {
                eprintln!(
                    "not validating examples/{rel} with {}: list resources need Terraform 1.14+",
                    tf.label
                );
                continue;
            }
            let chdir = format!("-chdir={}", dir.display());
            // `get` installs local modules only: providers come from dev_overrides,
            // and no test may reach a registry.
            let get = work.run(&tf, &[&chdir, "get", "-no-color"]);
            assert_eq!(
                get.code,
                0,
                "{}: get of examples/{rel}:\n{}",
                tf.label,
                get.combined()
            );
            // `-query` validates the `.tfquery.hcl` files too.
            let validate: &[&str] = if query {
                &[&chdir, "validate", "-query", "-no-color"]
            } else {
                &[&chdir, "validate", "-no-color"]
            };
            let out = work.run(&tf, validate);
            assert_eq!(
                out.code,
                0,
                "{}: examples/{rel} does not validate:\n{}",
                tf.label,
                out.combined()
            );
        }
    }
}

const CLUSTER: &str = r#"
provider "mke" {}

resource "terraform_data" "later" {
  input = "10.0.0.99"
}

resource "mke_cluster" "main" {
  name = "demo"
  controllers = {
    cp1 = { address = "192.0.2.11" }
    cp2 = { address = "192.0.2.12", private_address = "10.0.0.12" }
    cp3 = { address = "192.0.2.13" }
  }
}

resource "mke_node" "worker" {
  for_each    = { w1 = "192.0.2.21" }
  cluster_id  = mke_cluster.main.id
  controllers = mke_cluster.main.controllers
  k0s_version = mke_cluster.main.k0s_version
  address     = each.value
  labels      = { tier = "web" }
}

resource "mke_node" "later" {
  cluster_id  = mke_cluster.main.id
  controllers = mke_cluster.main.controllers
  address     = terraform_data.later.output
}
"#;

fn planned_resource<'a>(plan: &'a Json, address: &str) -> &'a Json {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} is not in the plan"))
}

#[test]
fn plan_shows_the_mke4_defaults_the_rendered_config_and_unknown_computed_values() {
    for tf in terraform::modern_terraforms() {
        let work = Workdir::new(&format!("{REQUIRED_PROVIDERS}{CLUSTER}"));
        let plan = work.plan_json(&tf);
        let cluster = planned_resource(&plan, "mke_cluster.main");
        let after = &cluster["change"]["after"];
        let unknown = &cluster["change"]["after_unknown"];
        assert_eq!(after["k0s_version"], "v1.29.3+k0s.0", "{}", tf.label);
        let net = &after["network"];
        assert_eq!(net["pod_cidr"], "10.244.0.0/16");
        assert_eq!(net["service_cidr"], "10.96.0.0/12");
        assert_eq!(net["cluster_domain"], "cluster.local");
        assert_eq!(net["kube_proxy_mode"], "iptables");
        assert_eq!(net["calico"]["mode"], "vxlan");
        assert_eq!(net["calico"]["vxlan_port"], 4789);
        assert_eq!(net["calico"]["vxlan_vni"], 4096);
        assert_eq!(net["calico"]["mtu"], 0);
        assert_eq!(net["calico"]["wireguard"], false);
        assert_eq!(after["controllers"]["cp1"]["workloads"], false);
        assert_eq!(after["api_endpoint"], "https://192.0.2.11:6443");
        assert_eq!(
            after["controller_addresses"],
            serde_json::json!(["192.0.2.11", "192.0.2.12", "192.0.2.13"])
        );
        assert_eq!(after["host_status"]["cp2"], "running");
        let config = after["k0s_config"]
            .as_str()
            .expect("k0s_config is known at plan");
        for needle in [
            "apiVersion: k0s.k0sproject.io/v1beta1",
            "kind: ClusterConfig",
            "provider: calico",
            "podCIDR: 10.244.0.0/16",
            "mode: iptables",
            "vxlanPort: 4789",
            "vxlanVNI: 4096",
            "mtu: 0",
            "10.0.0.12",
            "nodeLocalLoadBalancing",
        ] {
            assert!(
                config.contains(needle),
                "{}: k0s_config lacks {needle}:\n{config}",
                tf.label
            );
        }
        for computed in ["id", "kubeconfig", "ca_certificate"] {
            assert_eq!(
                unknown[computed], true,
                "{}: {computed} should be unknown",
                tf.label
            );
        }
        assert_eq!(unknown["controllers"]["cp1"]["host_key"], true);

        let node = planned_resource(&plan, "mke_node.worker[\"w1\"]");
        assert_eq!(node["change"]["after"]["drain_timeout"], "5m");
        assert_eq!(node["change"]["after"]["status"], "running");
        assert_eq!(node["change"]["after_unknown"]["cluster_id"], true);
        assert_eq!(node["change"]["after_unknown"]["node_name"], true);
        let later = planned_resource(&plan, "mke_node.later");
        assert_eq!(
            later["change"]["after_unknown"]["address"], true,
            "unknown input is fine at plan"
        );
    }
}

/// Each bad input, in its own resource, fails the plan with its message on its attribute.
#[test]
fn bad_input_fails_the_plan_with_a_message_on_the_attribute() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "bad_cidr",
            r#"network = { pod_cidr = "10.244.0.0" }"#,
            "Invalid CIDR block",
        ),
        (
            "overlap",
            r#"network = { pod_cidr = "10.96.0.0/16", service_cidr = "10.96.0.0/12" }"#,
            "Overlapping pod and service ranges",
        ),
        (
            "calico_mode",
            r#"network = { calico = { mode = "geneve" } }"#,
            "\"geneve\" is not a calico mode",
        ),
        (
            "proxy_mode",
            r#"network = { kube_proxy_mode = "userspace" }"#,
            "\"userspace\" is not a kube-proxy mode",
        ),
        (
            "version",
            r#"k0s_version = "1.29.3""#,
            "expected the form vX.Y.Z+k0s.N",
        ),
        (
            "yaml",
            r#"k0s_config_overrides = "spec: [unclosed""#,
            "Invalid k0s_config_overrides",
        ),
        (
            "timeout",
            r#"timeouts = { create = "soon" }"#,
            "Invalid duration",
        ),
        (
            "vxlan_port",
            r#"network = { calico = { vxlan_port = 70000 } }"#,
            "70000 is not a TCP port",
        ),
    ];
    let mut config = String::from(REQUIRED_PROVIDERS);
    config.push_str("provider \"mke\" {}\n");
    for (i, (name, line, _)) in cases.iter().enumerate() {
        config.push_str(&format!(
            "resource \"mke_cluster\" \"{name}\" {{\n  name = \"{name}\"\n  controllers = {{ cp = {{ address = \"192.0.2.{} \" }} }}\n  {line}\n}}\n",
            i + 1
        ).replace(" \" }", "\" }"));
    }
    config.push_str(
        r#"
resource "mke_cluster" "port" {
  name        = "port"
  controllers = { cp = { address = "192.0.2.50", port = 0 } }
}
resource "mke_cluster" "duplicate" {
  name        = "duplicate"
  controllers = { a = { address = "192.0.2.60" }, b = { address = "192.0.2.60" } }
}
resource "mke_cluster" "empty" {
  name        = "empty"
  controllers = {}
}
resource "mke_cluster" "forbidden" {
  name                 = "forbidden"
  controllers          = { cp = { address = "192.0.2.70" } }
  k0s_config_overrides = yamlencode({ spec = { api = { port = 7443 } } })
}
resource "mke_cluster" "strict" {
  name                 = "strict"
  controllers          = { cp = { address = "192.0.2.80" } }
  k0s_config_overrides = yamlencode({ spec = { network = { calico = { bogus = 1 } } } })
}
resource "mke_node" "bad_taint" {
  cluster_id  = "x"
  controllers = { cp = { address = "192.0.2.90" } }
  address     = "192.0.2.91"
  taints      = ["dedicated=web"]
  drain_timeout = "forever"
}
"#,
    );
    let more: &[(&str, &str)] = &[
        ("mke_cluster.port", "0 is not a TCP port"),
        (
            "mke_cluster.duplicate",
            "192.0.2.60 is used by both \"a\" and \"b\"",
        ),
        ("mke_cluster.empty", "needs at least one machine"),
        ("mke_cluster.forbidden", "spec.api.port"),
        ("mke_cluster.strict", "bogus"),
        ("mke_node.bad_taint", "has no effect"),
        ("mke_node.bad_taint", "\"forever\" is not a duration"),
    ];
    for tf in terraform::modern_terraforms() {
        let work = Workdir::new(&config);
        let out = work.run(&tf, &["plan", "-input=false", "-no-color"]);
        assert_ne!(out.code, 0, "{}: the plan should fail", tf.label);
        let text = out.stderr.replace("│ ", "").replace('\n', " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (name, _, message) in cases {
            assert!(
                text.contains(message),
                "{}: no \"{message}\" for {name} in:\n{}",
                tf.label,
                out.stderr
            );
            assert!(
                text.contains(&format!("with mke_cluster.{name},")),
                "{}: the error for {name} does not name its resource:\n{}",
                tf.label,
                out.stderr
            );
        }
        for (resource, message) in more {
            assert!(
                text.contains(message),
                "{}: no \"{message}\" ({resource}) in:\n{}",
                tf.label,
                out.stderr
            );
            assert!(
                text.contains(&format!("with {resource},")),
                "{}: {resource} not named",
                tf.label
            );
        }
        // Attribute paths point Terraform at the offending line (Terraform
        // before 1.12 points at the resource for nested attributes).
        assert!(
            tf.label != "Terraform 1.15" || text.contains("pod_cidr = \"10.244.0.0\""),
            "{}: the source line of the bad CIDR is not shown:\n{}",
            tf.label,
            out.stderr
        );
    }
}

#[test]
fn terraform_before_1_5_is_refused_with_its_version_and_the_minimum() {
    let Some(tf) = terraform::terraform_1_0_3() else {
        return;
    };
    let work = Workdir::new(&format!(
        "{REQUIRED_PROVIDERS}provider \"mke\" {{}}\nresource \"mke_cluster\" \"main\" {{\n  name = \"demo\"\n  controllers = {{ cp1 = {{ address = \"192.0.2.11\" }} }}\n}}\n"
    ));
    let out = work.run(&tf, &["plan", "-input=false", "-no-color"]);
    assert_ne!(
        out.code,
        0,
        "Terraform 1.0.3 must not get a plan:\n{}",
        out.combined()
    );
    let text = out
        .stderr
        .replace("│ ", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("Terraform 1.0.3 is too old for the mke provider: it needs Terraform 1.5 or later (or OpenTofu 1.6 or later)."),
        "no clear refusal in:\n{}",
        out.combined()
    );
}
