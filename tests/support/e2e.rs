//! What every end-to-end test starts from: test-bed hosts, a Terraform
//! working directory holding the bed's SSH key, the k0s stand-in (a test
//! double) as the k0s binary the provider uploads, the configurations the
//! tests apply, and what a test reads back from state and hosts.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::standin::{self, Call, K0S};
use super::terraform::{self, Output, Terraform, Workdir, APPLY, DESTROY, REQUIRED_PROVIDERS};
use super::testbed::{self, TestBed, TestHost};

/// The k0s stand-in, uploaded as `k0s_binary_path`.
pub fn standin() -> String {
    standin::path()
}

/// Terraform wraps its messages (in boxes, with `-no-color` too); comparing
/// on single spaces ignores that.
pub fn squash(text: &str) -> String {
    text.replace("│ ", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `required_providers` and a provider block using the bed's key (`key.pem`
/// of the working directory).
pub fn provider_block(ssh_timeout: &str) -> String {
    provider_block_with(ssh_timeout, "")
}

/// [`provider_block`] with more lines in its `ssh` block.
pub fn provider_block_with(ssh_timeout: &str, ssh_extra: &str) -> String {
    let extra = if ssh_extra.is_empty() {
        String::new()
    } else {
        format!("{ssh_extra}\n")
    };
    format!(
        "{REQUIRED_PROVIDERS}\nprovider \"mke\" {{\n  ssh {{\n    private_key = file(\"${{path.module}}/key.pem\")\n    timeout     = \"{ssh_timeout}\"\n{extra}  }}\n}}\n"
    )
}

/// One controller `c1` and one `mke_node` per worker (a `for_each` map from
/// name to address) that follows the cluster's version and binary, as
/// `examples/` does it; `node_extra` goes inside the `mke_node` block.
pub fn controller_and_workers(
    bed: &TestBed,
    provider: &str,
    cluster_name: &str,
    workers: &[&str],
    node_extra: &str,
) -> String {
    let map: Vec<String> = workers
        .iter()
        .map(|w| format!("    {w} = \"{}\"", bed.host(w).address))
        .collect();
    format!(
        r#"{provider}
resource "mke_cluster" "main" {{
  name            = "{cluster_name}"
  k0s_binary_path = "{standin}"
  controllers     = {{ c1 = {{ address = "{c1}" }} }}
}}

resource "mke_node" "worker" {{
  for_each = {{
{map}
  }}
  cluster_id      = mke_cluster.main.id
  controllers     = mke_cluster.main.controllers
  k0s_version     = mke_cluster.main.k0s_version
  k0s_binary_path = mke_cluster.main.k0s_binary_path
  address         = each.value
{node_extra}
}}
"#,
        standin = standin(),
        c1 = bed.host("c1").address,
        map = map.join("\n"),
    )
}

/// A working directory with `config` as main.tf and the bed's key as key.pem.
pub fn workdir_with_key(bed: &TestBed, config: &str) -> Workdir {
    let work = Workdir::new(config);
    work.write("key.pem", &bed.client_private_key());
    work
}

pub struct Scenario {
    pub bed: TestBed,
    pub work: Workdir,
    pub tf: Terraform,
    label: String,
    started: Instant,
}

/// Hosts on the test bed driven by Terraform 1.15; `None` (after saying why,
/// and never under CI=true) when the machine cannot run them.
pub fn scenario(hosts: &[&str]) -> Option<Scenario> {
    let tf = terraform::terraform_1_15()?;
    Scenario::with(tf, hosts)
}

impl Drop for Scenario {
    fn drop(&mut self) {
        eprintln!(
            "e2e timing: {} took {:.1}s",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
    }
}

impl Scenario {
    pub fn with(tf: Terraform, hosts: &[&str]) -> Option<Scenario> {
        if !testbed::require_root_or_fail("the e2e tests need root for network namespaces") {
            return None;
        }
        // The test harness names each test's thread after the test.
        let label = match std::thread::current().name() {
            Some(test) if test != "main" => test.to_string(),
            _ => format!("the scenario on {hosts:?}"),
        };
        let started = Instant::now();
        let bed = TestBed::new(hosts).expect("test bed");
        for host in bed.hosts() {
            standin::forget_calls_from_the_machine(host);
        }
        let work = workdir_with_key(&bed, "");
        Some(Scenario {
            bed,
            work,
            tf,
            label,
            started,
        })
    }

    /// A host only `bastion` can reach; see [`TestBed::add_host_behind`].
    pub fn add_host_behind(&mut self, bastion: &str, name: &str) -> &TestHost {
        let host = self.bed.add_host_behind(bastion, name);
        standin::forget_calls_from_the_machine(host);
        host
    }

    /// Another working directory with `config` and the bed's key.
    pub fn workdir(&self, config: &str) -> Workdir {
        workdir_with_key(&self.bed, config)
    }

    pub fn address(&self, host: &str) -> String {
        self.bed.host(host).address.clone()
    }

    /// An `mke_cluster` named `e2e` on `controllers`: (host, extra attributes
    /// of its entry), with `extra` inside the resource block.
    pub fn cluster_on(
        &self,
        provider: &str,
        binary: &str,
        controllers: &[(&str, &str)],
        extra: &str,
    ) -> String {
        let entries: Vec<String> = controllers
            .iter()
            .map(|(h, more)| {
                let more = if more.is_empty() {
                    String::new()
                } else {
                    format!(", {more}")
                };
                format!(
                    "    {h} = {{ address = \"{}\"{more} }}",
                    self.bed.host(h).address
                )
            })
            .collect();
        format!(
            "{provider}\nresource \"mke_cluster\" \"main\" {{\n  name = \"e2e\"\n  k0s_binary_path = \"{binary}\"\n  controllers = {{\n{}\n  }}\n{extra}\n}}\n",
            entries.join("\n")
        )
    }

    /// [`cluster_on`](Self::cluster_on) with a 30 s SSH timeout, the
    /// stand-in and no more attributes per controller.
    pub fn cluster(&self, controllers: &[&str], extra: &str) -> String {
        let plain: Vec<(&str, &str)> = controllers.iter().map(|h| (*h, "")).collect();
        self.cluster_on(&provider_block("30s"), &standin(), &plain, extra)
    }

    /// Writes `config` as main.tf and applies it, whatever the outcome.
    pub fn try_apply(&self, config: &str) -> Output {
        self.work.write("main.tf", config);
        self.work.run(&self.tf, &APPLY)
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

    /// Plans with and without refresh show no change.
    pub fn assert_plan_empty(&self, when: &str) {
        for extra in [&[][..], &["-refresh=false"][..]] {
            let (code, text) = self.plan_exit(extra);
            assert_eq!(code, 0, "plan {extra:?} {when} must be empty:\n{text}");
        }
    }

    pub fn destroy(&self) -> Output {
        let out = self.work.run(&self.tf, &DESTROY);
        assert_eq!(out.code, 0, "destroy failed:\n{}", out.combined());
        out
    }

    pub fn state(&self) -> Json {
        self.work.state()
    }

    pub fn cluster_attrs(&self) -> Json {
        self.state()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "mke_cluster")
            .map(|r| r["instances"][0]["attributes"].clone())
            .expect("mke_cluster in state")
    }

    /// Every call of the stand-in on `host` so far.
    pub fn calls(&self, host: &str) -> Vec<Call> {
        standin::calls_on(self.bed.host(host))
    }

    /// How many calls each of `hosts` has had so far, for [`calls_since`](Self::calls_since).
    pub fn call_counts<'h>(&self, hosts: &[&'h str]) -> BTreeMap<&'h str, usize> {
        hosts.iter().map(|h| (*h, self.calls(h).len())).collect()
    }

    /// The calls made on `host` since `calls(host)` had `since` entries.
    pub fn calls_since(&self, host: &str, since: usize) -> Vec<Call> {
        self.calls(host).into_iter().skip(since).collect()
    }

    /// `k0s <args>` on `host`; its output.
    pub fn k0s(&self, host: &str, args: &str) -> String {
        self.bed.host(host).exec_ok(&format!("{K0S} {args}"))
    }

    pub fn status(&self, host: &str) -> Json {
        let text = self.k0s(host, "status -o json");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("status JSON on {host}: {e}\n{text}"))
    }

    /// `k0s etcd member-list` on `host`: member name → peer URL.
    pub fn members(&self, host: &str) -> BTreeMap<String, String> {
        let text = self.k0s(host, "etcd member-list");
        let list: Json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("member list on {host}: {e}\n{text}"));
        list["members"]
            .as_object()
            .unwrap_or_else(|| panic!("no members in {text}"))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect()
    }

    /// Waits until `k0s status` answers on `host` (a controller coming back
    /// after a restart), or fails after `limit`.
    pub fn wait_for_status(&self, host: &str, limit: Duration) -> Json {
        let started = Instant::now();
        loop {
            let out = self
                .bed
                .host(host)
                .exec(&format!("timeout 10 {K0S} status -o json"));
            if out.status.success() {
                return serde_json::from_slice(&out.stdout).expect("status JSON");
            }
            assert!(
                started.elapsed() < limit,
                "k0s on {host} did not come back within {limit:?}: {}\nunit log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.bed
                    .host(host)
                    .exec_ok("tail -20 /var/log/k0s-standin/*.log 2>/dev/null || true")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Nothing of k0s is left on `host`: no binary, config, data or process.
    pub fn assert_clean(&self, host: &str) {
        let h = self.bed.host(host);
        let files = h.exec_ok(&format!(
            "for p in {K0S} /etc/k0s /var/lib/k0s; do [ -e \"$p\" ] && echo \"$p\"; done; true"
        ));
        assert_eq!(files.trim(), "", "k0s files left on {host}:\n{files}");
        // The pattern does not match its own command line.
        let processes = h.exec_ok("pgrep -a -f 'bin/k0[s]' || true");
        assert_eq!(
            processes.trim(),
            "",
            "k0s processes left on {host}:\n{processes}"
        );
    }
}
