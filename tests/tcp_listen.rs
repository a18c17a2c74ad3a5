//! Listening ports and addresses: get_host/get_peer over IPv4 and IPv6,
//! printable forms, port 0, bad interfaces, ports in use, stop_listening.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use marline::{Address, ErrorKind, Reactor, ReasonKind};

fn port_of_lp(lp: &marline::ListeningPort) -> u16 {
    match lp.host().unwrap() {
        Address::Inet(a) => a.port(),
        other => panic!("{other}"),
    }
}

fn inet(a: Address) -> SocketAddr {
    match a {
        Address::Inet(a) => a,
        other => panic!("{other}"),
    }
}

/// Listens on `iface`, connects a marline client to `connect_to`, and
/// checks both ends' host and peer against the std view.
fn addresses_over(iface: &str, connect_to: &str, text_prefix: &str) {
    let r = Reactor::new().unwrap();
    let slog: Log = Default::default();
    let s2 = slog.clone();
    let server_t = std::rc::Rc::new(std::cell::RefCell::new(None));
    let st2 = server_t.clone();
    let lp = r
        .listen_tcp(iface, 0, 0, move |peer| {
            let rec = Recorder::new(&s2);
            *st2.borrow_mut() = Some((rec.current.clone(), *peer));
            Box::new(rec)
        })
        .unwrap();
    let port = port_of_lp(&lp);
    assert_ne!(port, 0, "port 0 gives the real port");
    let clog: Log = Default::default();
    let client = r.connect_tcp(connect_to, port, None, Box::new(Recorder::new(&clog))).unwrap();
    run_until(&r, || has(&clog, |e| *e == Ev::Made) && has(&slog, |e| *e == Ev::Made));
    let (cur, factory_peer) = server_t.borrow().clone().unwrap();
    let server = cur.borrow().clone().unwrap();

    let (ch, cp) = (inet(client.host().unwrap()), inet(client.peer().unwrap()));
    let (sh, sp) = (inet(server.host().unwrap()), inet(server.peer().unwrap()));
    assert_eq!(cp.port(), port);
    assert_eq!(ch, sp, "client host = server peer");
    assert_eq!(cp, sh, "client peer = server host");
    assert_eq!(factory_peer, Address::Inet(sp), "the factory is told the peer");
    assert_eq!(client.peer().unwrap().to_string(), format!("{text_prefix}:{port}"));
    assert_eq!(server.host().unwrap().to_string(), format!("{text_prefix}:{port}"));
    assert_eq!(server.peer().unwrap().to_string(), format!("{text_prefix}:{}", ch.port()));
    assert_eq!(ch.is_ipv6(), text_prefix.starts_with('['));
}

#[test]
fn host_and_peer_over_ipv4() {
    addresses_over("127.0.0.1", "127.0.0.1", "127.0.0.1");
}

#[test]
fn host_and_peer_over_ipv6() {
    addresses_over("::1", "::1", "[::1]");
}

#[test]
fn bracketed_ipv6_literal_connects() {
    addresses_over("::1", "[::1]", "[::1]");
}

#[test]
fn listening_host_has_the_real_port_and_printable_form() {
    let r = Reactor::new().unwrap();
    let lp = r.listen_tcp("127.0.0.1", 0, 5, |_| Box::new(Recorder::new(&Default::default()))).unwrap();
    let a = inet(lp.host().unwrap());
    assert_eq!(a.ip().to_string(), "127.0.0.1");
    assert_eq!(lp.host().unwrap().to_string(), format!("127.0.0.1:{}", a.port()));
    // Something really listens there.
    TcpStream::connect(a).unwrap();
    let lp6 = r.listen_tcp("::1", 0, 0, |_| Box::new(Recorder::new(&Default::default()))).unwrap();
    let a6 = inet(lp6.host().unwrap());
    assert_eq!(lp6.host().unwrap().to_string(), format!("[::1]:{}", a6.port()));
}

#[test]
fn empty_interface_listens_on_all_ipv4() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    let lp = r.listen_tcp("", 0, 0, move |_| Box::new(Recorder::new(&l2))).unwrap();
    let a = inet(lp.host().unwrap());
    assert_eq!(a.ip().to_string(), "0.0.0.0");
    let _c = TcpStream::connect(("127.0.0.1", a.port())).unwrap();
    run_until(&r, || has(&log, |e| *e == Ev::Made));
}

#[test]
fn bad_interface_strings_are_bad_address() {
    let r = Reactor::new().unwrap();
    for bad in ["nonsense", "127.0.0.1:80", "1.2.3.4.5", "::g", "[::1]", " 127.0.0.1", "localhost", "300.1.1.1"] {
        let got = r.listen_tcp(bad, 0, 0, |_| Box::new(Recorder::new(&Default::default())));
        assert!(matches!(got.as_ref().map_err(|e| e.kind()), Err(ErrorKind::BadAddress)), "{bad:?}: {:?}", got.err());
    }
    // Parses, but is no address of this machine.
    let got = r.listen_tcp("192.0.2.1", 0, 0, |_| Box::new(Recorder::new(&Default::default())));
    assert!(matches!(got.as_ref().map_err(|e| e.kind()), Err(ErrorKind::BadAddress)), "{:?}", got.err());
    assert_eq!(r.object_count(), 0, "nothing half made");
}

