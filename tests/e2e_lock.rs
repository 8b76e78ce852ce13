//! The host lock on the test bed: many runs taking it at the same moment,
//! a run whose lock is taken over, and a hung host among several.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mke_ssh::{shell_quote, Host, Secret};
use support::testbed::{require_root_or_fail, TestBed, TestHost};
use terraform_provider_mke::ops::phase::lock::{take_script, Holder, LOCK_DIR, LOCK_FILE};
use terraform_provider_mke::ops::{runtime, Runtime, Settings};

const TAKERS: usize = 50;
const TRIALS: usize = 8;

fn bed(hosts: &[&str]) -> Option<TestBed> {
    if !require_root_or_fail("the lock tests need root for network namespaces") {
        return None;
    }
    Some(TestBed::new(hosts).expect("test bed"))
}

fn taker(i: usize) -> Holder {
    Holder::new(&format!("taker-{i}"), &format!("{:x}", 0xa000 + i))
}

/// A script that starts every taker, lets them all wait on one pipe, then
/// releases them at once; prints `<taker> <exit status> <stdout>` per taker.
fn race_script() -> String {
    let mut s = String::from(
        r#"set -u
w=$(mktemp -d)
mkfifo "$w/go" "$w/ready"
exec 3<>"$w/go" 4<>"$w/ready"
taker() { echo ready >&4; read -r _ <&3; sh -c "$2" > "$w/out.$1" 2>"$w/err.$1"; echo $? > "$w/rc.$1"; }
"#,
    );
    for i in 0..TAKERS {
        s.push_str(&format!(
            "taker {i} {} &\n",
            shell_quote(&take_script(&taker(i)))
        ));
    }
    s.push_str(&format!(
        r#"n=0; while [ $n -lt {TAKERS} ]; do read -r _ <&4; n=$((n + 1)); done
n=0; while [ $n -lt {TAKERS} ]; do echo go; n=$((n + 1)); done >&3
wait
n=0; while [ $n -lt {TAKERS} ]; do printf '%s %s %s\n' $n "$(cat "$w/rc.$n")" "$(cat "$w/out.$n" "$w/err.$n" | tr '\n' ' ')"; n=$((n + 1)); done
rm -rf "$w"
"#
    ));
    s
}

/// Runs one race; returns the winners' lines and checks every loser was refused.
fn race(host: &TestHost) -> Vec<String> {
    let out = host.exec_ok("sh /root/race.sh");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), TAKERS, "{out}");
    let mut winners = Vec::new();
    for line in lines {
        let mut fields = line.splitn(3, ' ');
        let (_, status, said) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap_or(""),
        );
        match status {
            "0" => winners.push(line.to_string()),
            "3" => assert!(
                said.starts_with("held "),
                "a refusal says who holds it: {line}"
            ),
            _ => panic!("a taker neither won nor was refused: {line}\n{out}"),
        }
    }
    winners
}

fn holder_on(host: &TestHost) -> String {
    host.exec_ok(&format!("cat {LOCK_FILE}"))
}

#[test]
fn of_fifty_simultaneous_takers_exactly_one_wins_a_free_or_a_stale_lock() {
    let Some(bed) = bed(&["h1"]) else {
        return;
    };
    let host = bed.host("h1");
    host.put_file("/root/race.sh", race_script().as_bytes(), 0o700);

    for trial in 0..TRIALS {
        host.exec_ok(&format!("rm -f {LOCK_FILE}"));
        let winners = race(host);
        assert_eq!(winners.len(), 1, "free lock, trial {trial}: {winners:#?}");
        assert!(winners[0].ends_with(" taken "), "{winners:?}");
        let winner: usize = winners[0].split(' ').next().unwrap().parse().unwrap();
        let on_host = holder_on(host);
        let fields: Vec<&str> = on_host.trim().splitn(3, ' ').collect();
        assert_eq!(
            fields[1..],
            [taker(winner).run.as_str(), taker(winner).owner.as_str()],
            "the file names the one winner: {on_host}"
        );
    }

    for trial in 0..TRIALS {
        host.exec_ok(&format!(
            "echo \"$(( $(date +%s) - 60 )) dead crashed-run:77\" > {LOCK_FILE}"
        ));
        let winners = race(host);
        assert_eq!(winners.len(), 1, "stale lock, trial {trial}: {winners:#?}");
        assert!(
            winners[0].contains(" took-over ") && winners[0].ends_with(" crashed-run:77 "),
            "the winner says whose lock it took over: {winners:?}"
        );
    }

    // Root's private directory, and no temporary file left in it.
    assert_eq!(
        host.exec_ok(&format!("stat -c '%U %a %F' {LOCK_DIR}"))
            .trim(),
        "root 700 directory"
    );
    assert_eq!(
        host.exec_ok(&format!("ls -A {LOCK_DIR}"))
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["guard", "lock"]
    );
}

