//! Plan-time refusals, through real Terraform 1.15: each bad input fails
//! `terraform plan` with its message on its resource, before any host is
//! reached. No host is touched: the addresses are documentation addresses,
//! and the in-place checks plan over a hand-written state with `-refresh=false`.

mod support;

use support::terraform::{self, Output, Terraform, Workdir, REQUIRED_PROVIDERS};

/// Terraform's error output on one line, box drawing removed, so a message
/// wrapped over lines can be searched for.
fn flat(out: &Output) -> String {
    out.stderr
        .replace("│ ", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn plan(work: &Workdir, tf: &Terraform, extra: &[&str]) -> Output {
    let mut args = vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"];
    args.extend_from_slice(extra);
    work.run(tf, &args)
}

/// One resource per refusal, so each error can be tied to its resource.
const REFUSED: &str = r#"
provider "mke" {}

resource "mke_node" "aimed_at_controller" {
  cluster_id  = "c1"
  controllers = { cp1 = { address = "192.0.2.11", private_address = "10.0.0.11" } }
  address     = "192.0.2.11"
}

resource "mke_node" "dns_private_address" {
  cluster_id      = "c1"
  controllers     = { cp1 = { address = "192.0.2.11" } }
  address         = "192.0.2.22"
  private_address = "w2.internal"
}

resource "mke_node" "label_value" {
  cluster_id  = "c1"
  controllers = { cp1 = { address = "192.0.2.11" } }
  address     = "192.0.2.23"
  labels      = { zone = "eu west" }
}

resource "mke_node" "zero_drain" {
  cluster_id    = "c1"
  controllers   = { cp1 = { address = "192.0.2.11" } }
  address       = "192.0.2.24"
  drain_timeout = "0s"
}

resource "mke_cluster" "pod_cidr_override" {
  name                 = "demo"
  controllers          = { cp1 = { address = "192.0.2.31" } }
  k0s_config_overrides = yamlencode({ spec = { network = { podCIDR = "10.32.0.0/16" } } })
}
"#;

#[test]
fn each_refusal_fails_the_plan_with_its_message_on_its_resource() {
    let Some(tf) = terraform::terraform_1_15() else {
        return;
    };
    let work = Workdir::new(&format!("{REQUIRED_PROVIDERS}{REFUSED}"));
    let out = plan(&work, &tf, &[]);
    assert_eq!(out.code, 1, "the plan should fail:\n{}", out.combined());
    let text = flat(&out);
    let expected = [
        (
            "mke_node.aimed_at_controller",
            "Error: Node aimed at its own controller",
            "192.0.2.11 is controller \"cp1\" of this cluster (controllers.cp1.address). \
             mke_node makes a machine a worker, and doing that to a controller takes it down. \
             Set `address` to a machine that is not in `controllers`",
        ),
        (
            "mke_node.dns_private_address",
            "Error: Invalid private_address",
            "\"w2.internal\" is not an IPv4 address. k0s uses this address as the node IP \
             (--node-ip)",
        ),
        (
            "mke_node.label_value",
            "Error: Invalid label",
            "label \"zone\": \"eu west\" is not a Kubernetes label value",
        ),
        (
            "mke_node.zero_drain",
            "Error: Invalid duration",
            "\"0s\" cannot be used here: a time limit must be longer than zero.",
        ),
        (
            "mke_cluster.pod_cidr_override",
            "Error: Override of a setting that cannot change",
            "spec.network.podCIDR: the overrides would change it from \"10.244.0.0/16\" to \
             \"10.32.0.0/16\", and it cannot change under a running cluster. Set \
             `network.pod_cidr` instead",
        ),
    ];
    for (resource, summary, detail) in expected {
        // Each diagnostic is "Error: <summary> with <resource>, on main.tf
        // line N ... <detail>": find the one of this resource.
        let block = text
            .split("Error: ")
            .find(|b| b.contains(&format!("with {resource},")))
            .unwrap_or_else(|| panic!("no error names {resource}:\n{}", out.stderr));
        assert!(
            block.starts_with(summary.trim_start_matches("Error: ")),
            "{resource}: expected \"{summary}\", got: {block}"
        );
        assert!(
            block.contains(detail),
            "{resource}: expected \"{detail}\" in: {block}"
        );
    }
    assert_eq!(
        text.matches("Error: ").count(),
        expected.len(),
        "one error per refusal, nothing else:\n{}",
        out.stderr
    );
}

const CLUSTER_STATE: &str = r#"{
  "version": 4,
  "terraform_version": "1.15.0",
  "serial": 1,
  "lineage": "6f0b6c52-3c1e-4f53-9d0e-0d6b2a6c0001",
  "outputs": {},
  "resources": [
    {
      "mode": "managed",
      "type": "mke_cluster",
      "name": "main",
      "provider": "provider[\"registry.terraform.io/mke/mke\"]",
      "instances": [
        {
          "schema_version": 0,
          "attributes": {
            "name": "demo",
            "k0s_version": "v1.30.1+k0s.0",
            "k0s_download_url": "https://github.com/k0sproject/k0s/releases/download/{version}/k0s-{version}-{arch}",
            "controllers": {
              "cp1": {
                "address": "192.0.2.11",
                "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMhZ7zNc5i2Z4YNf3f0WnQXyQ1QWcW2X1sZg1c8m0e3f",
                "workloads": false
              }
            },
            "network": {
              "pod_cidr": "10.244.0.0/16",
              "service_cidr": "10.96.0.0/12",
              "cluster_domain": "cluster.local",
              "kube_proxy_mode": "iptables",
              "calico": {
                "mode": "vxlan",
                "vxlan_port": 4789,
                "vxlan_vni": 4096,
                "mtu": 0,
                "wireguard": false
              }
            },
            "id": "2b4f3f0e-0000-4000-8000-000000000001",
            "api_endpoint": "https://192.0.2.11:6443",
            "kubeconfig": "apiVersion: v1\nkind: Config\n",
            "ca_certificate": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            "controller_addresses": ["192.0.2.11"],
            "host_status": { "cp1": "running" }
          }
        }
      ]
    }
  ]
}
"#;

fn cluster_at(version: &str, network: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "mke" {{}}

resource "mke_cluster" "main" {{
  name        = "demo"
  k0s_version = "{version}"
  controllers = {{ cp1 = {{ address = "192.0.2.11" }} }}
  {network}
}}
"#
    )
}

