//! Part `scale`: real Terraform 1.15 against the test bed with added latency
//! (issue 11, item 4), the k0s stand-in (a test double) as the k0s binary.
//!
//! How each figure is taken:
//! - wall time: spawn to exit of `terraform plan` / `apply`, at Terraform's
//!   default `-parallelism=10`.
//! - SSH round trips per host: the provider's `ran command` debug lines
//!   (`TF_LOG_PROVIDER=DEBUG`), one per command, by host. A connection's own
//!   setup probe is not among them; connections are counted apart.
//! - SSH connections: `Accepted publickey` lines that each host's sshd logged
//!   during the run (the test bed keeps sshd's log), checked against the
//!   provider's `SSH connection established` lines.
//! - RSS: `VmHWM` of the provider processes Terraform starts (its children,
//!   sampled every 5 ms) and, apart, of the `ssh` ControlMaster processes,
//!   recognised by the per-run `TMPDIR` their control sockets live in.
//! - bytes uploaded: the provider's `upload` commands times the binary's size,
//!   and the bytes the machine sent towards each host (its veth counters).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::plugin_process::RSS_GOAL_KIB;
use crate::support::e2e::{controller_and_workers, provider_block, workdir_with_key};
use crate::support::standin::{self, K0S};
use crate::support::terraform::{self, Terraform, Workdir, APPLY, DESTROY, PLAN_CHANGES};
use crate::support::testbed::{self, TestBed};
use crate::{mib, percentile, proc_status_kib, secs, verdict};

/// `set_delay` holds packets towards a host this long, which adds it once to
/// every round trip (the run prints the RTT it measured).
pub(crate) const DELAY_MS: u32 = 20;
const REFRESH_SIZES: [usize; 4] = [0, 1, 10, 50];
const REFRESH_RUNS: usize = 3;
const APPLY_SIZES: [usize; 2] = [1, 8];
const REFRESH_GOAL: Duration = Duration::from_secs(2);
const ROUND_TRIPS_GOAL: usize = 2;
const APPLY_RATIO_GOAL: f64 = 1.3;
const PROVIDER_COMM: &str = "terraform-provi";

/// Runs the refresh and/or the apply figures.
pub fn run(refresh_part: bool, apply_part: bool) {
    println!("== scale: Terraform 1.15 against the test bed ==");
    if !testbed::require_root_or_fail("the scale benchmark drives test-bed hosts") {
        return;
    }
    let Some(tf) = terraform::terraform_1_15() else {
        return;
    };
    let (bench, _scratch) = Bench::new(tf);
    println!("load average before: {}", crate::load_average());
    println!(
        "k0s stand-in: {} ({} bytes)",
        standin::path(),
        standin::bytes().len()
    );
    if refresh_part {
        refresh(&bench);
    }
    if apply_part {
        println!();
        apply(&bench);
    }
    let own = read_process(std::process::id()).map_or(0, |r| r.cpu_ticks);
    println!(
        "load average after: {}; this program's own CPU (mostly the sampling): {:.1} s",
        crate::load_average(),
        own as f64 / clock_ticks_per_sec()
    );
}

pub(crate) struct Bench {
    tf: Terraform,
    scratch: PathBuf,
    runs: std::cell::Cell<usize>,
}

pub(crate) fn worker_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("w{i}")).collect()
}

pub(crate) fn start_bed(workers: usize) -> Option<TestBed> {
    let mut names = vec!["c1".to_string()];
    names.extend(worker_names(workers));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let started = Instant::now();
    match TestBed::new(&names) {
        Ok(bed) => {
            println!(
                "test bed: {} hosts started in {}",
                names.len(),
                secs(started.elapsed())
            );
            Some(bed)
        }
        Err(e) => {
            println!("FAILED to start the test bed: {e}");
            None
        }
    }
}

/// One controller `c1` and one `mke_node` per worker, as `examples/` does it.
pub(crate) fn workdir(bed: &TestBed, workers: &[String]) -> Workdir {
    let workers: Vec<&str> = workers.iter().map(String::as_str).collect();
    let config = controller_and_workers(bed, &provider_block("1m"), "bench", &workers, "");
    workdir_with_key(bed, &config)
}

