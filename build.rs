//! Stops the build at once, with one clear message, on any target but Linux
//! (marline uses clone, pidfd, epoll and Linux's pty calls); otherwise gives
//! the shared library its versioned soname (libmarline.so.MAJOR), so programs
//! linked against an installed copy keep working across compatible upgrades.
//! `cargo:rustc-cdylib-link-arg` applies to the cdylib only.
//! tests/platform.rs runs this script with other targets' values.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        let target = std::env::var("TARGET").unwrap_or_else(|_| os.clone());
        eprintln!("error: marline supports Linux only (it uses clone, pidfd, epoll and ptys); the target {target} is not Linux");
        std::process::exit(1);
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmarline.so.{major}");
}
