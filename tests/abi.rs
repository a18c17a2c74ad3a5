//! The C ABI (functions and their signatures, struct layouts, enum values,
//! constants and the soname, as scripts/abi-dump.py prints them from
//! include/marline.h with the C compiler) must be the checked-in snapshot
//! abi/marline.abi, so that an ABI change is never accidental.
//!
//! After a deliberate change, `make abi` (MARLINE_BLESS=1 cargo test --test
//! abi) writes the new snapshot. It refuses when the change breaks the ABI
//! (something removed or changed, beyond a struct with a size field growing)
//! and the soname stayed the same: bump the version in Cargo.toml (the minor
//! while 0.x) first. See "ABI policy" in the README.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn dump(root: &Path) -> String {
    let out = Command::new("python3").arg(root.join("scripts/abi-dump.py")).current_dir(root).output().expect("run python3 scripts/abi-dump.py");
    assert!(out.status.success(), "scripts/abi-dump.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A struct's size line ("struct NAME size N align A sized") split into its
/// name and size, for a struct with a size field.
fn sized_struct(line: &str) -> Option<(&str, u64)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    match w.as_slice() {
        ["struct", name, "size", n, "align", _, "sized"] => Some((name, n.parse().ok()?)),
        _ => None,
    }
}

/// What the old snapshot has and the new one does not, except what the ABI
/// rule allows: the soname (it is compared on its own) and a struct with a
/// size field that grew (appended fields).
fn breaks<'a>(old: &'a str, new: &str) -> Vec<&'a str> {
    let new_lines: BTreeSet<&str> = new.lines().collect();
    old.lines()
        .filter(|l| !new_lines.contains(l) && !l.starts_with("soname "))
        .filter(|l| match sized_struct(l) {
            Some((name, size)) => !new.lines().filter_map(sized_struct).any(|(n, s)| n == name && s > size),
            None => true,
        })
        .collect()
}

#[test]
fn abi_matches_the_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("abi/marline.abi");
    let new = dump(root);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if new == old {
        return;
    }
    let broken = breaks(&old, &new);
    let soname = |s: &str| s.lines().find(|l| l.starts_with("soname ")).map(str::to_owned);
    if std::env::var_os("MARLINE_BLESS").is_some() {
        assert!(
            broken.is_empty() || soname(&old) != soname(&new),
            "the ABI breaks (these are gone or changed) but the soname is still {:?}: bump the version in \
             Cargo.toml (the minor while 0.x), then `make abi` again:\n{}",
            soname(&new),
            broken.join("\n")
        );
        std::fs::write(&path, &new).unwrap();
        return;
    }
    let old_lines: BTreeSet<&str> = old.lines().collect();
    let added: Vec<&str> = new.lines().filter(|l| !old_lines.contains(l)).collect();
    panic!(
        "the C ABI differs from abi/marline.abi.\nGone or changed:\n{}\nNew:\n{}\nIf this is deliberate, run `make abi` \
         (an ABI break needs the soname bumped first; see \"ABI policy\" in the README).",
        broken.join("\n"),
        added.join("\n")
    );
}

#[test]
fn the_bless_rule_tells_a_break_from_an_addition() {
    let old = "soname libmarline.so.0.2\nfunction f(int) -> void\nstruct t size 16 align 8 sized\nstruct t field size offset 0 size 8: size_t\n";
    let grown = "soname libmarline.so.0.2\nfunction f(int) -> void\nfunction g(void) -> void\nstruct t size 24 align 8 sized\nstruct t field size offset 0 size 8: size_t\nstruct t field cb offset 16 size 8: void (*)(void)\n";
    assert!(breaks(old, grown).is_empty(), "a new function and an appended field are additions");
    let changed = "soname libmarline.so.0.2\nfunction f(long) -> void\nstruct t size 16 align 8 sized\nstruct t field size offset 0 size 8: size_t\n";
    assert_eq!(breaks(old, changed), ["function f(int) -> void"]);
    let shrunk = "soname libmarline.so.0.2\nfunction f(int) -> void\nstruct t size 8 align 8 sized\nstruct t field size offset 0 size 8: size_t\n";
    assert_eq!(breaks(old, shrunk), ["struct t size 16 align 8 sized"]);
}
