//! examples-c/telnet_server.c with a real telnet client (inetutils-telnet driven by expect):
//! the first line names the port, the command runs on a pty whose size follows the
//! client's window (NAWS, including a resize mid-session), typed lines are echoed and
//! reach the command, and the connection closes when the command exits. Also: binding a
//! non-loopback address needs --allow-remote. Fails (never skips) when a tool is missing.

mod cbuild;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use cbuild::require_tool;

fn build_example() -> PathBuf {
    cbuild::example("telnet_server")
}

#[test]
fn telnet_server_example_with_a_real_client() {
    let expect = require_tool(&["expect"], "expect");
    let client = require_tool(&["inetutils-telnet", "telnet"], "inetutils-telnet");
    let server = build_example();
    let script = format!(
        r#"
set timeout 10
proc fail {{what}} {{ puts "\nFAILED: $what"; exit 3 }}
spawn -noecho {server} 0 -- sh -c {{read x; stty size; read y; stty size; read z; echo done-$z}}
set srv $spawn_id
expect -i $srv -re {{^listening on 127.0.0.1:([0-9]+)\r?\n}} {{}} timeout {{ fail "no listening line" }}
set port $expect_out(1,string)
set stty_init "rows 33 columns 101"
spawn -noecho {client} 127.0.0.1 $port
set cli $spawn_id
expect -i $cli "Escape character" {{}} timeout {{ fail "no banner" }}
sleep 0.5
send -i $cli "first\r"
expect -i $cli "first" {{}} timeout {{ fail "typed line not echoed" }}
expect -i $cli "33 101" {{}} timeout {{ fail "NAWS size not on the pty" }}
stty rows 40 columns 120 < $spawn_out(slave,name)
sleep 0.5
send -i $cli "second\r"
expect -i $cli "40 120" {{}} timeout {{ fail "resize not passed to the pty" }}
send -i $cli "third\r"
expect -i $cli "done-third" {{}} timeout {{ fail "command output missing" }}
expect -i $cli eof {{}} timeout {{ fail "connection not closed when the command exited" }}
puts "\nEXAMPLE_OK"
exit 0
"#,
        server = server.display(),
        client = client.display()
    );
    let out = Command::new(&expect).args(["-c", &script]).stdin(Stdio::null()).output().expect("run expect");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("EXAMPLE_OK"), "session failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The command starts once the first NAWS report is in, on a pty already that size: a
/// command that looks at its terminal straight away (no input first) sees the client's size.
#[test]
fn telnet_server_example_starts_the_command_with_the_client_window_size() {
    let expect = require_tool(&["expect"], "expect");
    let client = require_tool(&["inetutils-telnet", "telnet"], "inetutils-telnet");
    let server = build_example();
    let script = format!(
        r#"
set timeout 10
proc fail {{what}} {{ puts "\nFAILED: $what"; exit 3 }}
spawn -noecho {server} 0 -- stty size
set srv $spawn_id
expect -i $srv -re {{^listening on 127.0.0.1:([0-9]+)\r?\n}} {{}} timeout {{ fail "no listening line" }}
set port $expect_out(1,string)
set stty_init "rows 27 columns 91"
spawn -noecho {client} 127.0.0.1 $port
set cli $spawn_id
expect -i $cli -re {{\n([0-9]+ [0-9]+)\r?\n}} {{}} timeout {{ fail "no size printed" }}
set size $expect_out(1,string)
if {{$size ne "27 91"}} {{ fail "the command first saw $size, not 27 91" }}
expect -i $cli eof {{}} timeout {{ fail "connection not closed when the command exited" }}
puts "\nSTART_SIZE_OK"
exit 0
"#,
        server = server.display(),
        client = client.display()
    );
    let out = Command::new(&expect).args(["-c", &script]).stdin(Stdio::null()).output().expect("run expect");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("START_SIZE_OK"), "session failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn telnet_server_example_refuses_public_addresses_without_the_flag() {
    let server = build_example();
    let out = Command::new(&server).args(["--bind", "0.0.0.0", "0", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
    let mut child = Command::new(&server)
        .args(["--bind", "0.0.0.0", "--allow-remote", "0", "--", "true"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(line.starts_with("listening on 0.0.0.0:"), "{line}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"), "a warning is printed");
    let out = Command::new(&server).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no command: usage");
}