#[test]
fn port_in_use_is_address_in_use() {
    let r = Reactor::new().unwrap();
    let std_l = std_listener(None);
    let got = r.listen_tcp("127.0.0.1", port_of(&std_l), 0, |_| Box::new(Recorder::new(&Default::default())));
    assert!(matches!(got.as_ref().map_err(|e| e.kind()), Err(ErrorKind::AddressInUse)), "{:?}", got.err());
    let lp = r.listen_tcp("127.0.0.1", 0, 0, |_| Box::new(Recorder::new(&Default::default()))).unwrap();
    let got = r.listen_tcp("127.0.0.1", port_of_lp(&lp), 0, |_| Box::new(Recorder::new(&Default::default())));
    assert!(matches!(got.as_ref().map_err(|e| e.kind()), Err(ErrorKind::AddressInUse)), "{:?}", got.err());
    assert_eq!(r.object_count(), 1);
}

#[test]
fn stop_listening_refuses_new_connections_and_keeps_accepted_ones() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    let lp = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| {
            let rec = Recorder::new(&l2).hook(|t, ev| {
                if let Ev::Data(d) = ev {
                    t.write(d).unwrap();
                }
            });
            Box::new(rec)
        })
        .unwrap();
    let port = port_of_lp(&lp);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    run_until(&r, || has(&log, |e| *e == Ev::Made));
    lp.stop_listening().unwrap();
    assert_eq!(lp.stop_listening(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(lp.host(), Err(ErrorKind::StaleHandle.into()));
    let refused = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The accepted connection still works both ways.
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    let echo = std::thread::spawn(move || {
        c.read_exact(&mut buf).unwrap();
        (c, buf)
    });
    run_until(&r, || echo.is_finished());
    let (c, buf) = echo.join().unwrap();
    assert_eq!(&buf, b"ping");
    drop(c);
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"ping".to_vec()), Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn stop_listening_from_inside_the_factory() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    let slot: std::rc::Rc<std::cell::RefCell<Option<marline::ListeningPort>>> = Default::default();
    let s2 = slot.clone();
    let lp = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| {
            s2.borrow().as_ref().unwrap().stop_listening().unwrap();
            Box::new(Recorder::new(&l2))
        })
        .unwrap();
    let port = port_of_lp(&lp);
    *slot.borrow_mut() = Some(lp);
    let _a = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _b = TcpStream::connect(("127.0.0.1", port));
    run_until(&r, || has(&log, |e| *e == Ev::Made));
    run_for(&r, Duration::from_millis(50));
    assert_eq!(*log.borrow(), [Ev::Made], "one accepted, then no more");
}

#[test]
fn reuse_port_lets_reactors_on_two_threads_share_a_port() {
    use marline::ListenOptions;
    let opts = ListenOptions { reuse_port: true };
    // Without the option, a second listener on the port is refused.
    let r = Reactor::new().unwrap();
    let lp = r.listen_tcp("127.0.0.1", 0, 0, |_| Box::new(marline_echo())).unwrap();
    let plain_port = port_of_lp(&lp);
    assert_eq!(
        r.listen_tcp_with("127.0.0.1", plain_port, 0, opts, |_| Box::new(marline_echo())).err().map(|e| e.kind()),
        Some(ErrorKind::AddressInUse)
    );
    drop(r);

    // With it, one reactor per thread listens on the same port, and
    // connections reach both (the kernel spreads them by address hash).
    let first = Reactor::new().unwrap();
    let lp = first.listen_tcp_with("127.0.0.1", 0, 0, opts, |_| Box::new(marline_echo())).unwrap();
    let port = port_of_lp(&lp);
    let (tx, rx) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        let r = Reactor::new().unwrap();
        let served = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let s2 = served.clone();
        r.listen_tcp_with("127.0.0.1", port, 0, opts, move |_| {
            s2.set(s2.get() + 1);
            Box::new(marline_echo())
        })
        .unwrap();
        tx.send(r.stopper()).unwrap();
        r.run().unwrap();
        served.get()
    });
    let stopper = rx.recv().unwrap();
    let clients = std::thread::spawn(move || {
        for i in 0..40u8 {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&[i; 5]).unwrap();
            let mut back = [0u8; 5];
            s.read_exact(&mut back).unwrap();
            assert_eq!(back, [i; 5]);
        }
    });
    // Serve this reactor's share until the clients are done.
    while !clients.is_finished() {
        first.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    clients.join().unwrap();
    stopper.stop();
    let served_there = other.join().unwrap();
    assert!(served_there > 0 && served_there < 40, "the other reactor served {served_there} of 40 connections");
}

/// An echo protocol.
fn marline_echo() -> impl marline::Protocol {
    struct Echo;
    impl marline::Protocol for Echo {
        fn data_received(&mut self, t: &marline::Transport, data: &[u8]) {
            t.write(data).unwrap();
        }
    }
    Echo
}
