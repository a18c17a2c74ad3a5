//! The benchmark harness in quick mode against marline's echo server only:
//! it must finish and report a byte-exact pass. And the load generator must
//! fail, not score, against a server that corrupts one byte.

mod cbuild;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// bench/'s load generator, built without the peers' crates (no tokio),
/// into a target directory of its own so that it does not flip-flop with
/// `make bench`'s full build.
fn loadgen() -> PathBuf {
    let target = cbuild::root().join("bench/target/smoke");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = cbuild::root().join("bench/Cargo.toml");
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--no-default-features", "--bin", "loadgen", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo build for bench/");
    assert!(out.status.success(), "building the load generator failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let p = target.join("release/loadgen");
    assert!(p.exists());
    p
}

#[test]
fn quick_run_against_marline_reports_a_byte_exact_pass() {
    let loadgen = loadgen();
    let echo = cbuild::example("echo_server");
    let python = cbuild::require_tool(&["python3"], "python3");
    let results = std::env::temp_dir().join(format!("marline-bench-smoke-{}", std::process::id()));
    let out = Command::new(python)
        .arg(cbuild::root().join("bench/run.py"))
        .env("BENCH_QUICK", "1")
        .env("BENCH_NO_BUILD", "1")
        .env("BENCH_PEERS", "marline")
        .env("BENCH_WORKLOADS", "pump-1,pingpong-1,pingpong-100,churn-50")
        .env("BENCH_SECS", "0.3")
        .env("BENCH_LOADGEN", &loadgen)
        .env("BENCH_MARLINE_ECHO", &echo)
        .env("BENCH_OUT", &results)
        .output()
        .expect("run bench/run.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench/run.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("byte-exact: pass (4 checked measurements)"), "no byte-exact pass:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for row in ["pump, 1 conn", "ping-pong 64 B, 1 conn", "ping-pong 64 B, 100 conns", "connection churn"] {
        assert!(stdout.contains(row), "row {row:?} missing:\n{stdout}");
    }
    assert!(results.join("latest.json").exists());
    let _ = std::fs::remove_dir_all(results);
}

#[test]
fn the_load_generator_fails_a_server_that_corrupts_a_byte() {
    let loadgen = loadgen();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Echoes faithfully except byte 1000 of the first connection, flipped.
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let mut seen = 0usize;
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if (seen..seen + n).contains(&1000) {
                    buf[1000 - seen] ^= 1;
                }
                seen += n;
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    let out = Command::new(loadgen)
        .args(["pingpong", "--port", &port.to_string(), "--conns", "1", "--secs", "2"])
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a corrupted byte must fail the run: {stdout}");
    assert!(stdout.contains("FAIL wrong byte at offset 1000"), "{stdout}");
    assert!(!stdout.contains("byte-exact: pass"), "{stdout}");
}