// ---------------------------------------------------------------- refresh

fn refresh(bench: &Bench) {
    let largest = *REFRESH_SIZES.iter().max().unwrap();
    println!(
        "-- refresh: `terraform plan` of 1 mke_cluster (1 controller) + N mke_node, {DELAY_MS} ms added RTT --"
    );
    let Some(bed) = start_bed(largest) else {
        return;
    };
    let all = worker_names(largest);
    let full = workdir(&bed, &all);
    let setup = bench.terraform(&full, &APPLY);
    if setup.code != 0 {
        println!(
            "FAILED: the setup apply of {largest} workers failed:\n{}",
            setup.tail()
        );
        return;
    }
    println!(
        "setup (not a figure): apply of 1 controller + {largest} workers without added latency took {}",
        secs(setup.wall)
    );
    for host in bed.hosts() {
        host.set_delay(DELAY_MS);
    }
    println!(
        "added latency: set_delay({DELAY_MS}) on every host; RTT to c1 (TCP connect, median of 5): {}",
        crate::ms(tcp_rtt(&bed.host("c1").address))
    );

    let state: Json = serde_json::from_str(&full.read("terraform.tfstate")).expect("state JSON");
    let dirs: Vec<(usize, Workdir)> = REFRESH_SIZES
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

    let results = measure_refresh(bench, &bed, &dirs);
    report_refresh(&bed, &all, &results);

    println!();
    println!(
        "-- the same refresh with the k0s stand-in's Python taken out: the light shell k0s (tests/k0s-standin/k0s-light) answers `k0s version`, `k0s status -o json` and `k0s kubectl get nodes -o json` from the stand-in's running daemons --"
    );
    if !crate::side_by_side::install_light_k0s(&bed) {
        return;
    }
    let results = measure_refresh(bench, &bed, &dirs);
    report_refresh(&bed, &all, &results);

    println!();
    println!(
        "-- and with every sshd offering only curve25519-sha256 key exchange instead of OpenSSH's default sntrup761x25519 (post-quantum) --"
    );
    offer_only_classic_key_exchange(&bed);
    let results = measure_refresh(bench, &bed, &dirs);
    report_refresh(&bed, &all, &results);
}

/// Makes each host's sshd offer only curve25519 key exchange, so that a
/// client's post-quantum key generation (tens of ms of CPU per connection
/// with OpenSSH 9.2) is left out; sshd reloads on SIGHUP and rewrites its
/// pid file once it listens again.
fn offer_only_classic_key_exchange(bed: &TestBed) {
    for host in bed.hosts() {
        host.exec_ok(
            "set -e; echo 'KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org' >> /etc/ssh/sshd_config; \
             f=/run/mke-testbed-sshd.pid; pid=$(cat $f); rm -f $f; kill -HUP $pid; \
             i=0; while [ ! -s $f ]; do i=$((i+1)); [ $i -lt 1000 ] || exit 1; sleep 0.01; done",
        );
    }
}

/// Runs `terraform plan` in each directory, interleaved, so that a burst of
/// load elsewhere on the machine does not land on one size only.
fn measure_refresh(
    bench: &Bench,
    bed: &TestBed,
    dirs: &[(usize, Workdir)],
) -> BTreeMap<usize, Vec<RefreshRun>> {
    let mut results: BTreeMap<usize, Vec<RefreshRun>> = BTreeMap::new();
    for _ in 0..REFRESH_RUNS {
        for (n, work) in dirs {
            let before = bed_counters(bed);
            let run = bench.terraform(work, &PLAN_CHANGES);
            let after = bed_counters(bed);
            if run.code != 0 {
                println!(
                    "NOTE: plan with N={n} exited {} (0 = no changes):\n{}",
                    run.code,
                    run.tail()
                );
            }
            results.entry(*n).or_default().push(RefreshRun {
                accepted: after.accepted_since(&before),
                run,
            });
        }
    }
    results
}

