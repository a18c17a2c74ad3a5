//! The checked-in include/marline.h must be exactly what cbindgen generates
//! from the sources. `MARLINE_BLESS=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let after_includes = config.after_includes.clone().unwrap_or_default() + &version_macros();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .with_after_include(after_includes)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = root.join("include/marline.h");
    if std::env::var_os("MARLINE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/marline.h is stale: run `make header` (MARLINE_BLESS=1 cargo test --test header) and commit it"
    );
}

/// Version macros generated from Cargo.toml, never written by hand.
fn version_macros() -> String {
    format!(
        "\n#define MARLINE_VERSION_MAJOR {}\n#define MARLINE_VERSION_MINOR {}\n#define MARLINE_VERSION_PATCH {}\n#define MARLINE_VERSION_STRING \"{}\"\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}
