//! Builds and runs every C test program `tests/c/test_*.c`, and builds every
//! example `examples-c/*.c`:
//! - compiled as C99 (`-std=c99 -Wall -Wextra -Werror`) and as C++
//!   (`g++ -x c++ -std=c++17 -Wall -Wextra -Werror -pedantic`),
//! - linked to the static library, rebuilt first with `cargo build --lib`,
//! - run natively, under AddressSanitizer + UBSan, and under valgrind
//!   memcheck (`--leak-check=full --error-exitcode=1`).
//!
//! A test program prints one line per check and a final "N passed, M failed"
//! line, and exits 0 only if every check passed. A missing compiler or
//! valgrind fails the test; nothing is skipped.

mod cbuild;

use std::path::PathBuf;
use std::process::Command;

use cbuild::{compile, run_checked, sources, Mode};

fn run_all(mode: Mode, wrap: impl Fn(PathBuf) -> Command) {
    let failures: Vec<String> = sources("tests/c", "test_")
        .iter()
        .filter_map(|src| {
            let bin = compile(src, mode);
            run_checked(wrap(bin), &src.file_name().unwrap().to_string_lossy())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn c_tests_native_c99() {
    run_all(Mode::C99, Command::new);
}

#[test]
fn c_tests_native_cxx() {
    run_all(Mode::Cxx, Command::new);
}

#[test]
fn c_tests_under_asan_and_ubsan() {
    run_all(Mode::Sanitized, |bin| {
        let mut c = Command::new(bin);
        c.env("ASAN_OPTIONS", "detect_leaks=1").env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
        c
    });
}

#[test]
fn c_tests_under_valgrind() {
    assert!(
        Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success()),
        "valgrind is not installed: apt-get install -y valgrind"
    );
    run_all(Mode::C99, |bin| {
        let mut c = Command::new("valgrind");
        c.args(["-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=1"]).arg(bin);
        c
    });
}

#[test]
fn examples_build_as_c99_and_cxx() {
    for src in sources("examples-c", "") {
        compile(&src, Mode::C99);
        compile(&src, Mode::Cxx);
    }
}

/// The README's short C example, as printed there, builds as C99 and C++.
#[test]
fn readme_example_builds_as_c99_and_cxx() {
    let readme = std::fs::read_to_string(cbuild::root().join("README.md")).unwrap();
    let section = readme.split("## A short C example").nth(1).expect("the README has its short C example");
    let code = section.split("```c\n").nth(1).and_then(|s| s.split("```").next()).expect("a ```c block");
    let src = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme_example.c");
    std::fs::write(&src, code).unwrap();
    compile(&src, Mode::C99);
    compile(&src, Mode::Cxx);
}
