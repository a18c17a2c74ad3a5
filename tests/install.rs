//! `make install PREFIX=<tmp>` and building against the installed copy with nothing but
//! pkg-config: the layout (libmarline.so.VERSION with the soname of its ABI and its
//! links, libmarline.a, marline.h, marline.hpp, lib/pkgconfig/marline.pc and
//! marline-static.pc); the libraries stripped, the shared one's debug info in
//! lib/.debug/ named by its .gnu_debuglink; Libs.private exactly what rustc printed as
//! the archive's native-static-libs. Then examples-c/echo_server.c built with
//! `pkg-config --cflags --libs marline`, run with LD_LIBRARY_PATH and checked for its
//! first line and an echo; built with `pkg-config --cflags --libs --static marline-static`
//! and run with no libmarline.so at all; the C++ example built against the installed
//! marline.hpp. And from the tree: `-Ltarget/release -lmarline` runs (the build's soname
//! link). Missing make, pkg-config or readelf fail the test.

mod cbuild;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cbuild::{require_tool, root, run_ok};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The soname of this version's ABI: libmarline.so.0.MINOR while 0.x,
/// libmarline.so.MAJOR from 1.0 on (build.rs and the Makefile's rule).
fn soname() -> String {
    match (env!("CARGO_PKG_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MINOR")) {
        ("0", minor) => format!("libmarline.so.0.{minor}"),
        (major, _) => format!("libmarline.so.{major}"),
    }
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let text = run_ok(Command::new("pkg-config").args(args).env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    text.split_whitespace().map(String::from).collect()
}

/// Starts an echo server binary and checks its first line and one echo.
fn check_echo_server(bin: &Path, env: &[(&str, &Path)]) {
    let mut cmd = Command::new(bin);
    cmd.arg("0").stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let result = std::panic::catch_unwind(|| {
        let port: u16 = line
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"installed marline\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"installed marline\n");
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn make_install_then_build_with_pkg_config_only() {
    require_tool(&["make"], "make");
    require_tool(&["pkg-config"], "pkg-config");
    require_tool(&["readelf"], "binutils");
    let prefix: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    run_ok(Command::new("make")
        .arg("-C")
        .arg(root())
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS"));

    // The layout.
    let lib = prefix.join("lib");
    let real = format!("libmarline.so.{VERSION}");
    let soname = soname();
    assert!(lib.join(&real).is_file() && !lib.join(&real).is_symlink(), "{real} is a file");
    assert_eq!(std::fs::read_link(lib.join(&soname)).unwrap(), Path::new(&real), "{soname} -> {real}");
    assert_eq!(std::fs::read_link(lib.join("libmarline.so")).unwrap(), Path::new(&soname), "libmarline.so -> {soname}");
    for f in ["lib/libmarline.a", "include/marline.h", "include/marline.hpp", "lib/pkgconfig/marline.pc", "lib/pkgconfig/marline-static.pc"] {
        assert!(prefix.join(f).is_file(), "{f} installed");
    }
    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(lib.join(&real)));
    assert!(dynamic.contains(&format!("Library soname: [{soname}]")), "SONAME {soname}:\n{dynamic}");

    // Stripped, with the shared library's debug info apart, where its debuglink says.
    let debug = lib.join(format!(".debug/{real}.debug"));
    assert!(!sections(&lib.join(&real)).contains(".debug_info"), "{real} is stripped");
    assert!(!sections(&lib.join("libmarline.a")).contains(".debug_info"), "libmarline.a has no debug info");
    assert!(sections(&debug).contains(".debug_info"), "{} holds the debug info", debug.display());
    let link = run_ok(Command::new("readelf").args(["-p", ".gnu_debuglink"]).arg(lib.join(&real)));
    assert!(link.contains(&format!("{real}.debug")), "{real}'s .gnu_debuglink names {real}.debug:\n{link}");

    // pkg-config knows the version from Cargo.toml, and what the archive needs exactly as
    // rustc printed it for this build.
    assert_eq!(pkg_config(&prefix, &["--modversion", "marline"]), [VERSION]);
    let native = std::fs::read_to_string(release().join("native-static-libs.txt")).unwrap();
    let native: Vec<&str> = native.split_whitespace().collect();
    assert!(native.contains(&"-lpthread"), "native-static-libs: {native:?}");
    let static_libs = pkg_config(&prefix, &["--static", "--libs", "marline"]);
    assert_eq!(static_libs[1..], ["-lmarline"].iter().chain(&native).copied().collect::<Vec<_>>()[..], "{static_libs:?}");
    let static_only = pkg_config(&prefix, &["--static", "--libs", "marline-static"]);
    assert_eq!(static_only[1..], ["-l:libmarline.a"].iter().chain(&native).copied().collect::<Vec<_>>()[..], "{static_only:?}");
    let header = std::fs::read_to_string(prefix.join("include/marline.h")).unwrap();
    assert!(header.contains(&format!("#define MARLINE_VERSION_STRING \"{VERSION}\"")));

    // Dynamic: only `pkg-config --cflags --libs marline`, from a copy of the source so
    // that nothing in the repository can be picked up.
    let work = prefix.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let src = work.join("echo_server.c");
    std::fs::copy(root().join("examples-c/echo_server.c"), &src).unwrap();
    let flags = pkg_config(&prefix, &["--cflags", "--libs", "marline"]);
    let bin = work.join("echo_server");
    run_ok(Command::new("cc").arg(&src).args(&flags).arg("-o").arg(&bin));
    let needed = run_ok(Command::new("readelf").arg("-d").arg(&bin));
    assert!(needed.contains(&format!("Shared library: [{soname}]")), "links {soname} dynamically:\n{needed}");
    check_echo_server(&bin, &[("LD_LIBRARY_PATH", &lib)]);

    // Static: `pkg-config --cflags --libs --static marline-static` and nothing else.
    let static_flags = pkg_config(&prefix, &["--cflags", "--libs", "--static", "marline-static"]);
    let static_bin = work.join("echo_server_static");
    run_ok(Command::new("cc").arg(&src).args(&static_flags).arg("-o").arg(&static_bin));
    let needed = run_ok(Command::new("readelf").arg("-d").arg(&static_bin));
    assert!(!needed.contains("libmarline"), "the static build needs no libmarline.so:\n{needed}");
    check_echo_server(&static_bin, &[]);

    // C++: the installed marline.hpp, again with only pkg-config's flags.
    require_tool(&["g++"], "g++");
    let cpp_src = work.join("echo_server.cpp");
    std::fs::copy(root().join("examples-cpp/echo_server.cpp"), &cpp_src).unwrap();
    let cpp_bin = work.join("echo_server_cpp");
    run_ok(Command::new("g++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(&cpp_src)
        .args(&flags)
        .arg("-o")
        .arg(&cpp_bin));
    check_echo_server(&cpp_bin, &[("LD_LIBRARY_PATH", &lib)]);

    // From the tree: the build's directory has the soname link, so a program linked
    // with -L<release> -lmarline starts with LD_LIBRARY_PATH=<release>.
    assert_eq!(std::fs::read_link(release().join(&soname)).unwrap(), Path::new("libmarline.so"));
    let tree_bin = work.join("echo_server_tree");
    run_ok(Command::new("cc")
        .arg(&src)
        .arg("-I")
        .arg(root().join("include"))
        .arg("-L")
        .arg(release())
        .args(["-lmarline", "-o"])
        .arg(&tree_bin));
    check_echo_server(&tree_bin, &[("LD_LIBRARY_PATH", &release())]);

    let _ = std::fs::remove_dir_all(&prefix);
}

/// Where the Makefile's build puts the release libraries (CARGO_TARGET_DIR honoured).
fn release() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target")).join("release")
}

/// The section names of an ELF file or of every member of an archive.
fn sections(file: &Path) -> String {
    run_ok(Command::new("readelf").args(["-S", "-W"]).arg(file))
}
