//! k0s downloads end to end, on the test bed (no internet): a `file://`
//! template pointing at the k0s stand-in placed on the host, and a plain-HTTP
//! mirror with credentials served by this test on the bed's bridge. Checks
//! `k0s_sha256` on the host and against a local binary, the refusal of plain
//! HTTP without the opt-in, and that the URL's credentials reach no command
//! line, log, message or other attribute in state.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use support::e2e::{provider_block, scenario, squash, standin, Scenario};
use support::standin::{self as k0s_standin, K0S, VERSION};
use support::terraform::{APPLY, PLAN_CHANGES};
use support::testbed::TestHost;

/// The patch release the upgrade goes to; a stand-in variant reports it.
const NEXT: &str = "v1.29.4+k0s.0";

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The k0s release architecture of `host`, as the provider names it.
fn arch(host: &TestHost) -> &'static str {
    match host.exec_ok("uname -m").trim() {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("the test bed runs on {other}, which k0s has no release for"),
    }
}

fn installed_sha256(host: &TestHost) -> String {
    host.exec_ok(&format!("sha256sum {K0S} | cut -d' ' -f1"))
        .trim()
        .to_string()
}

/// Files `k0s.*` the download left next to the binary.
fn leftovers(host: &TestHost) -> String {
    host.exec_ok(&format!("ls -a {K0S}.* 2>/dev/null || true"))
}

fn cluster_config(s: &Scenario, attributes: &str) -> String {
    format!(
        "{provider}\nresource \"mke_cluster\" \"main\" {{\n  name = \"e2e\"\n{attributes}\n  \
         controllers = {{ c1 = {{ address = \"{c1}\" }} }}\n}}\n",
        provider = provider_block("30s"),
        c1 = s.address("c1"),
    )
}

#[test]
fn a_download_is_checked_by_sha256_and_a_wrong_checksum_keeps_the_installed_binary() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    let c1 = s.bed.host("c1");
    let arch = arch(c1);
    let current = k0s_standin::bytes();
    let next = k0s_standin::variant(Some(NEXT), false);
    let next_bytes = std::fs::read(next.path()).unwrap();
    c1.exec_ok("mkdir -p /opt/mirror");
    c1.put_file(
        &format!("/opt/mirror/k0s-{VERSION}-{arch}"),
        &current,
        0o644,
    );
    c1.put_file(
        &format!("/opt/mirror/k0s-{NEXT}-{arch}"),
        &next_bytes,
        0o644,
    );
    let config = |version: &str, sum: &str| {
        cluster_config(
            &s,
            &format!(
                "  k0s_version = \"{version}\"\n  \
                 k0s_download_url = \"file:///opt/mirror/k0s-{{version}}-{{arch}}\"\n  \
                 k0s_sha256 = \"{sum}\""
            ),
        )
    };

    s.apply(&config(VERSION, &sha256(&current)));
    assert_eq!(installed_sha256(c1), sha256(&current));
    s.assert_plan_empty("after a checked download");

    // The checksum of the old release with the new version: the download
    // does not match.
    let out = s.try_apply(&config(NEXT, &sha256(&current)));
    assert_ne!(
        out.code,
        0,
        "a wrong checksum must fail:\n{}",
        out.combined()
    );
    let text = squash(&out.combined());
    let expected = format!(
        "root@{}:22: the k0s binary downloaded from file:///opt/mirror/k0s-{NEXT}-{arch} has sha256 {}, \
         but k0s_sha256 is {}; it was discarded and {K0S} was left as it was",
        s.address("c1"),
        sha256(&next_bytes),
        sha256(&current),
    );
    assert!(
        text.contains(&expected),
        "expected {expected:?} in:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "Set `k0s_sha256` to the checksum of k0s {NEXT} for {arch}"
        )),
        "{text}"
    );
    assert_eq!(
        installed_sha256(c1),
        sha256(&current),
        "the installed binary must stay"
    );
    assert_eq!(s.status("c1")["Version"], VERSION, "k0s keeps running");
    assert_eq!(leftovers(c1), "", "the discarded download must be gone");

    s.apply(&config(NEXT, &sha256(&next_bytes)));
    assert_eq!(installed_sha256(c1), sha256(&next_bytes));
    assert_eq!(s.k0s("c1", "version").trim(), NEXT);
}

