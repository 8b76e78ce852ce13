//! `terraform query` end to end (Terraform 1.15): the workers of a 1 + 3
//! cluster listed, config generated for them, and that config applied in a
//! fresh working directory.

mod support;

use support::e2e::{controller_and_workers, provider_block, scenario, Scenario};
use support::standin::changing_calls;
use support::terraform::{Output, Workdir, APPLY, PLAN_CHANGES};

const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
const HOSTS: [&str; 4] = ["c1", "w1", "w2", "w3"];

impl Scenario {
    /// A working directory with only the provider block and `query` as a
    /// `.tfquery.hcl` file listing the workers through controller `c1`,
    /// with its pinned key.
    fn query_dir(&self, list_extra: &str) -> Workdir {
        let c1 = &self.cluster_attrs()["controllers"]["c1"];
        let query = format!(
            r#"list "mke_node" "workers" {{
  provider = mke
{list_extra}
  config {{
    controllers = {{
      c1 = {{
        address  = "{address}"
        host_key = "{host_key}"
      }}
    }}
  }}
}}
"#,
            address = c1["address"].as_str().unwrap(),
            host_key = c1["host_key"].as_str().unwrap(),
        );
        let work = self.workdir(&provider_block("30s"));
        work.write("workers.tfquery.hcl", &query);
        work
    }

    fn query(&self, work: &Workdir, extra: &[&str]) -> Output {
        let mut args = vec!["query", "-no-color"];
        args.extend_from_slice(extra);
        let out = work.run(&self.tf, &args);
        assert_eq!(out.code, 0, "terraform query failed:\n{}", out.combined());
        out
    }
}

/// The worker names a query printed, in order.
fn listed(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("list.mke_node.workers"))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn generated_config_imports_the_workers_with_no_change_and_touches_no_host() {
    let Some(s) = scenario(&HOSTS) else {
        return;
    };
    s.apply(&controller_and_workers(
        &s.bed,
        &provider_block("30s"),
        "query",
        &WORKERS,
        "  labels = { tier = \"web\" }",
    ));
    let before = s.call_counts(&HOSTS);

    let work = s.query_dir("");
    let out = s.query(&work, &["-generate-config-out=generated.tf"]);
    assert_eq!(listed(&out), WORKERS, "{}", out.stdout);
    for w in WORKERS {
        assert!(
            out.stdout.contains(&format!("address={}", s.address(w))),
            "{w} is identified by its address:\n{}",
            out.stdout
        );
    }
    let generated = work.read("generated.tf");
    assert_eq!(
        generated.matches("resource \"mke_node\"").count(),
        3,
        "{generated}"
    );
    assert_eq!(generated.matches("import {").count(), 3, "{generated}");

    let out = work.run(&s.tf, &APPLY);
    assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());
    // `controllers` is required, and an import by address cannot learn it:
    // the generated config carries the listing's, and the apply records them
    // (an update in place that touches no host). Nothing else changes.
    assert!(
        out.stdout
            .contains("Resources: 3 imported, 0 added, 3 changed, 0 destroyed."),
        "the generated config imports the workers:\n{}\n{generated}",
        out.stdout
    );
    let changed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| {
            let attribute = l.strip_prefix("      ").unwrap_or_default();
            ["+ ", "~ ", "- "].iter().any(|p| attribute.starts_with(p))
        })
        .map(str::trim)
        .collect();
    assert_eq!(
        changed, ["+ controllers             = {"; 3],
        "only controllers are recorded:\n{}",
        out.stdout
    );
    let plan = work.run(&s.tf, &PLAN_CHANGES);
    assert_eq!(
        plan.code,
        0,
        "the plan after is empty:\n{}",
        plan.combined()
    );
    for h in HOSTS {
        let changing = changing_calls(s.calls_since(h, before[h]));
        assert!(
            changing.is_empty(),
            "query and import must not change {h}: {changing:#?}"
        );
    }

    // A limit ends the listing there.
    let limited = s.query_dir("  limit = 2");
    let out = s.query(&limited, &[]);
    assert_eq!(listed(&out), ["w1", "w2"], "{}", out.stdout);
}