fn report_refresh(bed: &TestBed, all: &[String], results: &BTreeMap<usize, Vec<RefreshRun>>) {
    let largest = *results.keys().max().expect("refresh results");
    let median_run = |n: usize| -> &RefreshRun {
        let mut runs: Vec<&RefreshRun> = results[&n].iter().collect();
        runs.sort_by_key(|r| r.run.wall);
        runs[(runs.len() - 1) / 2]
    };
    let base = median_run(1).run.wall;
    println!(
        "{REFRESH_RUNS} runs of each N, interleaved; the columns after the wall time are from the run with the median wall time"
    );
    println!(
        "{:>4} | {:>21} | {:>6} | {:>15} | {:>10} | {:>13} | {:>11}",
        "N",
        "wall: median (range)",
        "/ N=1",
        "cmds per worker",
        "cmds on c1",
        "probe median",
        "sshd logins"
    );
    for (&n, runs) in results {
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.run.wall).collect();
        walls.sort();
        let chosen = median_run(n);
        let per_worker: Vec<usize> = all[..n]
            .iter()
            .map(|w| chosen.run.commands_on(&host_label(bed, w)))
            .collect();
        let per_worker = match per_worker.iter().max() {
            None => "-".to_string(),
            Some(max) => format!(
                "{:.2} (max {max})",
                per_worker.iter().sum::<usize>() as f64 / per_worker.len() as f64
            ),
        };
        println!(
            "{:>4} | {:>21} | {:>6.2} | {:>15} | {:>10} | {:>13} | {:>11}",
            n,
            format!(
                "{} ({:.2}-{:.2})",
                secs(chosen.run.wall),
                walls[0].as_secs_f64(),
                walls[walls.len() - 1].as_secs_f64()
            ),
            chosen.run.wall.as_secs_f64() / base.as_secs_f64(),
            per_worker,
            chosen.run.commands_on(&host_label(bed, "c1")),
            chosen
                .run
                .probe_median()
                .map(crate::ms)
                .unwrap_or_else(|| "-".into()),
            format!(
                "{} (c1: {})",
                chosen.accepted.values().sum::<usize>(),
                chosen.accepted.get("c1").copied().unwrap_or(0)
            ),
        );
    }
    println!(
        "{:>4} | {:>17} | {:>12} | {:>13} | {:>26} | {:>22}",
        "N",
        "provider peak RSS",
        "provider CPU",
        "terraform CPU",
        "ssh masters: n, RSS, CPU",
        "machine busy (of wall)"
    );
    for &n in results.keys() {
        let run = &median_run(n).run;
        println!(
            "{:>4} | {:>17} | {:>12} | {:>13} | {:>26} | {:>22}",
            n,
            mib(run.provider_peak_kib),
            secs(run.provider_cpu),
            secs(run.terraform_cpu),
            format!(
                "{}, {}, {}",
                run.masters,
                mib(run.masters_kib),
                secs(run.masters_cpu)
            ),
            format!(
                "{:.1} of {:.1} core-s",
                run.cpu_busy,
                run.wall.as_secs_f64() * crate::cpus() as f64
            ),
        );
    }

    let chosen = median_run(largest);
    let wall = chosen.run.wall;
    println!(
        "N={largest} refresh wall time: {}  (goal <= {}: {})",
        secs(wall),
        secs(REFRESH_GOAL),
        verdict(wall <= REFRESH_GOAL)
    );
    let most = chosen
        .run
        .commands
        .iter()
        .map(|(host, cmds)| (cmds.len(), host))
        .max();
    if let Some((count, host)) = most {
        let displays: Vec<&str> = chosen.run.commands[host]
            .iter()
            .map(|c| c.display.as_str())
            .collect();
        println!(
            "N={largest} most commands on one host: {count} on {host}: {displays:?}  (goal <= {ROUND_TRIPS_GOAL} per host: {})",
            verdict(count <= ROUND_TRIPS_GOAL)
        );
    }
    let logins_c1 = chosen.accepted.get("c1").copied().unwrap_or(0);
    let opened: usize = chosen.run.connections.values().sum();
    let max_per_host = chosen.accepted.values().copied().max().unwrap_or(0);
    println!(
        "N={largest} SSH connections: the controller's sshd logged {logins_c1} login(s); the {} hosts {} in all, at most {max_per_host} per host; the provider logged {opened} connection(s) opened  (goal 1 per host: {})",
        largest + 1,
        chosen.accepted.values().sum::<usize>(),
        verdict(max_per_host <= 1 && logins_c1 == 1)
    );
    let peak = results[&largest]
        .iter()
        .map(|r| r.run.provider_peak_kib)
        .max()
        .unwrap_or(0);
    println!(
        "N={largest} provider peak RSS (largest of {REFRESH_RUNS} runs; {} provider processes per run): {}  (goal <= {}: {}); apart, {} ssh masters: {} in all",
        chosen.run.provider_processes,
        mib(peak),
        mib(RSS_GOAL_KIB),
        verdict(peak <= RSS_GOAL_KIB),
        chosen.run.masters,
        mib(chosen.run.masters_kib),
    );
    let left: usize = results.values().flatten().map(|r| r.run.masters_left).sum();
    if left > 0 {
        println!("NOTE: {left} ssh master(s) were still running after Terraform exited (stopped by the benchmark)");
    }
}

