//! Stops the build at once, with one clear message, on any target but Linux
//! (marline uses clone, pidfd, epoll and Linux's pty calls); otherwise gives
//! the shared library its versioned soname, so that a program runs only
//! with a library of the ABI it was built against. The soname changes with
//! every ABI break (see "ABI policy" in the README): while the version is
//! 0.y.z, any 0.y may break the ABI, so the soname is libmarline.so.0.y;
//! from 1.0 on it is libmarline.so.MAJOR. The Makefile applies the same
//! rule. `cargo:rustc-cdylib-link-arg` applies to the cdylib only.
//! tests/platform.rs runs this script with other targets' values.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        let target = std::env::var("TARGET").unwrap_or_else(|_| os.clone());
        eprintln!("error: marline supports Linux only (it uses clone, pidfd, epoll and ptys); the target {target} is not Linux");
        std::process::exit(1);
    }
    let part = |name: &str| std::env::var(name).unwrap_or_else(|_| "0".into());
    let (major, minor) = (part("CARGO_PKG_VERSION_MAJOR"), part("CARGO_PKG_VERSION_MINOR"));
    let abi = if major == "0" { format!("0.{minor}") } else { major };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmarline.so.{abi}");
}