/// The state says the cluster runs v1.30.1; each case plans a new
/// configuration over it without reaching the host.
#[test]
fn a_downgrade_in_place_is_refused_but_an_upgrade_or_a_rebuild_is_planned() {
    let Some(tf) = terraform::terraform_1_15() else {
        return;
    };
    let work = Workdir::new(&cluster_at("v1.29.3+k0s.0", ""));
    work.write("terraform.tfstate", CLUSTER_STATE);

    let out = plan(&work, &tf, &["-refresh=false"]);
    assert_eq!(
        out.code,
        1,
        "the downgrade should fail:\n{}",
        out.combined()
    );
    let text = flat(&out);
    assert!(
        text.contains(
            "Error: Unsupported k0s version change with mke_cluster.main, on main.tf line"
        ),
        "{}",
        out.stderr
    );
    assert!(
        text.contains(
            "v1.30.1+k0s.0 cannot be downgraded to v1.29.3+k0s.0 in place: k0s and etcd do not \
             support going back to an older minor release. The state records v1.30.1+k0s.0 as \
             running (as applied, or as the last refresh found it). Keep k0s_version at v1.30 or \
             later."
        ),
        "{}",
        out.stderr
    );

    work.write("main.tf", &cluster_at("v1.32.0+k0s.0", ""));
    let out = plan(&work, &tf, &["-refresh=false"]);
    assert_eq!(
        out.code,
        1,
        "the minor skip should fail:\n{}",
        out.combined()
    );
    assert!(
        flat(&out)
            .contains("Set k0s_version to a v1.31 release and apply, then go on to v1.32.0+k0s.0."),
        "{}",
        out.stderr
    );

    // The same state takes a one-minor upgrade in place...
    work.write("main.tf", &cluster_at("v1.31.0+k0s.0", ""));
    let out = plan(&work, &tf, &["-refresh=false"]);
    assert_eq!(out.code, 2, "an upgrade is a change:\n{}", out.combined());
    assert!(
        out.stdout
            .contains("mke_cluster.main will be updated in-place"),
        "{}",
        out.stdout
    );

    // ...and an older release when the cluster is rebuilt anyway.
    work.write(
        "main.tf",
        &cluster_at(
            "v1.29.3+k0s.0",
            r#"network = { pod_cidr = "10.32.0.0/16" }"#,
        ),
    );
    let out = plan(&work, &tf, &["-refresh=false"]);
    assert_eq!(out.code, 2, "a rebuild is planned:\n{}", out.combined());
    assert!(
        out.stdout.contains("mke_cluster.main must be replaced"),
        "{}",
        out.stdout
    );
}