struct RefreshRun {
    run: Run,
    /// `Accepted publickey` lines per host during the run.
    accepted: BTreeMap<String, usize>,
}

/// The state with only the named `mke_node` instances.
pub(crate) fn state_with_nodes(state: &Json, keep: &BTreeSet<&str>) -> Json {
    let mut state = state.clone();
    for resource in state["resources"].as_array_mut().expect("resources") {
        if resource["type"] == "mke_node" {
            resource["instances"]
                .as_array_mut()
                .expect("instances")
                .retain(|i| i["index_key"].as_str().is_some_and(|k| keep.contains(k)));
        }
    }
    state
}

/// The time of a TCP handshake with the host's sshd: one round trip.
pub(crate) fn tcp_rtt(address: &str) -> Duration {
    let target: std::net::SocketAddr = format!("{address}:22").parse().expect("an address");
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5))
                .expect("a TCP connection to sshd");
            let elapsed = started.elapsed();
            drop(stream);
            elapsed
        })
        .collect();
    times.sort();
    percentile(&times, 50)
}

// ---------------------------------------------------------------- apply

fn apply(bench: &Bench) {
    println!("-- apply: 1 controller + N workers from scratch, {DELAY_MS} ms added RTT --");
    let mut walls = BTreeMap::new();
    let binary_len = standin::bytes().len() as u64;
    for n in APPLY_SIZES {
        let Some(bed) = start_bed(n) else {
            return;
        };
        for host in bed.hosts() {
            host.set_delay(DELAY_MS);
        }
        let work = workdir(&bed, &worker_names(n));
        let before = bed_counters(&bed);
        let run = bench.terraform(&work, &APPLY);
        let sent = bed_counters(&bed).sent_since(&before);
        if run.code != 0 {
            println!("FAILED: apply of N={n}:\n{}", run.tail());
            return;
        }
        println!(
            "N={n}: apply {}; uploads of k0s: {} ({} bytes); sent towards the hosts: {}",
            secs(run.wall),
            run.uploads(),
            run.uploads() as u64 * binary_len,
            kib_text(sent),
        );
        println!("      {}", run.resources());
        walls.insert(n, run.wall);

        if n == *APPLY_SIZES.iter().max().unwrap() {
            second_apply(bench, &bed, &work, binary_len);
        }
    }
    let (small, large) = (APPLY_SIZES[0], APPLY_SIZES[1]);
    let ratio = walls[&large].as_secs_f64() / walls[&small].as_secs_f64();
    println!(
        "apply N={large} / N={small}: {ratio:.2}  (goal <= {APPLY_RATIO_GOAL}: {})",
        verdict(ratio <= APPLY_RATIO_GOAL)
    );
}

