//! The telnet transport over real loopback TCP: between two marline telnet endpoints and
//! against a raw socket that checks the exact bytes on the wire.

mod telnet_common;

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use marline::telnet::cmd::{DM, DO, DONT, GA, IAC, NOP, SB, SE, WILL, WONT};
use marline::telnet::opt::{ECHO, NAWS, NEW_ENVIRON, SGA, TTYPE};
use marline::telnet::options::{EnvKind, EnvVar, EnvVarKind};
use marline::telnet::transport::{Completion, OptionState, Policy, Side};
use marline::telnet::{Telnet, TelnetProtocol};
use marline::{ErrorKind, Producer, Reactor, ReasonKind, Transport};
use telnet_common::*;

/// A marline telnet server and a raw client connected to it; the server's handle.
fn server_and_raw(r: &Reactor, make: impl FnMut() -> Box<dyn TelnetProtocol> + 'static) -> (Raw, Rc<RefCell<Option<Telnet>>>) {
    let handle: Rc<RefCell<Option<Telnet>>> = Default::default();
    let mut make = make;
    let port = telnet_port(r, move || make());
    let raw = Raw::connect(port);
    let _ = &handle;
    (raw, handle)
}

fn grab(slot: &Rc<RefCell<Option<Telnet>>>) -> impl FnMut(&Telnet, &TEv) + 'static {
    let slot = slot.clone();
    move |t, ev| {
        if *ev == TEv::Made {
            *slot.borrow_mut() = Some(t.clone());
        }
    }
}

#[test]
fn write_escapes_iac_and_translates_newlines() {
    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let l2 = log.clone();
    let (mut raw, _) = server_and_raw(&r, move || {
        Box::new(Rec::new(&l2).hook(|t, ev| {
            if *ev == TEv::Made {
                t.write(b"a\xffb\nc\rd\r\ne").unwrap();
                t.write_sequence(&[std::io::IoSlice::new(b"\xff"), std::io::IoSlice::new(b"plain")]).unwrap();
                t.write(b"plain only").unwrap();
            }
        }))
    });
    raw.expect(&r, b"a\xff\xffb\r\nc\r\0d\r\ne\xff\xffplainplain only");
}

#[test]
fn incoming_data_is_unescaped_and_commands_reported_in_order() {
    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let l2 = log.clone();
    let (mut raw, _) = server_and_raw(&r, move || Box::new(Rec::new(&l2)));
    run_until(&r, "connection", || has(&log, &TEv::Made));
    raw.send(b"x\xff\xffy\r\nz\r\0w");
    raw.send(&[IAC, NOP, b'q', IAC, GA, IAC, 0x17]);
    run_until(&r, "data", || count(&log, |e| matches!(e, TEv::Cmd(_))) == 3);
    assert_eq!(
        *log.borrow(),
        vec![
            TEv::Made,
            TEv::Data(b"x\xffy\nz\rw".to_vec()),
            TEv::Cmd(NOP),
            TEv::Data(b"q".to_vec()),
            TEv::Cmd(GA),
            TEv::Cmd(0x17)
        ]
    );
}

