//! Runs the k0s stand-in's own self-test (Python unittest), so a broken
//! test double fails the suite instead of misleading the e2e tests.

mod support;

#[test]
fn the_k0s_standin_passes_its_self_test() {
    if !support::testbed::require_root_or_fail("the stand-in self-test starts daemons as root") {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/k0s-standin/selftest.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .output()
        .expect("run /usr/bin/python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "stand-in self-test failed:\n{text}");
    assert!(
        !text.contains("skipped"),
        "stand-in self-test skipped tests:\n{text}"
    );
}
