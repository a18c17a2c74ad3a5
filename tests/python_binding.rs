//! The Python binding: its pytest suite (`python3 -m pytest -q bindings/python`) run in the
//! tree against the library this test run built (MARLINE_LIB points at the debug
//! libmarline.so, MARLINE_ECHO_CLIENT at the C echo_client example); the package installed
//! with pip into a fresh venv and used from outside the tree; one version for all. Without
//! pytest or venv the tests fail (never skip): scripts/install-deps.sh installs them.

mod cbuild;

use std::path::PathBuf;
use std::process::Command;

use cbuild::run_ok;

fn have_pytest() -> bool {
    Command::new("python3").args(["-m", "pytest", "--version"]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn pytest_bindings_python() {
    assert!(have_pytest(), "python3 has no pytest: run scripts/install-deps.sh as root");

    let shared = cbuild::static_lib().with_file_name("libmarline.so");
    assert!(shared.exists(), "{} was not built", shared.display());
    let echo_client = cbuild::example("echo_client");
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "bindings/python"])
        .current_dir(cbuild::root())
        .env("MARLINE_LIB", &shared)
        .env("MARLINE_ECHO_CLIENT", &echo_client)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3 -m pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "pytest failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
}

/// The versions that must agree: the library's (Cargo.toml), the extension crate's
/// (bindings/python/Cargo.toml, which is the package's version) and the one the Python
/// code checks the loaded library against (marline/_lib.py).
#[test]
fn the_binding_the_package_and_the_library_have_one_version() {
    let version = env!("CARGO_PKG_VERSION");
    let crate_toml = std::fs::read_to_string(cbuild::root().join("bindings/python/Cargo.toml")).unwrap();
    assert!(crate_toml.contains(&format!("\nversion = \"{version}\"\n")), "bindings/python/Cargo.toml has version {version}");
    let lib_py = std::fs::read_to_string(cbuild::root().join("bindings/python/marline/_lib.py")).unwrap();
    assert!(lib_py.contains(&format!("\nVERSION = \"{version}\"\n")), "marline/_lib.py has VERSION {version}");
}

const ROUND_TRIP: &str = r#"
import socket, threading, marline

class Echo(marline.Protocol):
    def data_received(self, data):
        self.transport.write(data)

got = {}
with marline.Reactor() as reactor:
    port = reactor.listen_tcp(0, Echo).port

    def client():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"round trip")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(100):
                data += chunk
            got["echo"] = data

    t = threading.Thread(target=client)
    t.start()
    reactor.run_until(lambda: not t.is_alive(), timeout=20)
print(got["echo"].decode())
print(marline.library_path)
print(marline.__version__)
"#;

/// `pip install ./bindings/python` into a fresh venv, as the README says (maturin builds
/// the extension; its cargo target directory is kept in target/python-wheel, so only the
/// first run compiles everything: about a minute and a half on two cores). Then, from a
/// directory outside the tree and with no MARLINE_LIB, an echo round trip runs, with the
/// C API loaded from the package's own extension module, which exports every function of
/// include/marline.h.
#[test]
fn pip_install_into_a_fresh_venv_then_an_echo_round_trip_outside_the_tree() {
    let work = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-venv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let venv = work.join("venv");
    run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| cbuild::root().join("target"));
    run_ok(Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "-q"])
        .arg(cbuild::root().join("bindings/python"))
        .env("CARGO_TARGET_DIR", target.join("python-wheel"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"));

    let out = run_ok(Command::new(venv.join("bin/python"))
        .args(["-c", ROUND_TRIP])
        .current_dir(&work)
        .env_remove("MARLINE_LIB")
        .env_remove("PYTHONPATH"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "round trip");
    let native = PathBuf::from(lines[1]);
    assert!(native.starts_with(&venv) && lines[1].ends_with(".abi3.so"), "the C API comes from the extension: {}", lines[1]);
    assert_eq!(lines[2], env!("CARGO_PKG_VERSION"));

    let symbols = run_ok(Command::new("readelf").args(["--dyn-syms", "-W"]).arg(&native));
    let exported: std::collections::BTreeSet<&str> = symbols
        .lines()
        .filter(|l| l.contains(" FUNC ") && l.contains(" GLOBAL ") && !l.contains(" UND "))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let header = std::fs::read_to_string(cbuild::root().join("include/marline.h")).unwrap();
    let functions: Vec<&str> = header
        .lines()
        .filter(|l| l.ends_with(");") && !l.starts_with(['/', '#', ' ']) && !l.starts_with("typedef"))
        .filter_map(|l| l.split('(').next()?.rsplit([' ', '*']).next())
        .collect();
    assert!(functions.len() > 100, "found {} functions in marline.h", functions.len());
    let missing: Vec<&&str> = functions.iter().filter(|f| !exported.contains(**f)).collect();
    assert!(missing.is_empty(), "not exported from {}: {missing:?}", native.display());
    let _ = std::fs::remove_dir_all(&work);
}
