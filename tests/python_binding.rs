//! Runs the Python binding's pytest suite (`python3 -m pytest -q bindings/python`) against
//! the library this test run built: MARLINE_LIB points at the debug libmarline.so and
//! MARLINE_ECHO_CLIENT at the C echo_client example. Without pytest the test fails (never
//! skips): scripts/install-deps.sh installs it.

mod cbuild;

use std::process::Command;

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
