//! The header-only C++ wrapper include/marline.hpp:
//! - marline.h and marline.hpp each compile on their own with
//!   `g++ -std=c++17 -Wall -Wextra -Werror -pedantic`;
//! - tests/cpp/test_wrapper.cpp runs natively and under ASan+UBSan (one line per check,
//!   then "N passed, M failed");
//! - examples-cpp/echo_server.cpp keeps examples-c/echo_server.c's command-line contract.
//!
//! A missing g++ fails the test; nothing is skipped.

mod cbuild;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use cbuild::{compile_cxx, require_tool, root, run_checked};

#[test]
fn headers_compile_as_strict_cxx17() {
    require_tool(&["g++"], "g++");
    for header in ["marline.h", "marline.hpp"] {
        let out = Command::new("g++")
            .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-x", "c++"])
            .arg(root().join("include").join(header))
            .output()
            .expect("run g++");
        assert!(out.status.success(), "{header} does not compile as C++17:\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn wrapper_test_native() {
    require_tool(&["g++"], "g++");
    let bin = compile_cxx(&root().join("tests/cpp/test_wrapper.cpp"), false);
    if let Some(failure) = run_checked(Command::new(bin), "test_wrapper.cpp") {
        panic!("{failure}");
    }
}

#[test]
fn wrapper_test_under_asan_and_ubsan() {
    require_tool(&["g++"], "g++");
    let bin = compile_cxx(&root().join("tests/cpp/test_wrapper.cpp"), true);
    let mut cmd = Command::new(bin);
    cmd.env("ASAN_OPTIONS", "detect_leaks=1").env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    if let Some(failure) = run_checked(cmd, "test_wrapper.cpp (ASan+UBSan)") {
        panic!("{failure}");
    }
}

#[test]
fn cpp_echo_server_keeps_the_c_contract() {
    require_tool(&["g++"], "g++");
    let bin = compile_cxx(&root().join("examples-cpp/echo_server.cpp"), false);
    let out = Command::new(&bin).arg("not-a-port").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: echo_server [PORT]"));

    let mut child = Command::new(&bin).arg("0").stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    let result = std::panic::catch_unwind(|| {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        let input = data.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(&input).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "{} bytes came back of {}", back.len(), data.len());

        let busy = Command::new(&bin).arg(port.to_string()).output().unwrap();
        assert_eq!(busy.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&busy.stderr).contains("the address is already in use"), "{busy:?}");
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