#[test]
fn two_endpoints_round_trip_data_and_negotiate() {
    let r = Reactor::new().unwrap();
    let slog: TLog = Default::default();
    let s2 = slog.clone();
    let port = telnet_port(&r, move || Box::new(Rec::new(&s2).accept_local(&[ECHO]).accept_remote(&[NAWS])));
    let clog: TLog = Default::default();
    let c = r.connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&clog).accept_local(&[NAWS]))).unwrap();
    // Requests may be made before the connection is up: they are queued.
    c.will(NAWS, done_to(&clog, NAWS)).unwrap();
    c.do_(ECHO, done_to(&clog, ECHO)).unwrap();
    c.do_(SGA, done_to(&clog, SGA)).unwrap();
    c.write(b"line one\nx\xffy\rz").unwrap();
    run_until(&r, "completions", || count(&clog, |e| matches!(e, TEv::Done(..))) == 3);
    assert!(has(&clog, &TEv::Done(NAWS, Completion::Ok)));
    assert!(has(&clog, &TEv::Done(ECHO, Completion::Ok)));
    assert!(has(&clog, &TEv::Done(SGA, Completion::Refused)));
    assert_eq!(c.option_state(NAWS, Side::Local).unwrap(), OptionState::Yes);
    assert_eq!(c.option_state(ECHO, Side::Remote).unwrap(), OptionState::Yes);
    assert_eq!(c.option_state(SGA, Side::Remote).unwrap(), OptionState::No);
    run_until(&r, "data", || data(&slog).len() == 14);
    assert_eq!(data(&slog), b"line one\nx\xffy\rz");
    assert!(has(&slog, &TEv::EnableRemote(NAWS)));
    assert!(has(&slog, &TEv::EnableLocal(ECHO)));
    assert!(has(&slog, &TEv::EnableLocal(SGA)));
    // Turning an option off is always agreed and reported on the other side.
    c.wont(NAWS, done_to(&clog, 200)).unwrap();
    run_until(&r, "wont", || has(&clog, &TEv::Done(200, Completion::Ok)));
    run_until(&r, "disable_remote", || has(&slog, &TEv::DisableRemote(NAWS)));
    assert!(has(&clog, &TEv::DisableLocal(NAWS)), "our own side going off is reported too");
    // Clean close passes through.
    c.lose_connection().unwrap();
    run_until(&r, "both lost", || lost(&clog) && lost(&slog));
    assert!(matches!(clog.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))));
    assert!(matches!(slog.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))));
    assert_eq!(c.write(b"x"), Err(ErrorKind::StaleHandle.into()));
}

#[test]
fn immediate_failures_are_errors_and_never_complete() {
    let r = Reactor::new().unwrap();
    let slog: TLog = Default::default();
    let s2 = slog.clone();
    let port = telnet_port(&r, move || Box::new(Rec::new(&s2).accept_remote(&[ECHO])));
    let clog: TLog = Default::default();
    let c = r.connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&clog))).unwrap();
    let calls = Rc::new(Cell::new(0));
    let counted = |calls: &Rc<Cell<i32>>| {
        let calls = calls.clone();
        move |_: &Telnet, _: Completion, _: Option<&marline::Reason>| calls.set(calls.get() + 1)
    };
    assert_eq!(c.wont(ECHO, counted(&calls)), Err(ErrorKind::AlreadyDisabled.into()));
    assert_eq!(c.dont(ECHO, counted(&calls)), Err(ErrorKind::AlreadyDisabled.into()));
    c.will(ECHO, counted(&calls)).unwrap();
    assert_eq!(c.will(ECHO, counted(&calls)), Err(ErrorKind::AlreadyNegotiating.into()));
    // One request in the other direction is queued (RFC 1143 Q method), a third is not.
    c.wont(ECHO, counted(&calls)).unwrap();
    assert_eq!(c.will(ECHO, counted(&calls)), Err(ErrorKind::AlreadyNegotiating.into()));
    assert_eq!(c.wont(ECHO, counted(&calls)), Err(ErrorKind::AlreadyNegotiating.into()));
    run_until(&r, "two completions", || calls.get() == 2);
    assert_eq!(c.option_state(ECHO, Side::Local).unwrap(), OptionState::No);
    c.will(ECHO, counted(&calls)).unwrap();
    run_until(&r, "enabled", || calls.get() == 3);
    assert_eq!(c.will(ECHO, counted(&calls)), Err(ErrorKind::AlreadyEnabled.into()));
    run_for(&r, Duration::from_millis(50));
    assert_eq!(calls.get(), 3);
    assert_eq!(c.send_command(WILL), Err(ErrorKind::InvalidArgument.into()));
    assert_eq!(c.send_command(IAC), Err(ErrorKind::InvalidArgument.into()));
    assert_eq!(c.set_max_subnegotiation(0), Err(ErrorKind::InvalidArgument.into()));
}