/// Destroy (which removes k0s from every host), put the same binary back on
/// every host the way a prepared machine image has it, and apply again: the
/// provider must find the binary and send none of it.
fn second_apply(bench: &Bench, bed: &TestBed, work: &Workdir, binary_len: u64) {
    let destroy = bench.terraform(work, &DESTROY);
    if destroy.code != 0 {
        println!("FAILED: destroy:\n{}", destroy.tail());
        return;
    }
    let binary = standin::bytes();
    for host in bed.hosts() {
        host.put_file(K0S, &binary, 0o755);
    }
    let before = bed_counters(bed);
    let run = bench.terraform(work, &APPLY);
    let sent = bed_counters(bed).sent_since(&before);
    if run.code != 0 {
        println!(
            "FAILED: the apply onto hosts with the binary:\n{}",
            run.tail()
        );
        return;
    }
    println!(
        "N={}, again after destroy, with k0s already on every host: apply {}; uploads of k0s: {} ({} bytes); sent towards the hosts: {}",
        bed.hosts().len() - 1,
        secs(run.wall),
        run.uploads(),
        run.uploads() as u64 * binary_len,
        kib_text(sent),
    );
    println!("      {}", run.resources());
}

pub(crate) fn kib_text(bytes: u64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

// ---------------------------------------------------------------- runs

/// What one Terraform command did.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) wall: Duration,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// Commands by host (`user@address:port`), in order.
    pub(crate) commands: BTreeMap<String, Vec<RanCommand>>,
    /// `SSH connection established` lines by host.
    pub(crate) connections: BTreeMap<String, usize>,
    pub(crate) provider_peak_kib: u64,
    pub(crate) provider_processes: usize,
    /// CPU time of every provider process of the run, in seconds.
    pub(crate) provider_cpu: Duration,
    pub(crate) terraform_cpu: Duration,
    /// ssh ControlMasters (one per connection), their peak RSS summed, their CPU time.
    pub(crate) masters: usize,
    pub(crate) masters_kib: u64,
    pub(crate) masters_cpu: Duration,
    pub(crate) masters_left: usize,
    /// Masters alive in the run's control directory after it ended.
    pub(crate) masters_persisting: usize,
    /// Busy time of the whole machine during the run, in core-seconds.
    pub(crate) cpu_busy: f64,
    /// The provider's lines of Terraform's log.
    pub(crate) provider_log: String,
}

/// One `ran command` line: what ran and how long it took.
#[derive(Debug)]
pub(crate) struct RanCommand {
    pub(crate) display: String,
    pub(crate) elapsed: Duration,
    /// When it ended: milliseconds since midnight UTC, from the log line.
    pub(crate) end_ms: Option<u64>,
}

impl Run {
    pub(crate) fn tail(&self) -> String {
        let all = format!("{}\n{}", self.stdout, self.stderr);
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn uploads(&self) -> usize {
        self.commands
            .values()
            .flatten()
            .filter(|c| c.display.starts_with("upload ") && c.display.ends_with(K0S))
            .count()
    }

    /// Commands run, their median time, and what the run cost the machine.
    pub(crate) fn resources(&self) -> String {
        let mut times: Vec<Duration> = self
            .commands
            .values()
            .flatten()
            .map(|c| c.elapsed)
            .collect();
        times.sort();
        let median = if times.is_empty() {
            "-".to_string()
        } else {
            crate::ms(percentile(&times, 50))
        };
        format!(
            "{} commands (median {median}); provider peak RSS {}, CPU {}; Terraform CPU {}; {} ssh masters, {}, CPU {}; machine busy {:.1} of {:.1} core-s",
            times.len(),
            mib(self.provider_peak_kib),
            secs(self.provider_cpu),
            secs(self.terraform_cpu),
            self.masters,
            mib(self.masters_kib),
            secs(self.masters_cpu),
            self.cpu_busy,
            self.wall.as_secs_f64() * crate::cpus() as f64,
        )
    }

    pub(crate) fn commands_on(&self, host: &str) -> usize {
        self.commands.get(host).map_or(0, Vec::len)
    }

    /// The median time of the host probes (`inspect k0s on the host`).
    fn probe_median(&self) -> Option<Duration> {
        let mut times: Vec<Duration> = self
            .commands
            .values()
            .flatten()
            .filter(|c| c.display == "inspect k0s on the host")
            .map(|c| c.elapsed)
            .collect();
        times.sort();
        (!times.is_empty()).then(|| percentile(&times, 50))
    }
}

impl Bench {
    /// Runs keep their logs under a scratch directory, removed when the
    /// returned guard drops unless MKE_BENCH_KEEP is set.
    pub(crate) fn new(tf: Terraform) -> (Bench, Option<tempfile::TempDir>) {
        let scratch = tempfile::Builder::new()
            .prefix("mke-bench-")
            .tempdir()
            .expect("a scratch directory");
        let bench = Bench {
            tf,
            scratch: scratch.path().to_path_buf(),
            runs: std::cell::Cell::new(0),
        };
        // Terraform's logs of every run, for a closer look.
        if std::env::var_os("MKE_BENCH_KEEP").is_some() {
            println!("keeping every run's logs in {}", scratch.keep().display());
            return (bench, None);
        }
        (bench, Some(scratch))
    }