#[test]
fn a_local_binary_with_another_checksum_is_refused_before_any_upload() {
    let Some(s) = scenario(&["c1"]) else {
        return;
    };
    let wrong = "0".repeat(64);
    let out = s.try_apply(&cluster_config(
        &s,
        &format!(
            "  k0s_binary_path = \"{}\"\n  k0s_sha256 = \"{wrong}\"",
            standin()
        ),
    ));
    assert_ne!(out.code, 0, "apply must fail:\n{}", out.combined());
    let text = squash(&out.combined());
    let expected = format!(
        "the local k0s binary {} has sha256 {}, but k0s_sha256 is {wrong}; nothing was uploaded",
        standin(),
        sha256(&k0s_standin::bytes()),
    );
    assert!(
        text.contains(&expected),
        "expected {expected:?} in:\n{text}"
    );
    let c1 = s.bed.host("c1");
    assert_eq!(
        c1.exec_ok(&format!("ls {K0S} 2>/dev/null || true")),
        "",
        "nothing may be uploaded"
    );
}

/// What the mirror saw of one request.
#[derive(Debug, Clone)]
struct Request {
    target: String,
    authorization: Option<String>,
}

/// A plain-HTTP mirror serving `files` (path → bytes) to requests with
/// `authorization` (the whole header value) and `query`; it records every
/// request.
struct Mirror {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Mirror {
    fn start(
        address: &str,
        files: BTreeMap<String, Vec<u8>>,
        authorization: String,
        query: String,
    ) -> Mirror {
        let listener = TcpListener::bind((address, 0)).expect("bind the mirror on the bridge");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(request) = serve(stream, &files, &authorization, &query) {
                    seen.lock().unwrap().push(request);
                }
            }
        });
        Mirror { port, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    files: &BTreeMap<String, Vec<u8>>,
    authorization: &str,
    query: &str,
) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut presented = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                presented = Some(value.trim().to_string());
            }
        }
    }
    let (path, asked) = target.split_once('?').unwrap_or((&target, ""));
    let (status, body): (&str, &[u8]) = if presented.as_deref() != Some(authorization) {
        ("401 Unauthorized", b"")
    } else if asked != query {
        ("403 Forbidden", b"")
    } else {
        match files.get(path) {
            Some(bytes) => ("200 OK", bytes),
            None => ("404 Not Found", b""),
        }
    };
    let mut stream = stream;
    // wget sends credentials only when challenged.
    let challenge = if status.starts_with("401") {
        "WWW-Authenticate: Basic realm=\"mirror\"\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{challenge}Content-Length: {}\r\n\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    Some(Request {
        target,
        authorization: presented,
    })
}

/// Replaces `tool` on `host` with a wrapper that records its arguments and
/// the host's whole process list, then runs the real one.
fn record_calls_of(host: &TestHost, tool: &str) -> String {
    let log = format!("/var/log/{tool}-calls.log");
    host.exec_ok(&format!("mv /usr/bin/{tool} /usr/bin/{tool}.real"));
    let wrapper = format!(
        "#!/bin/sh\n{{ echo \"argv: $*\"; ps -eo args; echo; }} >> {log}\nexec /usr/bin/{tool}.real \"$@\"\n"
    );
    host.put_file(&format!("/usr/bin/{tool}"), wrapper.as_bytes(), 0o755);
    log
}

