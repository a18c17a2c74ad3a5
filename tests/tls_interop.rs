//! The session core over real TCP sockets (a small blocking driver, not the reactor)
//! against real OpenSSL peers: `openssl s_server`, `openssl s_client`, and Python's ssl
//! module. Certificates are generated per test and written to a temporary directory.
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use marline::tls::{
    CertificateProblem as P, ClientConfig, ClientConfigBuilder, ServerConfig, ServerConfigBuilder, TlsErrorKind,
    Version,
};
use tls::*;

const LIMIT: Duration = Duration::from_secs(20);

struct Files {
    dir: TempDir,
    ca: Ca,
}

impl Files {
    fn new(tag: &str) -> Files {
        let dir = TempDir::new(tag);
        let ca = Ca::new("interop CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Files { dir, ca }
    }
    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    /// Writes `<stem>.crt` / `<stem>.key` for a certificate valid for `names`.
    fn leaf(&self, stem: &str, leaf: &Leaf) -> (String, String) {
        let (c, k) = leaf.write(self.dir.path(), stem);
        (c.display().to_string(), k.display().to_string())
    }
    fn client_config(&self, f: impl FnOnce(&mut ClientConfigBuilder)) -> ClientConfig {
        let mut b = ClientConfigBuilder::new();
        b.roots(self.ca.roots());
        f(&mut b);
        b.build().unwrap()
    }
}

/// A child process whose stdout and stderr are collected into one string.
struct Peer {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Peer {
    fn spawn(program: &str, args: &[&str]) -> Peer {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} must be installed (scripts/install-deps.sh): {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let output = output.clone();
            readers.push(thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = output.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            }));
        }
        Peer { child, output, readers }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Wait until the output contains `text`; returns the output.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let o = self.output();
            if o.contains(text) {
                return o;
            }
            assert!(Instant::now() < deadline, "no {text:?} in:\n{o}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The readers end at the pipes' EOF, with the last lines taken.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "peer did not exit:\n{}", self.output());
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stdin(&mut self, data: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_server` on an ephemeral port; returns it and the port.
fn s_server(args: &[&str]) -> (Peer, u16) {
    let mut all = vec!["s_server", "-accept", "127.0.0.1:0", "-naccept", "1"];
    all.extend_from_slice(args);
    let peer = Peer::spawn("openssl", &all);
    let out = peer.wait_for("ACCEPT 127.0.0.1:");
    let port = out.split("ACCEPT 127.0.0.1:").nth(1).unwrap().lines().next().unwrap().trim().parse().unwrap();
    (peer, port)
}

fn dial(c: &ClientConfig, name: &str, port: u16) -> Wire {
    Wire::new(End::client(c, name), TcpStream::connect(("127.0.0.1", port)).unwrap())
}

// Our client against `openssl s_server -rev` (each line comes back reversed), TLS 1.2 and
// 1.3; the negotiated parameters agree with what s_server reports.
#[test]
fn client_talks_to_openssl_s_server() {
    let f = Files::new("s-server");
    let (cert, key) = f.leaf("server", &f.ca.leaf(&["localhost"]));
    for (flag, version, suite) in [
        ("-tls1_3", Version::Tls13, "TLS_AES_256_GCM_SHA384"),
        ("-tls1_2", Version::Tls12, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    ] {
        let (server, port) = s_server(&["-cert", &cert, "-key", &key, "-rev", flag]);
        let mut w = dial(&f.client_config(|_| {}), "localhost", port);
        w.end.write(b"hello world\nsecond line\n");
        w.run_until(LIMIT, |e| e.data().len() >= 24);
        assert_eq!(w.end.events, vec![Ev::Handshake, Ev::Data(b"dlrow olleh\nenil dnoces\n".to_vec())]);
        assert_eq!(w.end.s.protocol_version(), Some(version));
        assert_eq!(w.end.s.cipher_suite(), Some(suite));
        let openssl_name = if version == Version::Tls13 { suite } else { "ECDHE-ECDSA-AES256-GCM-SHA384" };
        server.wait_for(&format!("Ciphersuite: {openssl_name}"));
        // A big write comes back byte for byte (lines of 1000 bytes, reversed).
        let line: Vec<u8> = pattern(999, 9).iter().map(|b| b'a' + b % 26).chain([b'\n']).collect();
        let mut expect = w.end.data();
        for _ in 0..200 {
            w.end.write(&line);
            expect.extend(line[..999].iter().rev().chain([&b'\n']));
        }
        w.run_until(LIMIT, |e| e.data().len() >= expect.len());
        assert_eq!(w.end.data(), expect);
        assert!(w.end.s.close(&mut w.end.out));
        w.flush();
        server.wait_for("CONNECTION CLOSED");
    }
}

// s_server asks for (-verify) or requires (-Verify) a client certificate and offers ALPN.
#[test]
fn client_certificate_and_alpn_with_openssl_s_server() {
    let f = Files::new("s-server-auth");
    let (cert, key) = f.leaf("server", &f.ca.leaf(&["localhost"]));
    let client_leaf = f.ca.leaf(&["client.test"]);
    let ca = f.p("ca.pem");
    let (mut server, port) =
        s_server(&["-cert", &cert, "-key", &key, "-rev", "-Verify", "1", "-CAfile", &ca, "-alpn", "h2,http/1.1"]);
    let c = f.client_config(|b| {
        b.identity(client_leaf.identity());
        b.alpn(&[b"http/1.1"]).unwrap();
    });
    let mut w = dial(&c, "localhost", port);
    w.end.write(b"abc\n");
    w.run_until(LIMIT, |e| e.data().len() >= 4);
    assert_eq!(w.end.events, vec![Ev::Handshake, Ev::Data(b"cba\n".to_vec())]);
    assert_eq!(w.end.s.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(w.end.s.close(&mut w.end.out));
    w.flush();
    drop(w);
    // s_server's stdout is a pipe, so block-buffered: read it once s_server has exited.
    server.wait_exit();
    let out = server.output();
    assert!(out.contains("Peer certificate: CN = client.test"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(out.contains("ALPN protocols advertised by the client: http/1.1"), "{out}");

    // Required, and none presented: s_server refuses; our client reads its alert.
    let (server, port) = s_server(&["-cert", &cert, "-key", &key, "-rev", "-Verify", "1", "-CAfile", &ca]);
    let mut w = dial(&f.client_config(|_| {}), "localhost", port);
    w.end.write(b"abc\n");
    w.run_to_eof(LIMIT);
    let e = w.end.error.clone().expect("refused");
    assert_eq!(e.kind(), TlsErrorKind::AlertReceived(116));
    assert_eq!(e.message(), "the peer sent a fatal alert: certificate_required (116)");
    assert!(server.wait_for("peer did not return a certificate").contains("peer did not return a certificate"));
}

// Each certificate error gives the right reason against an OpenSSL server, and OpenSSL
// reports the alert our client sent.
#[test]
fn client_rejects_bad_server_certificates_from_openssl() {
    let f = Files::new("s-server-bad");
    let expired = f.ca.leaf_with(&["localhost"], |p| p.not_after = rcgen::date_time_ymd(2021, 1, 1));
    let other_ca = Ca::new("unknown CA").leaf(&["localhost"]);
    let right = f.ca.leaf(&["localhost"]);
    for (leaf, name, problem, openssl_says) in [
        (&expired, "localhost", P::Expired, "alert certificate expired"),
        (&right, "wrong.test", P::WrongHostName, "alert bad certificate"),
        (&other_ca, "localhost", P::UnknownCa, "alert unknown ca"),
    ] {
        let (cert, key) = f.leaf("server", leaf);
        let (server, port) = s_server(&["-cert", &cert, "-key", &key, "-rev"]);
        let mut w = dial(&f.client_config(|_| {}), name, port);
        w.run_to_eof(LIMIT);
        let e = w.end.error.clone().expect("rejected");
        assert_eq!(e.kind(), TlsErrorKind::Certificate(problem), "{e}");
        assert!(e.message().starts_with("certificate verify failed: "), "{e}");
        server.wait_for(openssl_says);
    }
}

/// Echo server loop on a Wire: echo, close after `close_after` bytes, then read to EOF.
fn echo(w: &mut Wire, close_after: usize) {
    let mut echoed = 0;
    let deadline = Instant::now() + LIMIT;
    loop {
        let data = w.end.data();
        if data.len() > echoed && !w.end.s.write_closed() {
            let fresh = data[echoed..].to_vec();
            w.end.write(&fresh);
            echoed = data.len();
            if echoed >= close_after && !w.end.s.write_closed() {
                w.end.s.close(&mut w.end.out);
            }
        }
        // Answer the peer's close_notify with ours (unwrap() on the peer waits for it).
        if w.end.s.peer_closed() && !w.end.s.write_closed() {
            w.end.s.close(&mut w.end.out);
        }
        w.flush();
        if w.end.error.is_some() || w.eof {
            break;
        }
        w.read_once();
        assert!(Instant::now() < deadline, "echo server timed out: {:?}", w.end.events);
    }
    if w.eof && w.end.error.is_none() {
        if let Err(e) = w.end.s.feed_eof() {
            w.end.error = Some(e);
        }
    }
}

/// `openssl s_client` connecting to our server on `port`, trusting `ca`.
fn s_client(port: u16, ca: &str, extra: &[&str]) -> Peer {
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["s_client", "-connect", &addr, "-CAfile", ca];
    all.extend_from_slice(extra);
    Peer::spawn("openssl", &all)
}

fn listen() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn accept_and_echo(listener: TcpListener, config: ServerConfig, close_after: usize) -> thread::JoinHandle<Wire> {
    thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let mut w = Wire::new(End::server(&config), sock);
        echo(&mut w, close_after);
        w
    })
}

// Our server against `openssl s_client`, TLS 1.2 and 1.3: every byte echoed; our
// close_notify ends s_client cleanly.
#[test]
fn server_talks_to_openssl_s_client() {
    let f = Files::new("s-client");
    let leaf = f.ca.leaf(&["localhost"]);
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let data: Vec<u8> = pattern(100_000, 11).iter().map(|b| b'a' + b % 26).collect();
    for flag in ["-tls1_3", "-tls1_2"] {
        let (listener, port) = listen();
        let server = accept_and_echo(listener, s.clone(), data.len());
        let ca = f.p("ca.pem");
        let mut client = s_client(port, &ca, &["-quiet", "-verify_return_error", "-servername", "localhost", flag]);
        client.stdin(&data);
        assert_eq!(client.wait_exit(), 0, "{}", client.output());
        let w = server.join().unwrap();
        let out = client.output();
        assert!(out.contains(std::str::from_utf8(&data).unwrap()), "echo not seen");
        assert_eq!(w.end.data(), data);
        assert_eq!(w.end.s.server_name(), Some("localhost"));
    }
}

// Resumption with s_client -sess_out / -sess_in: the second handshake is resumed on both
// sides.
#[test]
fn server_resumes_openssl_sessions() {
    let f = Files::new("s-client-resume");
    let leaf = f.ca.leaf(&["localhost"]);
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let sess = f.p("session.pem");
    let ca = f.p("ca.pem");
    for flag in ["-tls1_3", "-tls1_2"] {
        let mut resumed = Vec::new();
        for (i, sess_flag) in ["-sess_out", "-sess_in"].into_iter().enumerate() {
            let (listener, port) = listen();
            let server = accept_and_echo(listener, s.clone(), 3);
            let mut client = s_client(port, &ca, &["-servername", "localhost", sess_flag, &sess, flag, "-ign_eof"]);
            client.stdin(b"hi\n");
            assert_eq!(client.wait_exit(), 0, "{}", client.output());
            let w = server.join().unwrap();
            resumed.push(w.end.s.is_resumed());
            let out = client.output();
            let expect = if i == 0 { "New, " } else { "Reused, " };
            assert!(out.contains(expect), "{flag} run {i}: {out}");
        }
        assert_eq!(resumed, vec![false, true], "{flag}");
    }
}

// s_client rejects our server's bad certificates with the right text, and our server reads
// the alert.
#[test]
fn openssl_s_client_rejects_bad_certificates_from_our_server() {
    let f = Files::new("s-client-bad");
    let expired = f.ca.leaf_with(&["localhost"], |p| p.not_after = rcgen::date_time_ymd(2021, 1, 1));
    let stranger = Ca::new("unknown CA").leaf(&["localhost"]);
    let right = f.ca.leaf(&["localhost"]);
    let ca = f.p("ca.pem");
    for (leaf, host, openssl_says, alert) in [
        (&expired, "localhost", "certificate has expired", 45),
        (&right, "wrong.test", "hostname mismatch", 42),
        (&stranger, "localhost", "unable to get local issuer certificate", 48),
    ] {
        let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
        let (listener, port) = listen();
        let server = accept_and_echo(listener, s, 1);
        let mut client = s_client(port, &ca, &["-verify_return_error", "-verify_hostname", host, "-quiet"]);
        assert_ne!(client.wait_exit(), 0);
        assert!(client.output().contains(openssl_says), "{}", client.output());
        let w = server.join().unwrap();
        assert_eq!(w.end.error.as_ref().map(|e| e.kind()), Some(TlsErrorKind::AlertReceived(alert)), "{openssl_says}");
    }
}

const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile, host, mode, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", port))
try:
    s = ctx.wrap_socket(raw, server_hostname=host)
except ssl.SSLCertVerificationError as e:
    print("VERIFY:", e.verify_message, flush=True)
    sys.exit(3)
data = bytes((i * 7 + 3) % 256 for i in range(n))
s.sendall(data)
got = b""
while len(got) < n:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
print("ECHO", "ok" if got == data else "bad", s.version(), s.cipher()[0], flush=True)
if mode == "clean":
    s.unwrap()   # close_notify, then wait for the peer's
raw.close()      # "dirty": no close_notify at all
"#;

const PY_SERVER: &str = r#"
import socket, ssl, sys
cert, key = sys.argv[1], sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print("PORT", ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
s = ctx.wrap_socket(conn, server_side=True)
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break   # the client's close_notify
    got += chunk
s.sendall(got[::-1])   # written after the client's half-close
version = s.version()
s.unwrap()
print("SERVER", len(got), version, flush=True)
"#;

// Python's ssl module (OpenSSL) as client: a clean close (unwrap: close_notify both ways)
// and a dirty one (socket closed without close_notify), which our server reports as
// truncation.
#[test]
fn python_client_clean_close_and_truncation() {
    let f = Files::new("py-client");
    let leaf = f.ca.leaf(&["localhost"]);
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let ca = f.p("ca.pem");
    let n = 300_000;
    let expect: Vec<u8> = (0..n).map(|i| ((i * 7 + 3) % 256) as u8).collect();
    for mode in ["clean", "dirty"] {
        let (listener, port) = listen();
        // Never close first: the client decides how the connection ends (unwrap() waits
        // for our close_notify, which the echo loop sends on PeerClosed).
        let server = accept_and_echo(listener, s.clone(), usize::MAX);
        let mut py =
            Peer::spawn("python3", &["-c", PY_CLIENT, &port.to_string(), &ca, "localhost", mode, &n.to_string()]);
        assert_eq!(py.wait_exit(), 0, "{}", py.output());
        assert!(py.output().contains("ECHO ok TLSv1.3 TLS_AES_256_GCM_SHA384"), "{}", py.output());
        let w = server.join().unwrap();
        assert_eq!(w.end.data(), expect);
        match mode {
            "clean" => {
                assert_eq!(w.end.events.last(), Some(&Ev::PeerClosed));
                assert!(w.end.error.is_none(), "{:?}", w.end.error);
            }
            _ => {
                let e = w.end.error.clone().expect("truncation");
                assert_eq!(e.kind(), TlsErrorKind::Truncated);
                assert!(!w.end.events.contains(&Ev::PeerClosed));
            }
        }
    }
}

// Python's ssl module as server; our client half-closes (TLS 1.3 close_notify) and still
// reads the answer the server writes afterwards, then the server's close_notify.
#[test]
fn python_server_answers_after_our_half_close() {
    let f = Files::new("py-server");
    let (cert, key) = f.leaf("server", &f.ca.leaf(&["localhost"]));
    let py = Peer::spawn("python3", &["-c", PY_SERVER, &cert, &key]);
    let out = py.wait_for("PORT ");
    let port: u16 = out.split("PORT ").nth(1).unwrap().lines().next().unwrap().parse().unwrap();
    let mut w = dial(&f.client_config(|_| {}), "localhost", port);
    let data = pattern(200_000, 12);
    w.end.write(&data);
    w.run_until(LIMIT, |e| !e.s.is_handshaking());
    w.end.s.close_write(&mut w.end.out).unwrap();
    w.run_until(LIMIT, |e| e.events.last() == Some(&Ev::PeerClosed));
    let reversed: Vec<u8> = data.iter().rev().copied().collect();
    assert_eq!(w.end.events, vec![Ev::Handshake, Ev::Data(reversed), Ev::PeerClosed]);
    py.wait_for("SERVER 200000 TLSv1.3");
}

// A Python client rejects our server's expired certificate with OpenSSL's text.
#[test]
fn python_client_rejects_an_expired_certificate() {
    let f = Files::new("py-expired");
    let leaf = f.ca.leaf_with(&["localhost"], |p| p.not_after = rcgen::date_time_ymd(2021, 1, 1));
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let (listener, port) = listen();
    let server = accept_and_echo(listener, s, 1);
    let mut py =
        Peer::spawn("python3", &["-c", PY_CLIENT, &port.to_string(), &f.p("ca.pem"), "localhost", "clean", "1"]);
    assert_eq!(py.wait_exit(), 3);
    assert!(py.output().contains("VERIFY: certificate has expired"), "{}", py.output());
    let w = server.join().unwrap();
    assert_eq!(w.end.error.unwrap().kind(), TlsErrorKind::AlertReceived(45));
}

// s_client's interactive commands: "K" (TLS 1.3 KeyUpdate, update requested: RFC 8446
// §4.6.3) is answered and data goes on; "R" (TLS 1.2 renegotiation) is refused.
#[test]
fn key_update_and_renegotiation_from_openssl_s_client() {
    let f = Files::new("s-client-commands");
    let leaf = f.ca.leaf(&["localhost"]);
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let ca = f.p("ca.pem");
    for (flag, command, echo) in [("-tls1_3", "K\n", "KEYUPDATE"), ("-tls1_2", "R\n", "RENEGOTIATING")] {
        let (listener, port) = listen();
        let server = accept_and_echo(listener, s.clone(), 13);
        let mut client = s_client(port, &ca, &[flag]);
        client.stdin(b"first\n");
        client.wait_for("\nfirst\n");
        // s_client takes a whole read of its stdin as one command: one line at a time.
        client.stdin(command.as_bytes());
        client.wait_for(echo);
        client.stdin(b"second\n");
        let code = client.wait_exit();
        let w = server.join().unwrap();
        if flag == "-tls1_3" {
            assert_eq!(code, 0);
            assert_eq!(w.end.events, vec![Ev::Handshake, Ev::Data(b"first\nsecond\n".to_vec()), Ev::PeerClosed]);
            assert!(w.end.error.is_none());
            assert!(client.output().contains("KEYUPDATE\nsecond\n"), "{}", client.output());
        } else {
            // rustls answers the new ClientHello with a no_renegotiation warning (RFC 5746
            // §4.2 lets a server refuse); OpenSSL's client then gives up with
            // handshake_failure, and that is the reason our side reports.
            assert_eq!(code, 1);
            assert!(client.output().contains("no renegotiation"), "{}", client.output());
            assert_eq!(w.end.events, vec![Ev::Handshake, Ev::Data(b"first\n".to_vec())]);
            let e = w.end.error.clone().unwrap();
            assert_eq!(e.kind(), TlsErrorKind::AlertReceived(40));
            assert_eq!(e.message(), "the peer sent a fatal alert: handshake_failure (40)");
        }
    }
}

// GnuTLS's client (gnutls-cli) against our server, TLS 1.2 and 1.3: every byte echoed, and
// our close_notify is seen as a clean close.
#[test]
fn server_talks_to_gnutls_cli() {
    let f = Files::new("gnutls");
    let leaf = f.ca.leaf(&["localhost"]);
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let data: Vec<u8> = pattern(50_000, 13).iter().map(|b| b'a' + b % 26).collect();
    for (priority, version) in
        [("NORMAL:-VERS-ALL:+VERS-TLS1.3", "TLS1.3"), ("NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLS1.2")]
    {
        let (listener, port) = listen();
        let server = accept_and_echo(listener, s.clone(), data.len());
        let ca = f.p("ca.pem");
        let port_s = port.to_string();
        let mut client =
            Peer::spawn("gnutls-cli", &["--x509cafile", &ca, "--priority", priority, "-p", &port_s, "localhost"]);
        client.wait_for("- Handshake was completed");
        client.stdin(&data);
        assert_eq!(client.wait_exit(), 0, "{}", client.output());
        let w = server.join().unwrap();
        let out = client.output();
        assert!(out.contains(std::str::from_utf8(&data).unwrap()), "echo not seen");
        assert!(out.contains(&format!("- Description: ({version}-X.509)")), "{out}");
        assert!(out.contains("- Peer has closed the GnuTLS connection"), "{out}");
        assert_eq!(w.end.data(), data);
        // gnutls-cli exits on our close_notify without sending its own, so the EOF after it
        // is, strictly, a truncation of its direction. (A transport that closed with
        // lose_connection has stopped reading by then and never sees it.)
        assert!(w.end.s.write_closed() && !w.end.s.peer_closed());
        assert_eq!(w.end.error.as_ref().map(|e| e.kind()), Some(TlsErrorKind::Truncated));
    }
}
