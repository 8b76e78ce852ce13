//! What a person sees with `TF_LOG=INFO` during a 1 controller + 2 worker
//! apply: every host's phases with their elapsed time.
//!
//! `MKE_WRITE_SAMPLE_LOG=1 cargo test --test e2e_progress` also refreshes
//! `docs/sample-apply-log.md` from the run.

mod support;

use support::e2e::{controller_and_workers, provider_block, scenario};
use support::terraform::APPLY;

#[test]
fn an_apply_logs_each_hosts_phases_with_elapsed_time() {
    let Some(s) = scenario(&["c1", "w1", "w2"]) else {
        return;
    };
    let (bed, work, tf) = (&s.bed, &s.work, &s.tf);
    work.write(
        "main.tf",
        &controller_and_workers(bed, &provider_block("5m"), "demo", &["w1", "w2"], ""),
    );
    let (out, text) = work.run_logged(tf, &APPLY, "INFO", "apply.log");
    assert_eq!(out.code, 0, "{}", out.combined());
    let provider_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-mke"))
        .collect();
    for host in ["c1", "w1", "w2"] {
        let address = &bed.host(host).address;
        let done: Vec<&&str> = provider_lines
            .iter()
            .filter(|l| l.contains(address.as_str()) && l.contains(" done in "))
            .collect();
        assert!(
            done.len() >= 2,
            "{host} ({address}) shows too few phases with elapsed time:\n{}",
            provider_lines.join("\n")
        );
    }
    for phase in [
        "install leader controller",
        "stage k0s binary",
        "join worker",
    ] {
        assert!(
            provider_lines.iter().any(|l| l.contains(phase)),
            "no \"{phase}\" in the INFO log"
        );
    }
    assert!(
        !provider_lines
            .iter()
            .any(|l| l.contains("[DEBUG]") || l.contains("[TRACE]")),
        "TF_LOG=INFO must not show debug lines"
    );
    if std::env::var("MKE_WRITE_SAMPLE_LOG").is_ok() {
        let mut doc = String::from(
            "# Sample log: a 1 controller + 2 worker apply\n\n\
             What `TF_LOG=INFO terraform apply` shows of the provider while it builds a cluster \
             of one controller and two workers (test-bed hosts; the k0s binary is uploaded). \
             Each host's phases appear with their elapsed time; long waits add a line every 10 s. \
             Regenerate with `MKE_WRITE_SAMPLE_LOG=1 cargo test --test e2e_progress`.\n\n```text\n",
        );
        for line in &provider_lines {
            // Drop Terraform's prefix and the repeated structured fields.
            let message = line
                .split("provider.terraform-provider-mke: ")
                .nth(1)
                .unwrap_or(line);
            let message = without_fields(message);
            let stamp = line.split_whitespace().next().unwrap_or("");
            doc.push_str(&format!("{stamp} {message}\n"));
        }
        doc.push_str("```\n");
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sample-apply-log.md"),
            doc,
        )
        .unwrap();
    }
}

/// Terraform appends the structured fields as `: key=value key=value`.
fn without_fields(message: &str) -> &str {
    let mut from = 0;
    while let Some(pos) = message[from..].find(": ") {
        let at = from + pos;
        let rest = &message[at + 2..];
        let key: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '@')
            .collect();
        if !key.is_empty() && rest[key.len()..].starts_with('=') {
            return &message[..at];
        }
        from = at + 2;
    }
    message
}
