//! Building C programs against libmarline for the tests: the static library
//! (rebuilt once per run with `cargo build --lib`), and C files compiled as
//! C99 or C++ with every warning an error, optionally with sanitizers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The debug static library, rebuilt once per test run.
pub fn static_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--lib", "--quiet"])
            .current_dir(root())
            .output()
            .expect("run cargo build --lib");
        assert!(out.status.success(), "cargo build --lib failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
        let lib = target.join("debug/libmarline.a");
        assert!(lib.exists(), "{} was not built", lib.display());
        lib
    })
}

/// The `.c` files in `dir` whose names start with `prefix`, sorted.
pub fn sources(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "c")
                && p.file_name().unwrap().to_string_lossy().starts_with(prefix)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no {prefix}*.c in {dir}");
    found
}

/// How a C file is compiled.
#[derive(Clone, Copy)]
pub enum Mode {
    C99,
    Cxx,
    Sanitized,
    /// C++17 under ASan+UBSan (for .cpp sources and marline.hpp).
    CxxSanitized,
}

pub fn compile(src: &Path, mode: Mode) -> PathBuf {
    let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
    let (cxx, lang, suffix): (bool, &[&str], &str) = match mode {
        Mode::C99 => (false, &["-std=c99"], "c99"),
        Mode::Cxx => (true, &["-x", "c++", "-std=c++17", "-pedantic"], "cxx"),
        Mode::Sanitized => (false, &["-std=c99", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"], "asan"),
        Mode::CxxSanitized => (true, &["-x", "c++", "-std=c++17", "-pedantic", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"], "cxxasan"),
    };
    let compiler = if cxx { require_tool(&["g++"], "g++") } else { require_tool(&["cc"], "gcc") };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{stem}_{suffix}"));
    let result = Command::new(&compiler)
        .args(lang)
        .args(["-Wall", "-Wextra", "-Werror", "-g", "-D_GNU_SOURCE"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(src)
        // `-x none` ends g++'s `-x c++` before the library.
        .args(["-x", "none"])
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-lutil", "-o"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", compiler.display()));
    assert!(
        result.status.success(),
        "compiling {} ({suffix}) failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// A C++17 source (`.cpp`, using marline.hpp) built with g++ -std=c++17 -Wall -Wextra
/// -Werror -pedantic, natively or under ASan+UBSan.
pub fn compile_cxx(src: &Path, sanitized: bool) -> PathBuf {
    compile(src, if sanitized { Mode::CxxSanitized } else { Mode::Cxx })
}

/// Runs a test program that prints one line per check and a final "N passed, M failed"
/// line; returns a failure description, or None when it exited 0 with 0 failed.
pub fn run_checked(mut cmd: Command, what: &str) -> Option<String> {
    let out = cmd.current_dir(root()).output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().rev().find(|l| l.contains("passed") && l.contains("failed"));
    match summary {
        Some(line) if out.status.success() && line.trim_end().ends_with(" 0 failed") => {
            println!("{what}: {line}");
            None
        }
        _ => Some(format!("{what} failed ({}):\n{stdout}\n{stderr}", out.status)),
    }
}

/// Runs `cmd` and returns its stdout; panics with both outputs when it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// The first of `names` on PATH, or a panic (never a skip) that names the
/// Debian package. Tests install nothing: scripts/install-deps.sh (which
/// `make test` runs) installs every tool, and tests/outside_programs.rs
/// checks that it names each one.
pub fn require_tool(names: &[&str], package: &str) -> PathBuf {
    names.iter().find_map(|n| which(n)).unwrap_or_else(|| {
        panic!("required tool {names:?} is not on PATH: run scripts/install-deps.sh as root (Debian package {package})")
    })
}

/// An example from examples-c/, built once per test binary as C99.
pub fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let p = compile(&root().join(format!("examples-c/{name}.c")), Mode::C99);
    built.push((name.to_string(), p.clone()));
    p
}