#[test]
fn connection_lost_fails_every_pending_request_with_the_reason() {
    let r = Reactor::new().unwrap();
    let (c, clog, mut raw) = client_with_raw_peer(&r);
    c.will(ECHO, done_to(&clog, ECHO)).unwrap();
    c.do_(SGA, done_to(&clog, SGA)).unwrap();
    c.do_(NAWS, done_to(&clog, NAWS)).unwrap();
    c.dont(NAWS, done_to(&clog, 100)).unwrap(); // queued behind the DO
    raw.expect(&r, &[IAC, WILL, ECHO, IAC, DO, SGA, IAC, DO, NAWS]);
    drop(raw);
    run_until(&r, "lost", || lost(&clog));
    let log = clog.borrow();
    let n = log.len();
    assert_eq!(
        log[n - 5..n - 1].iter().filter(|e| matches!(e, TEv::Done(_, Completion::ConnectionLost))).count(),
        4,
        "{log:?}"
    );
    assert!(matches!(log[n - 1], TEv::Lost(ReasonKind::Done, _)), "completions come before connection_lost");
}

#[test]
fn failed_connect_fails_pending_requests() {
    let r = Reactor::new().unwrap();
    let (l, port) = Raw::listener();
    drop(l);
    let clog: TLog = Default::default();
    let c = r.connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&clog))).unwrap();
    c.will(ECHO, done_to(&clog, ECHO)).unwrap();
    run_until(&r, "failed", || lost(&clog));
    assert_eq!(*clog.borrow(), vec![TEv::Done(ECHO, Completion::ConnectionLost), TEv::Failed(ReasonKind::Refused)]);
}

#[test]
fn negotiation_timeout_fires_timed_out_and_the_late_answer_settles_the_option() {
    let r = Reactor::new().unwrap();
    let (l, port) = Raw::listener();
    let clog: TLog = Default::default();
    let c = r.connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&clog))).unwrap();
    c.set_negotiation_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut raw = accept_raw(&r, &l);
    c.will(ECHO, done_to(&clog, ECHO)).unwrap();
    c.wont(ECHO, done_to(&clog, 101)).unwrap();
    c.do_(SGA, done_to(&clog, SGA)).unwrap();
    raw.expect(&r, &[IAC, WILL, ECHO, IAC, DO, SGA]);
    // SGA is answered, ECHO never is.
    raw.send(&[IAC, WILL, SGA]);
    run_until(&r, "timeouts", || count(&clog, |e| matches!(e, TEv::Done(..))) == 3);
    assert!(has(&clog, &TEv::Done(SGA, Completion::Ok)));
    assert!(has(&clog, &TEv::Done(ECHO, Completion::TimedOut)));
    assert!(has(&clog, &TEv::Done(101, Completion::TimedOut)));
    // The side waits for the answer on the wire: no second request meanwhile.
    assert_eq!(c.option_state(ECHO, Side::Local).unwrap(), OptionState::WantYes);
    assert_eq!(c.will(ECHO, done_to(&clog, 102)).err(), Some(ErrorKind::AlreadyNegotiating.into()));
    // The late answer enables ECHO without completing anything again and
    // without being answered (the next bytes on the wire are the WONT below).
    raw.send(&[IAC, DO, ECHO]);
    run_until(&r, "late answer", || c.option_state(ECHO, Side::Local).unwrap() == OptionState::Yes);
    c.wont(ECHO, done_to(&clog, 103)).unwrap();
    raw.expect(&r, &[IAC, WONT, ECHO]);
    raw.send(&[IAC, DONT, ECHO]);
    run_until(&r, "disabled", || has(&clog, &TEv::Done(103, Completion::Ok)));
    // The answered SGA never times out later.
    run_for(&r, Duration::from_millis(150));
    assert_eq!(count(&clog, |e| matches!(e, TEv::Done(..))), 4);
}

