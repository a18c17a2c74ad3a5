//! Gives the shared library its versioned soname (libmarline.so.MAJOR), so
//! programs linked against an installed copy keep working across compatible
//! upgrades. `cargo:rustc-cdylib-link-arg` applies to the cdylib only.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmarline.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
