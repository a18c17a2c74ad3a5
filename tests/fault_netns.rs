//! Connect timeout against an unroutable host: inside a fresh network
//! namespace whose only route goes to a tun device nobody reads (so
//! everything sent there silently vanishes), a connect to 10.77.0.2 gets no answer at all and must
//! end with TIMED_OUT after the timeout. Needs `ip netns` (root): under
//! `make check` without root, or where namespaces are not permitted, it says
//! so and skips; under `make test` that is a failure (tests/skip). (The other
//! connect-timeout variant, a listener with a full backlog, is
//! tests/tcp_connect.rs: connect_timeout_fails_with_timed_out.)
mod common;
mod skip;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use marline::{Reactor, ReasonKind};

const CHILD_ENV: &str = "MARLINE_NETNS_CHILD";
const NAME: &str = "connect_timeout_to_an_unroutable_host_in_a_network_namespace";

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[test]
fn connect_timeout_to_an_unroutable_host_in_a_network_namespace() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    if !skip::require_root(NAME, "a network namespace") {
        return;
    }
    let ns = Netns(format!("marline-test-{}", std::process::id()));
    if let Err(e) = ip(&["netns", "add", &ns.0]) {
        return skip::skip(NAME, &format!("network namespaces are not available here (ip netns add: {e})"));
    }
    for cmd in [
        vec!["-n", &ns.0, "link", "set", "lo", "up"],
        // A tun device nobody reads: what is routed to it vanishes.
        vec!["-n", &ns.0, "tuntap", "add", "dev", "d0", "mode", "tun"],
        vec!["-n", &ns.0, "addr", "add", "10.77.0.1/24", "dev", "d0"],
        vec!["-n", &ns.0, "link", "set", "d0", "up"],
    ] {
        if let Err(e) = ip(&cmd) {
            return skip::skip(NAME, &format!("cannot set up the namespace (ip {}: {e})", cmd.join(" ")));
        }
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("CHILD-OK"), "{text}");
    if let Some(l) = text.lines().find_map(|l| l.find("timed out after").map(|i| &l[i..])) {
        println!("unroutable host: {l}");
    }
}

fn child() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let start = Instant::now();
    r.connect_tcp("10.77.0.2", 80, Some(Duration::from_millis(400)), Box::new(Recorder::new(&log))).unwrap();
    run_until(&r, || has(&log, is_lost));
    let took = start.elapsed();
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::TimedOut)]);
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(r.object_count(), 0);
    println!("timed out after {took:?}");
    println!("CHILD-OK");
}