    pub(crate) fn terraform_program(&self) -> &std::path::Path {
        &self.tf.program
    }

    /// A new directory under the scratch directory, 0700, with a short path
    /// (control sockets live under it).
    pub(crate) fn fresh_dir(&self, prefix: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let index = self.runs.get() + 1;
        self.runs.set(index);
        let dir = self.scratch.join(format!("{prefix}{index}"));
        std::fs::create_dir_all(&dir).expect("a scratch subdirectory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
        dir
    }

    /// Runs Terraform in `work` with provider debug logs, sampling the
    /// provider's and the ssh masters' memory while it runs.
    pub(crate) fn terraform(&self, work: &Workdir, args: &[&str]) -> Run {
        self.terraform_in(work, args, None)
    }

    /// [`terraform`](Self::terraform) with `XDG_RUNTIME_DIR` set to
    /// `control`, where the provider keeps ssh masters that outlive it:
    /// those are sampled as the run's own and left alive at its end
    /// ([`close_masters`] ends them).
    pub(crate) fn terraform_in(
        &self,
        work: &Workdir,
        args: &[&str],
        control: Option<&std::path::Path>,
    ) -> Run {
        let index = self.runs.get() + 1;
        self.runs.set(index);
        let dir = self.scratch.join(format!("run{index}"));
        let tmp = dir.join("t");
        std::fs::create_dir_all(&tmp).expect("a run directory");
        let log = dir.join("terraform.log");
        let mut cmd = Command::new(&self.tf.program);
        cmd.args(args)
            .current_dir(work.path())
            .env_remove("TF_LOG")
            .envs(work.env.iter().map(|(k, v)| (k, v)))
            .env("TF_LOG_PROVIDER", "DEBUG")
            .env("TF_LOG_PATH", &log)
            // The provider's ssh masters keep their control sockets here,
            // which is how the sampler tells them from anyone else's.
            .env("TMPDIR", &tmp)
            .env("XDG_RUNTIME_DIR", control.unwrap_or(&tmp))
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout")).expect("stdout file"))
            .stderr(File::create(dir.join("stderr")).expect("stderr file"));
        let cpu_before = cpu_busy_ticks();
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.tf.program.display()));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = stop.clone();
            let markers = masters_markers(&tmp, control);
            let pid = child.id();
            std::thread::spawn(move || sample(pid, &markers, &stop))
        };
        let status = child.wait().expect("waiting for Terraform");
        let wall = started.elapsed();
        let cpu_busy = (cpu_busy_ticks() - cpu_before) as f64 / clock_ticks_per_sec();
        stop.store(true, Ordering::SeqCst);
        let samples = sampler.join().expect("the sampler");

