//! Three network namespaces joined by a router, for the tests that need
//! a real network between a stream and its peer:
//!
//! ```text
//! client 10.71.1.2 --c0--r0-- 10.71.1.1 router 10.71.2.1 --r1--s0-- 10.71.2.2 server
//! ```
//!
//! Built with `ip` (iproute2) and needing root. A thread joins one of
//! them with [`Net::enter`]; sockets it creates then, and threads it
//! starts (a stream's engine thread), belong to that namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const CLIENT: &str = "10.71.1.2";
pub const SERVER: &str = "10.71.2.2";

/// The namespaces of one test; deleted (with their links) on drop.
pub struct Net {
    names: [String; 3],
}

pub enum Side {
    Client = 0,
    Router = 1,
    Server = 2,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("running ip (iproute2): {e}"));
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
}

#[path = "../skip/mod.rs"]
mod skip;

/// True when running as root; otherwise skips `test` as tests/skip does (a
/// SKIPPED line under `make check`, a failure under `make test`).
pub fn root_or_skip(test: &str) -> bool {
    skip::require_root(test, "building network namespaces (ip netns)")
}

impl Net {
    /// Builds the three namespaces. Panics if anything fails: under root
    /// this test must run, never skip.
    pub fn new() -> Net {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let id = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let names = ["c", "r", "s"].map(|side| format!("marline-{side}-{id}"));
        let net = Net { names };
        for name in &net.names {
            ip(&["netns", "add", name]);
        }
        let [c, r, s] = [&net.names[0], &net.names[1], &net.names[2]];
        ip(&["link", "add", "name", "c0", "netns", c, "type", "veth", "peer", "name", "r0", "netns", r]);
        ip(&["link", "add", "name", "r1", "netns", r, "type", "veth", "peer", "name", "s0", "netns", s]);
        for (ns, dev, addr) in [(c, "c0", "10.71.1.2/24"), (r, "r0", "10.71.1.1/24"), (r, "r1", "10.71.2.1/24"), (s, "s0", "10.71.2.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        for ns in [c, r, s] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", c, "route", "add", "default", "via", "10.71.1.1"]);
        ip(&["-n", s, "route", "add", "default", "via", "10.71.2.1"]);
        // Forwarding is per namespace and off in a new one; /proc/sys/net
        // shows the namespace of the thread that opens it.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                net.enter(Side::Router);
                std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
            });
        });
        net
    }

    /// Moves the calling thread into `side`'s namespace.
    pub fn enter(&self, side: Side) {
        let path = format!("/run/netns/{}", self.names[side as usize]);
        let f = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a valid namespace descriptor; only this thread moves.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// Runs `ip -n <router> route <args>` (add or delete a route there).
    pub fn router_route(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.names[1], "route"];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}
