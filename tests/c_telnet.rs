//! Builds and runs the C test tests/c/test_telnet.c the way every tests/c/test_*.c is run:
//! compiled as C99 (`-std=c99 -Wall -Wextra -Werror`) and as C++ (`g++ -x c++ -Wall -Wextra
//! -Werror`), linked to target/debug/libmarline.a, and run natively, under ASan+UBSan and
//! under `valgrind --leak-check=full --error-exitcode=1`. The static library is rebuilt
//! first with `cargo build --lib` so it matches the sources. A missing compiler or valgrind
//! fails the test (it never skips).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TEST: &str = "test_telnet";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/debug/libmarline.a, rebuilt once per test run.
fn static_lib() -> &'static Path {
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

fn compile(compiler: &[&str], extra: &[&str], out_name: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(out_name);
    let src = root().join(format!("tests/c/{TEST}.c"));
    let mut cmd = Command::new(compiler[0]);
    cmd.args(&compiler[1..])
        .args(["-Wall", "-Wextra", "-Werror", "-g"])
        .args(extra)
        .arg("-I")
        .arg(root().join("include"))
        .arg(&src)
        // `-x none` ends g++'s `-x c++` before the library.
        .args(["-x", "none"])
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out);
    let result = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", compiler[0]));
    assert!(
        result.status.success(),
        "compiling {} with {compiler:?} {extra:?} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("\n0 failed"), "{what}: no summary line:\n{stdout}");
}

#[test]
fn c_test_telnet_native_c99() {
    let bin = compile(&["cc", "-std=c99"], &[], "test_telnet_c99");
    run(&mut Command::new(bin), "test_telnet (C99)");
}

#[test]
fn c_test_telnet_native_cxx() {
    let bin = compile(&["g++", "-x", "c++"], &[], "test_telnet_cxx");
    run(&mut Command::new(bin), "test_telnet (C++)");
}

#[test]
fn c_test_telnet_asan_ubsan() {
    let bin = compile(
        &["cc", "-std=c99"],
        &["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"],
        "test_telnet_asan",
    );
    run(
        Command::new(bin).env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0").env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"),
        "test_telnet under ASan+UBSan",
    );
}

#[test]
fn c_test_telnet_valgrind() {
    let bin = compile(&["cc", "-std=c99"], &[], "test_telnet_vg");
    assert!(
        Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success()),
        "valgrind is not installed: apt-get install -y valgrind"
    );
    run(
        Command::new("valgrind").args(["-q", "--leak-check=full", "--error-exitcode=1"]).arg(bin),
        "test_telnet under valgrind",
    );
}
