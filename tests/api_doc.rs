//! docs/API.md must be exactly what scripts/api-doc.py generates from include/marline.h,
//! and must cover every function the header declares (each with a doc comment).
//! `make api-doc` (or MARLINE_BLESS=1 cargo test --test api_doc) rewrites it.

use std::path::Path;
use std::process::Command;

#[test]
fn api_reference_is_fresh_and_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/api-doc.py"))
        .current_dir(root)
        .output()
        .expect("run python3 scripts/api-doc.py");
    assert!(out.status.success(), "scripts/api-doc.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = root.join("docs/API.md");
    if std::env::var_os("MARLINE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(checked_in == generated, "docs/API.md is stale: run `make api-doc` and commit it");

    // Every function declared in the header has its own entry.
    let header = std::fs::read_to_string(root.join("include/marline.h")).unwrap();
    let mut missing = Vec::new();
    let mut count = 0;
    for line in header.lines() {
        // Declarations start in column 0; struct fields are indented.
        if line.starts_with("typedef") || !line.ends_with(");") || !line.starts_with(|c: char| c.is_ascii_lowercase()) {
            continue;
        }
        let Some(name) = line.split('(').next().and_then(|head| head.split_whitespace().last()) else { continue };
        let name = name.trim_start_matches('*');
        count += 1;
        if !checked_in.contains(&format!("#### `{name}`")) {
            missing.push(name.to_string());
        }
    }
    assert!(count > 50, "found only {count} functions in marline.h");
    assert!(missing.is_empty(), "functions missing from docs/API.md: {missing:?}");

    // Every example is linked.
    for dir in ["examples-c", "examples-cpp", "bindings/python/examples"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let rel = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(checked_in.contains(&format!("](../{rel})")), "{rel} is not linked from docs/API.md");
        }
    }
}