#[test]
fn the_lock_is_refused_in_a_directory_others_could_write_or_swap() {
    let Some(bed) = bed(&["h1"]) else {
        return;
    };
    let host = bed.host("h1");
    let me = Holder::new("tester:1", "beef");
    let take = |setup: &str| {
        host.exec_ok(&format!("rm -rf {LOCK_DIR}; {setup}"));
        host.exec(&take_script(&me))
    };

    let out = take("mkdir -m 777 /var/lib/mke-provider");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("must be a directory owned by root with mode 700"),
        "{out:?}"
    );

    let out = take("mkdir -m 700 /tmp/elsewhere && ln -s /tmp/elsewhere /var/lib/mke-provider");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a symbolic link"),
        "{out:?}"
    );
    assert_eq!(
        host.exec_ok("ls -A /tmp/elsewhere"),
        "",
        "nothing written through the link"
    );

    let out = take("mkdir -m 700 /var/lib/mke-provider && chown nobody /var/lib/mke-provider");
    assert_eq!(out.status.code(), Some(4), "{out:?}");

    let out = take("");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        host.exec_ok(&format!("stat -c '%U %a' {LOCK_DIR} {LOCK_FILE}")),
        "root 700\nroot 600\n",
        "created private"
    );
}

/// A provider runtime that reaches the bed's hosts with its key.
fn runtime(bed: &TestBed) -> Runtime {
    let mut settings = Settings::default();
    settings.ssh.private_key = Some(Secret::new(bed.client_private_key()));
    settings.ssh.timeout = Duration::from_secs(20);
    Runtime::new(settings)
}

async fn connect(rt: &Runtime, host: &TestHost) -> Arc<Host> {
    let target = runtime::target(&host.address, None, None, None);
    rt.connect(&target, Duration::from_secs(20))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_lock_was_taken_over_learns_it_and_leaves_the_new_holders_lock_alone() {
    let Some(bed) = bed(&["h1"]) else {
        return;
    };
    let h1 = bed.host("h1");
    let rt = runtime(&bed);
    let host = connect(&rt, h1).await;
    let lock = rt.lock(&host).await.expect("a free lock is taken");
    let mine = Holder::this_process();
    assert!(holder_on(h1).contains(&mine.owner));

    // While it is held, another run is refused and told who holds it.
    let other = h1.exec(&take_script(&Holder::new("elsewhere:4242", "0e15e")));
    assert_eq!(other.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&other.stdout).contains(&mine.owner));

    // Another run takes it over (as it would after this one hung for 30 s).
    h1.exec_ok(&format!(
        "t=$(mktemp {LOCK_DIR}/x.XXXXXX); echo \"$(date +%s) 7417 thief:7\" > $t; mv $t {LOCK_FILE}"
    ));
    tokio::time::timeout(Duration::from_secs(30), lock.lost().cancelled())
        .await
        .expect("the next refresh finds the lock taken over");
    let e = lock.check().unwrap_err().to_string();
    assert!(
        e.contains("lost its lock on the host (another Terraform run (thief:7) took it over)"),
        "{e}"
    );
    // A later operation of this run is refused too.
    let again = rt.lock(&host).await.err().expect("refused").to_string();
    assert!(again.contains("thief:7"), "{again}");

    lock.release().await;
    assert!(
        holder_on(h1).ends_with(" 7417 thief:7\n"),
        "releasing a lost lock leaves the new holder's"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_released_lock_is_gone_and_a_second_operation_shares_it_until_the_last_leaves() {
    let Some(bed) = bed(&["h1"]) else {
        return;
    };
    let h1 = bed.host("h1");
    let rt = runtime(&bed);
    let host = connect(&rt, h1).await;
    let first = rt.lock(&host).await.expect("taken");
    let second = rt.lock(&host).await.expect("shared within the run");
    first.release().await;
    assert!(holder_on(h1).contains(&Holder::this_process().owner));
    second.release().await;
    assert_eq!(
        h1.exec_ok(&format!("ls -A {LOCK_DIR}")).trim(),
        "guard",
        "the last release removes the lock and leaves no temporary file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_host_does_not_delay_the_refresh_of_the_others_and_its_own_lock_is_given_up() {
    let Some(bed) = bed(&["hung", "fine"]) else {
        return;
    };
    let rt = runtime(&bed);
    let hung = connect(&rt, bed.host("hung")).await;
    let fine = connect(&rt, bed.host("fine")).await;
    let locks = rt.lock_all([&hung, &fine]).await.expect("both locks taken");
    bed.host("hung").set_link(false);

    // Sample the fine host's lock age until the hung host's lock is given up.
    let started = Instant::now();
    let mut oldest = 0;
    while !locks[0].lost().is_cancelled() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the hung host's lock was never given up"
        );
        let age: i64 = bed
            .host("fine")
            .exec_ok(&format!(
                "read ts rest < {LOCK_FILE}; echo $(( $(date +%s) - ts ))"
            ))
            .trim()
            .parse()
            .unwrap();
        oldest = oldest.max(age);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "given up only once it may have gone stale"
    );
    assert!(
        oldest <= 14,
        "the fine host was refreshed every 10 s throughout (oldest {oldest} s)"
    );
    assert!(locks[1].check().is_ok());
    let e = locks[0].check().unwrap_err().to_string();
    assert!(e.contains("could not be refreshed for 30 seconds"), "{e}");
    bed.host("hung").set_link(true);
}
