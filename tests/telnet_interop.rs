//! Interop with real telnet peers:
//! - marline's telnet server with a real client (inetutils-telnet, driven by expect): ECHO
//!   and SGA agreed, NAWS reported with the client's terminal size, typed text echoed;
//! - marline as a client against a Twisted telnet server (tests/peers/twisted_telnet_server.py).
//!
//! Missing tools FAIL the tests with a message saying what to install (scripts/install-deps.sh
//! installs them all) — they never skip.

mod cbuild;
mod telnet_common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marline::telnet::opt::{ECHO, NAWS, SGA, TTYPE};
use marline::telnet::transport::{Completion, Side};
use marline::{Reactor, ReasonKind};
use telnet_common::*;

fn require_twisted() {
    let ok = Command::new("python3")
        .args(["-c", "import twisted.conch.telnet"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "Twisted is not importable by python3: run scripts/install-deps.sh as root");
}

/// Kills the child when the test ends, however it ends.
struct Reap(Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn marline_server_with_a_real_telnet_client() {
    let expect = cbuild::require_tool(&["expect"], "expect");
    let client = cbuild::require_tool(&["inetutils-telnet", "telnet"], "inetutils-telnet");
    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let l2 = log.clone();
    let port = telnet_port(&r, move || {
        let l3 = l2.clone();
        Box::new(Rec::new(&l2).hook(move |t, ev| match ev {
            TEv::Made => {
                t.set_negotiation_timeout(Some(Duration::from_secs(5))).unwrap();
                t.will(ECHO, done_to(&l3, ECHO)).unwrap();
                t.will(SGA, done_to(&l3, SGA)).unwrap();
                t.do_(NAWS, done_to(&l3, NAWS)).unwrap();
            }
            // We agreed to ECHO: echo what the client types (a real small telnetd).
            TEv::Data(d) => {
                t.write(d).unwrap();
                if d.windows(3).any(|w| w == b"bye") || data(&l3).windows(3).any(|w| w == b"bye") {
                    t.lose_connection().unwrap();
                }
            }
            _ => {}
        }))
    });
    let script = format!(
        r#"
set timeout 10
set stty_init "rows 33 columns 101"
spawn -noecho {client} 127.0.0.1 {port}
expect {{
    "Escape character" {{}}
    timeout {{ puts "TIMEOUT waiting for the banner"; exit 3 }}
}}
sleep 0.3
send "hello marline"
expect {{
    "hello marline" {{}}
    timeout {{ puts "TIMEOUT waiting for the echo"; exit 4 }}
}}
send "bye\r"
expect {{
    eof {{}}
    timeout {{ puts "TIMEOUT waiting for the close"; exit 5 }}
}}
exit 0
"#,
        client = client.display()
    );
    let child = Command::new(&expect)
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run expect");
    let mut child = Reap(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        r.run_once(Some(Duration::from_millis(10))).unwrap();
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the telnet client session did not finish; events: {:?}", log.borrow());
    };
    let mut out = String::new();
    use std::io::Read;
    child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "expect/telnet failed ({status}):\n{out}\nserver events: {:?}", log.borrow());
    run_until(&r, "server sees the close", || lost(&log));
    let events = log.borrow();
    assert!(events.contains(&TEv::Done(ECHO, Completion::Ok)), "ECHO agreed: {events:?}");
    assert!(events.contains(&TEv::Done(SGA, Completion::Ok)), "SGA agreed: {events:?}");
    assert!(events.contains(&TEv::Done(NAWS, Completion::Ok)), "NAWS agreed: {events:?}");
    assert!(events.contains(&TEv::Naws(101, 33)), "NAWS reported the client's 101x33 terminal: {events:?}");
    let typed = data(&log);
    assert!(typed.windows(13).any(|w| w == b"hello marline"), "typed text arrived: {typed:?}");
}

#[test]
fn marline_client_against_a_twisted_server() {
    require_twisted();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/twisted_telnet_server.py");
    let child = Command::new("python3")
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python3");
    let mut child = Reap(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("the Twisted server printed {line:?}, not a port"));

    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let c = r
        .connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&log).accept_remote(&[ECHO]).accept_local(&[NAWS])))
        .unwrap();
    c.set_negotiation_timeout(Some(Duration::from_secs(5))).unwrap();
    c.do_(SGA, done_to(&log, SGA)).unwrap();
    c.will(TTYPE, done_to(&log, TTYPE)).unwrap();
    run_until(&r, "Twisted's requests agreed", || {
        let d = data(&log);
        d.windows(12).any(|w| w == b"WILL-ECHO-OK") && d.windows(10).any(|w| w == b"DO-NAWS-OK")
    });
    assert!(c.is_enabled(ECHO, Side::Remote).unwrap());
    assert!(c.is_enabled(NAWS, Side::Local).unwrap());
    c.send_window_size(100, 40).unwrap();
    run_until(&r, "NAWS reported by Twisted", || data(&log).windows(11).any(|w| w == b"NAWS 100 40"));
    run_until(&r, "our requests answered", || count(&log, |e| matches!(e, TEv::Done(..))) == 2);
    assert!(has(&log, &TEv::Done(SGA, Completion::Ok)), "{:?}", log.borrow());
    assert!(has(&log, &TEv::Done(TTYPE, Completion::Refused)), "{:?}", log.borrow());
    // Escaping both ways: 0xFF and newlines survive the round trip through Twisted.
    c.write(b"hello \xff world\n").unwrap();
    run_until(&r, "echo", || data(&log).windows(19).any(|w| w == b"ECHO:hello \xff world\n"));
    c.lose_connection().unwrap();
    run_until(&r, "closed", || lost(&log));
    assert!(matches!(log.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))));
}