#[test]
fn accept_refuse_policies_and_redundant_commands_are_ignored() {
    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let l2 = log.clone();
    let slot: Rc<RefCell<Option<Telnet>>> = Default::default();
    let g = grab(&slot);
    let (mut raw, _) = server_and_raw(&r, {
        let mut g = Some(g);
        move || Box::new(Rec::new(&l2).accept_local(&[ECHO]).accept_remote(&[NAWS]).hook(g.take().unwrap()))
    });
    run_until(&r, "made", || slot.borrow().is_some());
    let t = slot.borrow().clone().unwrap();
    t.set_policy(TTYPE, Side::Remote, Policy::Accept).unwrap();
    t.set_policy(NAWS, Side::Local, Policy::Refuse).unwrap();
    raw.send(&[IAC, DO, ECHO, IAC, WILL, NAWS, IAC, DO, 99, IAC, WILL, 98, IAC, WILL, TTYPE, IAC, DO, NAWS]);
    raw.expect(&r, &[IAC, WILL, ECHO, IAC, DO, NAWS, IAC, WONT, 99, IAC, DONT, 98, IAC, DO, TTYPE, IAC, WONT, NAWS]);
    assert!(!has(&log, &TEv::EnableRemote(TTYPE)), "Policy::Accept does not ask the protocol");
    assert!(!has(&log, &TEv::EnableLocal(NAWS)), "Policy::Refuse does not ask the protocol");
    // Redundant: confirmations of the current state are never answered.
    raw.send(&[IAC, DO, ECHO, IAC, WILL, NAWS, IAC, WONT, 98, IAC, DONT, 99, IAC, DO, ECHO]);
    raw.expect_silence(&r);
    assert_eq!(count(&log, |e| *e == TEv::EnableLocal(ECHO)), 1);
    // Turning an enabled option off is acknowledged and reported.
    raw.send(&[IAC, DONT, ECHO, IAC, WONT, NAWS]);
    raw.expect(&r, &[IAC, WONT, ECHO, IAC, DONT, NAWS]);
    assert!(has(&log, &TEv::DisableLocal(ECHO)));
    assert!(has(&log, &TEv::DisableRemote(NAWS)));
    assert_eq!(t.option_state(ECHO, Side::Local).unwrap(), OptionState::No);
    // Garbage after IAC is reported, never fatal.
    raw.send(&[IAC, 7, IAC, SE, b'o', b'k']);
    run_until(&r, "ok", || data(&log) == b"ok");
    assert!(has(&log, &TEv::Cmd(7)) && has(&log, &TEv::Cmd(SE)));
}

#[test]
fn oversize_subnegotiation_drops_the_connection_as_a_protocol_violation() {
    for (limit, size) in [(None, 4097usize), (Some(16usize), 17)] {
        let r = Reactor::new().unwrap();
        let log: TLog = Default::default();
        let l2 = log.clone();
        let slot: Rc<RefCell<Option<Telnet>>> = Default::default();
        let mut g = Some(grab(&slot));
        let (mut raw, _) = server_and_raw(&r, move || Box::new(Rec::new(&l2).hook(g.take().unwrap())));
        run_until(&r, "made", || slot.borrow().is_some());
        if let Some(limit) = limit {
            slot.borrow().as_ref().unwrap().set_max_subnegotiation(limit).unwrap();
        }
        // At the bound exactly is fine.
        let mut ok = vec![IAC, SB, 77];
        ok.extend(std::iter::repeat(b'a').take(size - 1));
        ok.extend([IAC, SE]);
        raw.send(&ok);
        run_until(&r, "sb at the bound", || count(&log, |e| matches!(e, TEv::Sb(77, _))) == 1);
        let mut big = vec![IAC, SB, TTYPE];
        big.extend(std::iter::repeat(b'x').take(size));
        big.extend([IAC, SE, b'n', b'o']);
        raw.send(&big);
        run_until(&r, "lost", || lost(&log));
        let last = log.borrow().last().cloned().unwrap();
        match last {
            TEv::Lost(ReasonKind::ProtocolViolation, msg) => {
                assert!(msg.contains("subnegotiation") && msg.contains("option 24") && msg.contains(&format!("{}", size - 1)), "{msg}");
            }
            other => panic!("expected a protocol violation, got {other:?}"),
        }
        assert_eq!(data(&log), b"", "nothing after the violation is delivered");
        raw.wait_eof(&r);
    }
}

