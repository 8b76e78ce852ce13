//! Part `plugin`: the plugin process as Terraform starts it (issue 7, item 9).

use std::time::{Duration, Instant};

use tfplugin::proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin::proto::plugin::Empty;
use tfplugin::proto::tfplugin6 as pb;

use crate::support::plugin;
use crate::{ms, percentile, proc_status_kib, verdict};

const HANDSHAKE_RUNS: usize = 50;
const SCHEMA_CALLS: usize = 50;
const HANDSHAKE_GOAL: Duration = Duration::from_millis(5);
pub const RSS_GOAL_KIB: u64 = 30 * 1024;

pub fn run() {
    println!("== the plugin process ==");
    let socket_parent = tempfile::Builder::new()
        .prefix("mke-bench")
        .tempdir()
        .expect("a temporary directory for the plugin sockets");
    // Every plugin below inherits this, so the socket directories a killed
    // plugin leaves behind go away with `socket_parent`. Set while this
    // program has no other thread; removed before Terraform runs.
    std::env::set_var("PLUGIN_UNIX_SOCKET_DIR", socket_parent.path());

    let handshakes = measure_handshakes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rpc = runtime.block_on(measure_schema_calls());
    drop(runtime);
    std::env::remove_var("PLUGIN_UNIX_SOCKET_DIR");

    let median = percentile(&handshakes, 50);
    println!(
        "exec to handshake line, AutoMTLS, {HANDSHAKE_RUNS} runs: median {}, p90 {}, min {}, max {}  (goal: median <= {}: {})",
        ms(median),
        ms(percentile(&handshakes, 90)),
        ms(handshakes[0]),
        ms(handshakes[handshakes.len() - 1]),
        ms(HANDSHAKE_GOAL),
        verdict(median <= HANDSHAKE_GOAL),
    );
    println!(
        "mTLS connect (TLS handshake + HTTP/2 setup): {}",
        ms(rpc.connect)
    );
    println!(
        "GetProviderSchema over mTLS: first call {}, then {SCHEMA_CALLS} calls: median {}, p90 {}",
        ms(rpc.first_call),
        ms(percentile(&rpc.calls, 50)),
        ms(percentile(&rpc.calls, 90)),
    );
    println!(
        "provider RSS: {} KiB right after the handshake; after the calls {} KiB, peak (VmHWM) {} KiB = {:.1} MiB  (goal: peak <= {} MiB: {})",
        rpc.rss_after_handshake_kib,
        rpc.rss_after_calls_kib,
        rpc.peak_rss_kib,
        rpc.peak_rss_kib as f64 / 1024.0,
        RSS_GOAL_KIB / 1024,
        verdict(rpc.peak_rss_kib <= RSS_GOAL_KIB),
    );
    println!(
        "Shutdown to exit: {}",
        rpc.shutdown_to_exit
            .map(ms)
            .unwrap_or_else(|| "did not exit within 5 s".to_string())
    );
}

/// Times exec to handshake line, each run with its own fresh client
/// certificate (made before the clock starts, as Terraform makes it before
/// it execs the plugin). Returns the times sorted.
fn measure_handshakes() -> Vec<Duration> {
    // One unmeasured run so the binary's pages are in the page cache, as
    // they are for every provider start after `terraform init`.
    drop(plugin::start(Some(&plugin::client_cert())));
    let mut times: Vec<Duration> = (0..HANDSHAKE_RUNS)
        .map(|_| {
            let client = plugin::client_cert();
            let started = plugin::start(Some(&client));
            let elapsed = started.handshake.elapsed;
            assert!(
                started.handshake.server_cert.is_some(),
                "the handshake line carries no server certificate: {}",
                started.handshake.line
            );
            elapsed
        })
        .collect();
    times.sort();
    times
}

struct RpcFigures {
    connect: Duration,
    first_call: Duration,
    calls: Vec<Duration>,
    rss_after_handshake_kib: u64,
    rss_after_calls_kib: u64,
    peak_rss_kib: u64,
    shutdown_to_exit: Option<Duration>,
}

async fn measure_schema_calls() -> RpcFigures {
    let client = plugin::client_cert();
    let mut started = plugin::start(Some(&client));
    let pid = started.child.id();
    let rss_after_handshake_kib = proc_status_kib(pid, "VmRSS").expect("the plugin is running");

    let connecting = Instant::now();
    let channel = plugin::connect(&started.handshake, Some(&client))
        .await
        .expect("an mTLS connection to the plugin");
    let mut provider = plugin::provider_client(channel.clone());
    // `connect_with_connector` connects before it returns, so this is the
    // TLS handshake and HTTP/2 setup, kept out of the first call's time.
    let connect = connecting.elapsed();

    let call = || pb::get_provider_schema::Request {};
    let first = Instant::now();
    let response = provider
        .get_provider_schema(call())
        .await
        .expect("GetProviderSchema")
        .into_inner();
    let first_call = first.elapsed();
    assert!(
        response.diagnostics.is_empty() && !response.resource_schemas.is_empty(),
        "GetProviderSchema answered without schemas: {:?}",
        response.diagnostics
    );

    let mut calls = Vec::with_capacity(SCHEMA_CALLS);
    for _ in 0..SCHEMA_CALLS {
        let t = Instant::now();
        provider
            .get_provider_schema(call())
            .await
            .expect("GetProviderSchema");
        calls.push(t.elapsed());
    }
    calls.sort();

    let rss_after_calls_kib = proc_status_kib(pid, "VmRSS").expect("the plugin is running");
    let peak_rss_kib = proc_status_kib(pid, "VmHWM").expect("the plugin is running");

    // As go-plugin does on Kill: Shutdown, then close the connection, then
    // wait for the process to exit.
    let stopping = Instant::now();
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .expect("Shutdown");
    drop(provider);
    let shutdown_to_exit = wait_for_exit(&mut started.child, Duration::from_secs(5))
        .await
        .then(|| stopping.elapsed());

    RpcFigures {
        connect,
        first_call,
        calls,
        rss_after_handshake_kib,
        rss_after_calls_kib,
        peak_rss_kib,
        shutdown_to_exit,
    }
}

/// Polls instead of blocking so this runtime keeps driving the client side
/// of the connection (the HTTP/2 goodbye) while the plugin shuts down.
async fn wait_for_exit(child: &mut std::process::Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}