        // Masters of this process alone end with it; any left are ended here.
        let left = ssh_masters(&masters_markers(&tmp, None));
        for (pid, _) in &left {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let persisting = control.map_or(0, |c| ssh_masters(&masters_markers(c, None)).len());
        let ticks = clock_ticks_per_sec();
        let cpu = |t: u64| Duration::from_secs_f64(t as f64 / ticks);
        let mut connections_seen: BTreeMap<&str, Reading> = BTreeMap::new();
        for (socket, reading) in samples.masters.values() {
            let seen = connections_seen.entry(socket).or_default();
            seen.peak_kib = seen.peak_kib.max(reading.peak_kib);
            seen.cpu_ticks += reading.cpu_ticks;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let (commands, connections) = parse_provider_log(&text);
        let provider_log: String = text
            .lines()
            .filter(|l| l.contains("provider.terraform-provider-mke: "))
            .map(|l| format!("{l}\n"))
            .collect();
        Run {
            code: status.code().unwrap_or(-1),
            wall,
            stdout: std::fs::read_to_string(dir.join("stdout")).unwrap_or_default(),
            stderr: std::fs::read_to_string(dir.join("stderr")).unwrap_or_default(),
            commands,
            connections,
            provider_peak_kib: samples
                .providers
                .values()
                .map(|r| r.peak_kib)
                .max()
                .unwrap_or(0),
            provider_processes: samples.providers.len(),
            provider_cpu: cpu(samples.providers.values().map(|r| r.cpu_ticks).sum()),
            terraform_cpu: cpu(samples.terraform.cpu_ticks),
            masters: connections_seen.len(),
            masters_kib: connections_seen.values().map(|r| r.peak_kib).sum(),
            masters_cpu: cpu(connections_seen.values().map(|r| r.cpu_ticks).sum()),
            masters_left: left.len(),
            masters_persisting: persisting,
            provider_log,
            cpu_busy,
        }
    }
}

#[derive(Default)]
struct Samples {
    /// Provider pid → its last reading.
    providers: BTreeMap<u32, Reading>,
    terraform: Reading,
    /// ssh master pid → (control socket, its last reading). `ssh -f` forks
    /// once logged in, so one connection shows as two pids in turn.
    masters: BTreeMap<u32, (String, Reading)>,
}

/// Peak RSS and CPU time of a process, as last read.
#[derive(Default, Clone, Copy)]
struct Reading {
    peak_kib: u64,
    cpu_ticks: u64,
}

fn read_process(pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Reading {
        peak_kib: proc_status_kib(pid, "VmHWM")?,
        cpu_ticks: ticks(14)? + ticks(15)?,
    })
}

/// Polls until `stop`: Terraform and the provider processes among its
/// children every 5 ms (VmHWM and CPU time only grow, so the last reading
/// before exit is within 5 ms of the final figure), the ssh masters every
/// 100 ms (they reach their peak at login).
fn sample(terraform: u32, markers: &[String], stop: &AtomicBool) -> Samples {
    let mut samples = Samples::default();
    let mut next_ssh_scan = Instant::now();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if let Some(reading) = read_process(terraform) {
            samples.terraform = reading;
        }
        for pid in children(terraform) {
            if comm(pid).is_some_and(|c| c == PROVIDER_COMM) {
                if let Some(reading) = read_process(pid) {
                    samples.providers.insert(pid, reading);
                }
            }
        }
        if stopping || Instant::now() >= next_ssh_scan {
            for (pid, socket) in ssh_masters(markers) {
                if let Some(reading) = read_process(pid) {
                    samples.masters.insert(pid, (socket, reading));
                }
            }
            next_ssh_scan = Instant::now() + Duration::from_millis(100);
        }
        if stopping {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_string())
}

/// `ssh -M` processes whose control socket (`-S`) lies under one of
/// `markers` (a run's TMPDIR, or the control directory its masters persist
/// in), with that socket.
fn ssh_masters(markers: &[String]) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| comm(pid).is_some_and(|c| c == "ssh"))
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.iter().any(|a| a == "-M") {
                return None;
            }
            let socket = args.iter().skip_while(|a| *a != "-S").nth(1)?;
            markers
                .iter()
                .any(|m| socket.contains(m.as_str()))
                .then(|| (pid, socket.clone()))
        })
        .collect()
}

fn masters_markers(tmp: &std::path::Path, control: Option<&std::path::Path>) -> Vec<String> {
    let mut markers = vec![format!("{}/", tmp.display())];
    markers.extend(control.map(|c| format!("{}/", c.display())));
    markers
}