#[test]
fn send_synch_sends_iac_then_dm_as_urgent_data() {
    let r = Reactor::new().unwrap();
    let (c, _clog, mut raw) = client_with_raw_peer(&r);
    c.write(b"before").unwrap();
    c.send_synch().unwrap();
    c.write(b"after").unwrap();
    // The urgent byte must be read at the mark (reading past it discards it): read the
    // inline part up to the mark, then the urgent byte, then the rest.
    let fd = raw.s.as_raw_fd();
    let read_to_mark = |raw: &mut Raw| -> Vec<u8> {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut at: libc::c_int = 0;
            assert_eq!(unsafe { libc::ioctl(fd, 0x8905 /* SIOCATMARK */, &mut at) }, 0);
            if at != 0 {
                return got;
            }
            let mut buf = [0u8; 64];
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::MSG_DONTWAIT) };
            if n > 0 {
                got.extend_from_slice(&buf[..n as usize]);
            }
            assert!(std::time::Instant::now() < deadline, "no urgent mark; got {got:?}");
            r.run_once(Some(Duration::from_millis(2))).unwrap();
            let _ = &raw;
        }
    };
    assert_eq!(read_to_mark(&mut raw), b"before\xff");
    let mut byte = 0u8;
    let n = unsafe { libc::recv(fd, &mut byte as *mut u8 as *mut libc::c_void, 1, libc::MSG_OOB) };
    assert_eq!((n, byte), (1, DM), "the DM is the urgent byte");
    raw.expect(&r, b"after");
    // send_command(DM) is the same Synch.
    c.send_command(DM).unwrap();
    assert_eq!(read_to_mark(&mut raw), [IAC]);
    let n = unsafe { libc::recv(fd, &mut byte as *mut u8 as *mut libc::c_void, 1, libc::MSG_OOB) };
    assert_eq!((n, byte), (1, DM));
    c.send_command(NOP).unwrap();
    raw.expect(&r, &[IAC, NOP]);
}

#[test]
fn receiving_synch_discards_data_before_the_dm_but_acts_on_commands() {
    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let l2 = log.clone();
    let (mut raw, _) = server_and_raw(&r, move || Box::new(Rec::new(&l2).accept_remote(&[NAWS])));
    run_until(&r, "made", || has(&log, &TEv::Made));
    raw.send(b"kept ");
    run_until(&r, "first data", || data(&log) == b"kept ");
    // All of this is in the socket before the server looks at it.
    raw.send(b"junk");
    raw.send(&[IAC, WILL, NAWS]);
    raw.send(b"more junk");
    raw.send(&[IAC]);
    raw.send_urgent(DM);
    raw.send(b"after");
    raw.expect(&r, &[IAC, DO, NAWS]);
    run_until(&r, "after", || data(&log).ends_with(b"after"));
    assert_eq!(data(&log), b"kept after");
    assert!(has(&log, &TEv::EnableRemote(NAWS)), "commands in the discarded part are acted on");
    assert!(has(&log, &TEv::Cmd(DM)));
    // Afterwards data flows normally again.
    raw.send(b" more");
    run_until(&r, "more", || data(&log).ends_with(b" more"));
}

