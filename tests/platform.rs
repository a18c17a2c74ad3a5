//! Linux only: build.rs stops the build on any other target with one clear
//! message. No other target's standard library is installed here, so this
//! compiles build.rs on its own and runs it the way cargo would, with the
//! target values cargo gives it (CARGO_CFG_TARGET_OS, TARGET) faked.

mod cbuild;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn build_script() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("build-script-platform");
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let built = Command::new(rustc)
            .args(["--edition", "2021", "-o"])
            .arg(&out)
            .arg(cbuild::root().join("build.rs"))
            .output()
            .expect("run rustc");
        assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
        out
    })
}

fn run_version(os: &str, target: &str, major: &str, minor: &str) -> Output {
    Command::new(build_script())
        .env("CARGO_CFG_TARGET_OS", os)
        .env("TARGET", target)
        .env("CARGO_PKG_VERSION_MAJOR", major)
        .env("CARGO_PKG_VERSION_MINOR", minor)
        .output()
        .unwrap()
}

fn run(os: &str, target: &str) -> Output {
    run_version(os, target, "7", "3")
}

#[test]
fn other_targets_stop_the_build_with_one_message() {
    for (os, target) in [("macos", "aarch64-apple-darwin"), ("windows", "x86_64-pc-windows-msvc"), ("freebsd", "x86_64-unknown-freebsd"), ("android", "aarch64-linux-android")] {
        let out = run(os, target);
        assert_eq!(out.status.code(), Some(1), "{target}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("error: marline supports Linux only (it uses clone, pidfd, epoll and ptys); the target {target} is not Linux\n")
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("rustc-cdylib-link-arg"), "{target}");
    }
}

#[test]
fn linux_builds_with_the_soname_of_its_abi() {
    // From 1.0 on only a major version breaks the ABI; before, any minor one.
    for (major, minor, soname) in [("7", "3", "libmarline.so.7"), ("0", "2", "libmarline.so.0.2"), ("0", "13", "libmarline.so.0.13")] {
        let out = run_version("linux", "x86_64-unknown-linux-gnu", major, minor);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("cargo:rerun-if-changed=build.rs\ncargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}\n")
        );
        assert!(out.stderr.is_empty());
    }
}