#[test]
fn plain_http_needs_the_opt_in_and_the_url_credentials_stay_secret() {
    let Some(s) = scenario(&["c1", "w1"]) else {
        return;
    };
    let (c1, w1) = (s.bed.host("c1"), s.bed.host("w1"));
    let arch = arch(c1);
    let (user, password, token) = ("mirror-reader", "Zq8pass7Hk2", "tok91XbQe");
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let bytes = k0s_standin::bytes();
    let mirror = Mirror::start(
        &format!("10.231.{}.1", s.bed.slot()),
        BTreeMap::from([(format!("/k0s/{VERSION}/k0s-{arch}"), bytes.clone())]),
        authorization.clone(),
        format!("token={token}"),
    );
    let url = format!(
        "http://{user}:{password}@10.231.{}.1:{}/k0s/{{version}}/k0s-{{arch}}?token={token}",
        s.bed.slot(),
        mirror.port
    );
    s.work
        .write("terraform.tfvars", &format!("k0s_url = \"{url}\"\n"));
    // c1 downloads with curl, w1 (which has no curl) with wget.
    let curl_log = record_calls_of(c1, "curl");
    w1.exec_ok("rm /usr/bin/curl");
    let wget_log = record_calls_of(w1, "wget");

    let config = |opt_in: &str| {
        format!(
            r#"{provider}
variable "k0s_url" {{
  type      = string
  sensitive = true
}}

resource "mke_cluster" "main" {{
  name             = "e2e"
  k0s_download_url = var.k0s_url
  k0s_sha256       = "{sum}"
{opt_in}
  controllers = {{ c1 = {{ address = "{c1}" }} }}
}}

resource "mke_node" "w1" {{
  cluster_id              = mke_cluster.main.id
  controllers             = mke_cluster.main.controllers
  k0s_version             = mke_cluster.main.k0s_version
  k0s_download_url        = mke_cluster.main.k0s_download_url
  k0s_download_allow_http = mke_cluster.main.k0s_download_allow_http
  k0s_sha256              = mke_cluster.main.k0s_sha256
  address                 = "{w1}"
}}
"#,
            provider = provider_block("30s"),
            sum = sha256(&bytes),
            c1 = c1.address,
            w1 = w1.address,
        )
    };
    let secrets = [user, password, token];
    let assert_secret_free = |what: &str, text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} is in {what}:\n{text}");
        }
    };

    // Without the opt-in the plan refuses plain HTTP and touches no host.
    s.work.write("main.tf", &config(""));
    let plan = s.work.run(&s.tf, &PLAN_CHANGES);
    assert_eq!(plan.code, 1, "the plan must fail:\n{}", plan.combined());
    let text = squash(&plan.combined());
    assert!(
        text.contains("Plain HTTP download refused")
            && text.contains("k0s_download_url it uses plain `http://`")
            && text.contains("set `k0s_download_allow_http = true`"),
        "{text}"
    );
    assert_secret_free("the refused plan", &plan.combined());
    assert!(mirror.requests().is_empty(), "nothing may be downloaded");

    s.work
        .write("main.tf", &config("  k0s_download_allow_http = true"));
    let (out, trace) = s.work.run_logged(&s.tf, &APPLY, "trace", "trace.log");
    assert_eq!(out.code, 0, "apply failed:\n{}", out.combined());
    for host in [c1, w1] {
        assert_eq!(installed_sha256(host), sha256(&bytes), "on {}", host.name);
    }
    // The credentials reached the mirror, from both hosts (wget asks
    // without them first, and is challenged)...
    let requests = mirror.requests();
    let authorized: Vec<&Request> = requests
        .iter()
        .filter(|r| r.authorization.is_some())
        .collect();
    assert_eq!(authorized.len(), 2, "{requests:?}");
    for request in authorized {
        assert_eq!(
            request.authorization.as_deref(),
            Some(authorization.as_str())
        );
        assert_eq!(
            request.target,
            format!("/k0s/{VERSION}/k0s-{arch}?token={token}")
        );
    }
    // ... through stdin: neither curl's nor wget's command line, nor any
    // other process on the hosts during the download, held them.
    let curl_calls = c1.exec_ok(&format!("cat {curl_log}"));
    assert!(
        curl_calls.contains("argv: -fsSL") && curl_calls.contains("-K -"),
        "{curl_calls}"
    );
    assert!(
        curl_calls.contains("sh -c"),
        "the process list: {curl_calls}"
    );
    assert_secret_free("curl's command line or the process list on c1", &curl_calls);
    let wget_calls = w1.exec_ok(&format!("cat {wget_log}"));
    assert!(
        wget_calls.contains("argv: -nv") && wget_calls.contains("-i -"),
        "{wget_calls}"
    );
    assert_secret_free("wget's command line or the process list on w1", &wget_calls);

    assert!(
        trace.contains("download k0s from http://***@"),
        "the trace log ({} bytes) must show the redacted URL",
        trace.len()
    );
    assert_secret_free("the trace log", &trace);
    assert_secret_free("the apply output", &out.combined());

    // In state the URL is only where the configuration put it.
    let state = s.state();
    for resource in state["resources"].as_array().unwrap() {
        for instance in resource["instances"].as_array().unwrap() {
            let mut attributes = instance["attributes"].clone();
            assert_eq!(attributes["k0s_download_url"], Json::from(url.clone()));
            attributes["k0s_download_url"] = Json::Null;
            assert_secret_free("another attribute in state", &attributes.to_string());
            let private = instance["private"].as_str().unwrap_or("");
            let private = base64::engine::general_purpose::STANDARD
                .decode(private)
                .unwrap_or_default();
            assert_secret_free("private state", &String::from_utf8_lossy(&private));
        }
    }

    // A failed download shows the URL redacted: the mirror has no NEXT.
    let upgrade = config("  k0s_download_allow_http = true").replace(
        "  k0s_sha256       =",
        &format!("  k0s_version      = \"{NEXT}\"\n  k0s_sha256       ="),
    );
    let out = s.try_apply(&upgrade);
    assert_ne!(out.code, 0, "the mirror has no {NEXT}:\n{}", out.combined());
    let text = squash(&out.combined());
    let shown = format!(
        "root@{}:22: downloading k0s from http://***@10.231.{}.1:{}/k0s/{NEXT}/k0s-{arch}?*** failed with exit \
         status 22: curl: (22) The requested URL returned error: 404",
        c1.address,
        s.bed.slot(),
        mirror.port
    );
    assert!(text.contains(&shown), "expected {shown:?} in:\n{text}");
    assert_secret_free("the failed apply", &out.combined());
    assert_eq!(installed_sha256(c1), sha256(&bytes), "the old binary stays");
}