#[test]
fn naws_ttype_and_new_environ_helpers() {
    let r = Reactor::new().unwrap();
    let slog: TLog = Default::default();
    let s2 = slog.clone();
    let port = telnet_port(&r, move || {
        Box::new(Rec::new(&s2).hook(|t, ev| {
            if *ev == TEv::Made {
                t.do_(NAWS, |_, _, _| {}).unwrap();
                t.request_terminal_type().unwrap();
                t.request_environment().unwrap();
            }
        }))
    });
    let clog: TLog = Default::default();
    let c = r
        .connect_telnet(
            "127.0.0.1",
            port,
            None,
            Box::new(Rec::new(&clog).accept_local(&[NAWS]).hook(|t, ev| match ev {
                TEv::Made => t.set_terminal_type(Some(b"XTERM-256COLOR")).unwrap(),
                TEv::Sb(o, d) if *o == NEW_ENVIRON && d == &[1] => {
                    let vars = vec![
                        EnvVar { kind: EnvVarKind::Var, name: b"USER".to_vec(), value: Some(b"ann".to_vec()) },
                        EnvVar { kind: EnvVarKind::UserVar, name: vec![b'K', 1, 255], value: None },
                    ];
                    t.send_environment(EnvKind::Is, &vars).unwrap();
                }
                _ => {}
            })),
        )
        .unwrap();
    run_until(&r, "naws on", || c.is_enabled(NAWS, Side::Local).unwrap_or(false));
    c.send_window_size(80, 24).unwrap();
    c.send_window_size(0x1FF, 0xFF).unwrap();
    run_until(&r, "sizes", || count(&slog, |e| matches!(e, TEv::Naws(..))) == 2);
    assert!(has(&slog, &TEv::Naws(80, 24)) && has(&slog, &TEv::Naws(0x1FF, 0xFF)));
    run_until(&r, "ttype", || has(&slog, &TEv::TType(b"XTERM-256COLOR".to_vec())));
    run_until(&r, "env", || count(&slog, |e| matches!(e, TEv::Env(..))) == 1);
    let env = slog.borrow().iter().find_map(|e| if let TEv::Env(k, v) = e { Some((*k, v.clone())) } else { None }).unwrap();
    assert_eq!(env.0, EnvKind::Is);
    assert_eq!(env.1[0].name, b"USER");
    assert_eq!(env.1[0].value.as_deref(), Some(&b"ann"[..]));
    assert_eq!(env.1[1].name, vec![b'K', 1, 255]);
    assert_eq!(env.1[1].value, None);
}

#[test]
fn request_negotiation_escapes_the_payload() {
    let r = Reactor::new().unwrap();
    let (l, port) = Raw::listener();
    let clog: TLog = Default::default();
    let c = r.connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&clog))).unwrap();
    let mut raw = accept_raw(&r, &l);
    c.request_negotiation(1, &[1, 2, 3]).unwrap();
    c.request_negotiation(1, &[0xFF]).unwrap();
    raw.expect(&r, &[0xFF, 0xFA, 0x01, 0x01, 0x02, 0x03, 0xFF, 0xF0, 0xFF, 0xFA, 0x01, 0xFF, 0xFF, 0xFF, 0xF0]);
    // Per-option handler on the receive side.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    c.set_subnegotiation_handler(NAWS, Some(Box::new(move |_, d| s.borrow_mut().push(d.to_vec())))).unwrap();
    raw.send(&[IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE, IAC, SB, 5, 9, IAC, SE]);
    run_until(&r, "handler", || seen.borrow().len() == 1 && has(&clog, &TEv::Sb(5, vec![9])));
    assert_eq!(seen.borrow()[0], vec![0, 80, 0, 24]);
    assert!(!has(&clog, &TEv::Naws(80, 24)), "the handler replaced the helper");
}

struct Flow {
    events: Rc<RefCell<Vec<&'static str>>>,
}
impl Producer for Flow {
    fn pause_producing(&self, _t: &Transport) {
        self.events.borrow_mut().push("pause")
    }
    fn resume_producing(&self, _t: &Transport) {
        self.events.borrow_mut().push("resume")
    }
    fn stop_producing(&self, _t: &Transport) {
        self.events.borrow_mut().push("stop")
    }
}

