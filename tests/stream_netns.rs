//! Streams across a router, in three network namespaces (client, router,
//! server; see stream_util/netns.rs). Root only: as another user each test
//! prints why it is skipped; under root none is skipped.

mod stream_util;

use std::io::Read;
use std::net::{TcpListener, TcpStream as PlainStream};
use std::sync::mpsc;

use marline::stream::{Event, TcpState, TcpStream};
use stream_util::netns::{root_or_skip, Net, Side, SERVER};
use stream_util::*;

/// A plain server in the server namespace: accepts one connection and
/// reads it to the end. Returns the port (through `port`) and the bytes.
fn read_all_server(net: &Net, port: mpsc::Sender<u16>) -> Vec<u8> {
    net.enter(Side::Server);
    let l = TcpListener::bind((SERVER, 0)).unwrap();
    port.send(l.local_addr().unwrap().port()).unwrap();
    let (mut c, _) = l.accept().unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    got
}

#[test]
fn an_icmp_host_unreachable_raises_icmp_received_and_the_stream_stays_open() {
    // Issue 13 item 7: MacTCP raises ICMP_RECEIVED and keeps the stream.
    // Linux with IP_RECVERR reports the ICMP error on an established
    // socket as POLLERR and SO_ERROR while the connection stays open.
    if !root_or_skip("an_icmp_host_unreachable_raises_icmp_received_and_the_stream_stays_open") {
        return;
    }
    let net = Net::new();
    std::thread::scope(|scope| {
        let (port_tx, port_rx) = mpsc::channel();
        let server = scope.spawn(|| read_all_server(&net, port_tx));
        let port = port_rx.recv().unwrap();
        let net = &net;
        let client = scope.spawn(move || {
            net.enter(Side::Client);
            let s = TcpStream::new().unwrap();
            let (asr, log) = recorder();
            s.set_asr(Some(asr)).unwrap();
            s.active_open(0, SERVER, port, FIVE).unwrap();
            s.send(b"before,", true, false).unwrap();
            eventually("before, acknowledged", || s.status().unwrap().unacked_bytes == 0);
            // The router now answers packets for the server with ICMP host
            // unreachable; our next segment draws one.
            net.router_route(&["add", "unreachable", &format!("{SERVER}/32")]);
            s.send(b"during,", true, false).unwrap();
            eventually("ICMP_RECEIVED", || !events(&log).is_empty());
            let st = s.status().unwrap();
            assert_eq!(st.state, TcpState::Established, "the stream stays open");
            assert!(st.unacked_bytes > 0, "during, not delivered yet");
            // Route back: the retransmission gets through.
            net.router_route(&["del", "unreachable", &format!("{SERVER}/32")]);
            s.send(b"after", true, false).unwrap();
            s.close(Some(std::time::Duration::from_secs(20))).unwrap();
            let seen = events(&log);
            assert!(
                seen.iter().all(|&e| e == (Event::IcmpReceived, libc::EHOSTUNREACH)),
                "only ICMP_RECEIVED with EHOSTUNREACH, no TERMINATE: {seen:?}"
            );
            seen.len()
        });
        let icmp = client.join().unwrap();
        assert_eq!(server.join().unwrap(), b"before,during,after");
        println!("ICMP_RECEIVED {icmp} time(s) while the route was unreachable");
    });
}

#[test]
fn passive_open_without_an_address_listens_on_every_ipv4_interface() {
    // passive_open(port) is passive_open_on(0.0.0.0:port): shown inside
    // the server namespace, whose interfaces are its own.
    if !root_or_skip("passive_open_without_an_address_listens_on_every_ipv4_interface") {
        return;
    }
    let net = Net::new();
    std::thread::scope(|scope| {
        let (port_tx, port_rx) = mpsc::channel();
        let net = &net;
        let server = scope.spawn(move || {
            net.enter(Side::Server);
            let s = TcpStream::new().unwrap();
            s.passive_open(0).unwrap();
            let listening = s.sock_name().unwrap();
            port_tx.send(listening.port()).unwrap();
            s.wait(FIVE).unwrap();
            (listening, s.rcv(100, FIVE).unwrap().data)
        });
        let port = port_rx.recv().unwrap();
        scope.spawn(move || {
            net.enter(Side::Client);
            let mut c = PlainStream::connect((SERVER, port)).unwrap();
            std::io::Write::write_all(&mut c, b"hi").unwrap();
        });
        let (listening, got) = server.join().unwrap();
        assert_eq!(listening.to_string(), format!("0.0.0.0:{port}"));
        assert_eq!(got, b"hi");
    });
}
