//! The performance figures of docs/performance.md, printed, not asserted.
//!
//! `cargo bench --bench performance` builds the release binary (the bench
//! profile inherits `release`) and measures it in two parts:
//!
//! - `plugin`: the plugin process as Terraform starts it: exec to handshake
//!   line with AutoMTLS, GetProviderSchema over a real mTLS connection, peak RSS.
//! - `scale`: real Terraform against the test bed (root only) at 20 ms RTT:
//!   refresh of 0, 1, 10 and 50 `mke_node` (three variants), apply of 1 controller + 1 or 8
//!   workers, and an apply whose hosts already hold the k0s binary.
//! - `goals`: the provider side by side with Terraform's own floor (a plan
//!   of `null_resource`), cold and warm plans, the connections of an
//!   `apply` after a `plan`, and the 1 + 8 join's critical path (issue 17).
//!
//! `cargo bench --bench performance -- plugin` (or `scale`, or its halves
//! `refresh` and `apply`, or `goals`) runs one part. `MKE_BENCH_KEEP=1` keeps Terraform's
//! logs of every run.
//! A missed goal is reported, not failed: wall-clock times on a shared
//! machine are figures to read, not a pass/fail signal.

// The tests' support code: the plugin client, Terraform runs, the test bed
// and the configurations the e2e tests apply.
#[path = "../../tests/support/mod.rs"]
mod support;

mod plugin_process;
mod scale;
mod side_by_side;

use std::time::Duration;

fn main() {
    // `cargo bench` passes `--bench`; what remains names the parts to run.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    const PARTS: [&str; 5] = ["plugin", "scale", "refresh", "apply", "goals"];
    if let Some(unknown) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
        eprintln!("unknown part {unknown:?}; the parts are {PARTS:?}");
        std::process::exit(2);
    }

    println!("terraform-provider-mke performance");
    println!(
        "binary: {}",
        support::terraform::provider_binary().display()
    );
    println!("machine: {} CPUs, load average {}", cpus(), load_average());
    if wanted("plugin") {
        println!();
        plugin_process::run();
    }
    let (refresh, apply) = (wanted("refresh"), wanted("apply"));
    if wanted("scale") || refresh || apply {
        println!();
        scale::run(wanted("scale") || refresh, wanted("scale") || apply);
    }
    if wanted("goals") {
        println!();
        side_by_side::run();
    }
}

/// A `kB` line of /proc/<pid>/status, e.g. VmRSS or VmHWM (peak RSS);
/// `None` once the process is gone.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}