#[test]
fn producers_pass_through_and_lose_waits_for_unregister() {
    let r = Reactor::new().unwrap();
    let (c, clog, mut raw) = client_with_raw_peer(&r);
    let events = Rc::new(RefCell::new(Vec::new()));
    c.register_producer(Box::new(Flow { events: events.clone() }), true).unwrap();
    assert_eq!(c.register_producer(Box::new(Flow { events: events.clone() }), true), Err(ErrorKind::ProducerAlreadyRegistered.into()));
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while !events.borrow().contains(&"pause") {
        c.write(&chunk).unwrap();
        sent += chunk.len();
        assert!(sent < 64 << 20, "never paused");
    }
    // The peer reads everything: the queue drains and the producer resumes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut total = 0;
    while !events.borrow().contains(&"resume") {
        raw.pump();
        total += raw.got.borrow().len();
        raw.got.borrow_mut().clear();
        r.run_once(Some(Duration::from_millis(1))).unwrap();
        assert!(std::time::Instant::now() < deadline, "never resumed");
    }
    // lose_connection waits for the producer to unregister.
    c.lose_connection().unwrap();
    run_for(&r, Duration::from_millis(50));
    assert!(!lost(&clog));
    // The producer's writes are still delivered until it unregisters.
    c.write(b"late").unwrap();
    sent += 4;
    c.unregister_producer().unwrap();
    loop {
        raw.pump();
        total += raw.got.borrow().len();
        raw.got.borrow_mut().clear();
        if raw.eof {
            break;
        }
        r.run_once(Some(Duration::from_millis(1))).unwrap();
        assert!(std::time::Instant::now() < deadline, "never closed");
    }
    assert_eq!(total, sent, "every byte arrived before the close");
    run_until(&r, "lost", || lost(&clog));
    assert!(matches!(clog.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))));
}

#[test]
fn peer_close_and_abort_pass_through() {
    let r = Reactor::new().unwrap();
    let log: TLog = Default::default();
    let l2 = log.clone();
    let (raw, _) = server_and_raw(&r, move || Box::new(Rec::new(&l2)));
    run_until(&r, "made", || has(&log, &TEv::Made));
    drop(raw);
    run_until(&r, "lost", || lost(&log));
    assert!(matches!(log.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))));

    let (c, clog, _raw) = client_with_raw_peer(&r);
    c.will(ECHO, done_to(&clog, ECHO)).unwrap();
    c.abort_connection().unwrap();
    c.abort_connection().unwrap();
    assert!(!lost(&clog), "never from inside the call");
    run_until(&r, "lost", || lost(&clog));
    assert_eq!(count(&clog, |e| matches!(e, TEv::Lost(..))), 1);
    assert!(has(&clog, &TEv::Done(ECHO, Completion::ConnectionLost)));
    assert!(matches!(clog.borrow().last(), Some(TEv::Lost(ReasonKind::Aborted, _))));
}

#[test]
fn wrap_works_on_any_transport_constructor() {
    let r = Reactor::new().unwrap();
    let (l, port) = Raw::listener();
    let clog: TLog = Default::default();
    let (proto, t) = marline::telnet::wrap(&r, Box::new(Rec::new(&clog))).unwrap();
    assert_eq!(t.write(b"x"), Err(ErrorKind::NotConnected.into()));
    let inner = r.connect_tcp("127.0.0.1", port, None, proto).unwrap();
    let mut raw = accept_raw(&r, &l);
    run_until(&r, "made", || has(&clog, &TEv::Made));
    assert_eq!(t.inner().unwrap(), inner);
    assert_eq!(Telnet::from_transport(&inner).err(), Some(ErrorKind::WrongHandleType.into()));
    assert_eq!(Telnet::from_transport(t.transport()).unwrap(), t);
    t.write(b"\n").unwrap();
    raw.expect(&r, b"\r\n");
    // A wrapper whose transport is never made goes stale with it.
    let before = r.object_count();
    let (proto, t2) = marline::telnet::wrap(&r, Box::new(Rec::new(&clog))).unwrap();
    assert_eq!(r.object_count(), before + 1);
    drop(proto);
    assert_eq!(r.object_count(), before);
    assert_eq!(t2.write(b"x"), Err(ErrorKind::StaleHandle.into()));
}
