//! The example programs, driven as other programs drive them: their command
//! lines and first output lines are contracts.

mod cbuild;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running example killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts echo_server with `args` and returns it with the port from its
/// first line, which must read "listening on 127.0.0.1:PORT".
fn start_echo_server(args: &[&str]) -> (Running, u16) {
    start_example("echo_server", args)
}

/// Starts an example server and returns it with the port from its first
/// line, which must read "listening on 127.0.0.1:PORT".
fn start_example(name: &str, args: &[&str]) -> (Running, u16) {
    let mut child = Command::new(cbuild::example(name))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Running(child), port)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn echo_server_returns_every_byte_to_100_concurrent_connections() {
    let (_server, port) = start_echo_server(&["0"]);
    let clients: Vec<_> = (0..100)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(64 * 1024 + i * 97, i as u8);
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut w = s.try_clone().unwrap();
                let expected = data.clone();
                let writer = std::thread::spawn(move || {
                    w.write_all(&data).unwrap();
                    w.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                assert!(back == expected, "connection {i}: {} bytes back of {}", back.len(), expected.len());
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Writes `next(sent)` over and over without reading until `limit` bytes went out or the
/// writes have been refused for 0.5 s (the server stopped reading); returns the bytes sent.
fn write_without_reading<'a>(s: &mut TcpStream, limit: usize, next: impl Fn(usize) -> &'a [u8]) -> usize {
    s.set_nonblocking(true).unwrap();
    let (mut sent, mut stalled_since) = (0, None);
    while sent < limit {
        match s.write(next(sent)) {
            Ok(n) => (sent, stalled_since) = (sent + n, None),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    s.set_nonblocking(false).unwrap();
    sent
}

#[test]
fn echo_server_stops_reading_from_a_peer_that_does_not_read_its_echo() {
    let (server, port) = start_echo_server(&["0"]);
    let before = rss_kib(server.0.id());
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let data = pattern(256 << 20, 7);
    let sent = write_without_reading(&mut s, data.len(), |sent| &data[sent..(sent + (1 << 20)).min(data.len())]);
    let grown = rss_kib(server.0.id()).saturating_sub(before);
    assert!(sent < data.len(), "all {sent} bytes were taken: the server never stopped reading");
    assert!(grown < 16 << 10, "server grew by {grown} KiB while the peer did not read");
    // Reading the echo lets the server go on: every byte comes back.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut back = vec![0u8; sent];
    s.read_exact(&mut back).unwrap();
    assert!(back == data[..sent], "echo of {sent} bytes differs");
}

/// Issue 12 item 6: a telnet client that sends DO/DONT ECHO toggles and never reads the
/// answers. Those answers are output marline generates in answer to input, so the server
/// stops reading from the client once they pass the high-water mark: the client's writes
/// stall and the server's RSS stays bounded (before: 2.8 MiB grew to 261 MiB).
#[test]
fn telnet_server_stops_reading_from_a_client_that_does_not_read_its_answers() {
    let (server, port) = start_example("telnet_server", &["0", "--", "sleep", "60"]);
    let before = rss_kib(server.0.id());
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    const IAC: u8 = 255;
    let block = [IAC, 253, 1, IAC, 254, 1].repeat(1 << 16); // DO ECHO, DONT ECHO
    let limit = 256 << 20;
    let sent = write_without_reading(&mut s, limit, |sent| &block[sent % block.len()..]);
    let grown = rss_kib(server.0.id()).saturating_sub(before);
    assert!(sent < limit, "all {sent} bytes were taken: the server never stopped reading");
    assert!(grown < 16 << 10, "server grew by {grown} KiB while the client did not read its answers");
}

/// Issue 12 item 1: a telnet client that goes away with a plain FIN while its command runs
/// (the process bridge holds the producer slot) ends its session. 70 such clients one
/// after another: each sees the server close, and none is turned away with "too many
/// sessions" (the limit is 64; before, every FIN left its session hanging).
#[test]
fn telnet_server_ends_the_session_of_a_client_that_sends_fin() {
    let (_server, port) = start_example("telnet_server", &["0", "--", "sh", "-c", "echo started; exec cat"]);
    for i in 0..70 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&[255, 252, 31]).unwrap(); // IAC WONT NAWS: start the command now
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("started") {
            let n = s.read(&mut buf).unwrap_or_else(|e| panic!("client {i}: {e}; got {got:?}"));
            assert!(n > 0, "client {i}: closed before the command started: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("client {i}: the session did not end after its FIN: {e}"),
            }
        }
    }
}

#[test]
fn echo_server_reports_usage_and_busy_ports() {
    let out = Command::new(cbuild::example("echo_server")).arg("not-a-port").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: echo_server [PORT]"));
    let (_server, port) = start_echo_server(&[]);
    let out = Command::new(cbuild::example("echo_server")).arg(port.to_string()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the address is already in use"), "{out:?}");
}

#[test]
fn echo_client_checks_every_byte() {
    let (_server, port) = start_echo_server(&["0"]);
    let client = cbuild::example("echo_client");
    let out = Command::new(&client).args([&port.to_string(), "hello", "marline"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, b"hello marline\n");

    let data = pattern(3 << 20, 7);
    let mut child = Command::new(&client).arg(port.to_string()).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = data.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == data, "3 MiB from stdin came back exactly");

    drop(_server);
    let out = Command::new(&client).args([&port.to_string(), "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "nothing listens any more");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"), "{out:?}");
    let out = Command::new(&client).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn producer_demo_pauses_resumes_and_delivers_everything() {
    let out = Command::new(cbuild::example("producer_demo")).arg("32").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("sent 33554432 bytes, received 33554432 bytes"), "{text}");
    assert!(text.contains("pause  at") && text.contains("resume at"), "{text}");
    assert!(text.trim_end().ends_with("OK"));
}

#[test]
fn echo_server_mt_shares_one_port_among_its_reactors() {
    let (_server, port) = start_example("echo_server_mt", &["0", "3"]);
    let clients: Vec<_> = (0..30)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(10_000 + i * 13, i as u8);
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(&data).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                assert!(back == data, "connection {i}: {} bytes back of {}", back.len(), data.len());
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let out = Command::new(cbuild::example("echo_server_mt")).args(["0", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "THREADS 0 is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: echo_server_mt [PORT] [THREADS]"));
}