/// Ends the ssh masters that persist in `control` (by their pids); how many.
pub(crate) fn close_masters(control: &std::path::Path) -> usize {
    let masters = ssh_masters(&[format!("{}/", control.display())]);
    for (pid, _) in &masters {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    masters.len()
}

/// user+nice+system+irq+softirq+steal of the whole machine, in clock ticks.
fn cpu_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum()
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The provider's `ran command` and `SSH connection established` lines, by
/// host, from Terraform's log file.
pub(crate) fn parse_provider_log(
    text: &str,
) -> (BTreeMap<String, Vec<RanCommand>>, BTreeMap<String, usize>) {
    let mut commands: BTreeMap<String, Vec<RanCommand>> = BTreeMap::new();
    let mut connections: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let Some((_, message)) = line.split_once("provider.terraform-provider-mke: ") else {
            continue;
        };
        let Some(host) = log_field(message, "host") else {
            continue;
        };
        if message.starts_with("ran command:") {
            commands.entry(host).or_default().push(RanCommand {
                display: log_field(message, "command").unwrap_or_default(),
                end_ms: line_time_ms(line),
                elapsed: Duration::from_millis(
                    log_field(message, "elapsed_ms")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                ),
            });
        } else if message.contains("SSH connection established")
            || message.contains("SSH connection re-established")
        {
            *connections.entry(host).or_default() += 1;
        }
    }
    (commands, connections)
}

/// The time of a Terraform log line (`2026-12-06T11:20:00.123Z [INFO] ...`,
/// or with a zone offset) as milliseconds since midnight.
pub(crate) fn line_time_ms(line: &str) -> Option<u64> {
    let clock = line.get(11..23)?;
    let (h, rest) = clock.split_once(':')?;
    let (m, rest) = rest.split_once(':')?;
    let (sec, milli) = rest.split_once('.')?;
    let n = |t: &str| t.parse::<u64>().ok();
    Some(((n(h)? * 60 + n(m)?) * 60 + n(sec)?) * 1000 + n(milli)?)
}

/// The value of ` name=value` or ` name="quoted value"` in an hclog line.
pub(crate) fn log_field(message: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=");
    let start = message.find(&key)? + key.len();
    let rest = &message[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => return Some(value),
                other => value.push(other),
            }
        }
        None
    } else {
        Some(rest.split_whitespace().next().unwrap_or("").to_string())
    }
}

/// How the provider names a host in its logs.
pub(crate) fn host_label(bed: &TestBed, name: &str) -> String {
    format!("root@{}:22", bed.host(name).address)
}

// ---------------------------------------------------------------- the bed's counters

/// Per host: sshd's `Accepted publickey` lines so far, and the bytes the
/// machine has sent towards the host.
pub(crate) struct BedCounters {
    accepted: BTreeMap<String, usize>,
    sent: BTreeMap<String, u64>,
}

impl BedCounters {
    pub(crate) fn accepted_since(&self, before: &BedCounters) -> BTreeMap<String, usize> {
        self.accepted
            .iter()
            .map(|(h, n)| (h.clone(), n - before.accepted.get(h).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub(crate) fn sent_since(&self, before: &BedCounters) -> u64 {
        self.sent
            .iter()
            .map(|(h, n)| n - before.sent.get(h).copied().unwrap_or(0))
            .sum()
    }
}

pub(crate) fn bed_counters(bed: &TestBed) -> BedCounters {
    let mut counters = BedCounters {
        accepted: BTreeMap::new(),
        sent: BTreeMap::new(),
    };
    for host in bed.hosts() {
        let log = bed
            .state_dir()
            .join("hosts")
            .join(&host.name)
            .join("console.log");
        let accepted = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("Accepted publickey"))
            .count();
        counters.accepted.insert(host.name.clone(), accepted);
        // The host's veth peer in the machine's namespace is mtb<slot>h<index>,
        // and its address ends in 10 + index (tests/testbed/README.md).
        let index: u32 = host
            .address
            .rsplit('.')
            .next()
            .and_then(|o| o.parse().ok())
            .map(|octet: u32| octet - 10)
            .expect("a test-bed address");
        let sent = std::fs::read_to_string(format!(
            "/sys/class/net/mtb{}h{index}/statistics/tx_bytes",
            bed.slot()
        ))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
        counters.sent.insert(host.name.clone(), sent);
    }
    counters
}
