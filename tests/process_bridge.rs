//! A process bridged to a TCP connection with SSH-session semantics.
mod common;
use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use marline::{Bridge, BridgeHandler, ProcessSpec, Reactor, Reason, ReasonKind, Transport};

type Notes = Rc<RefCell<Vec<String>>>;

struct Handler(Notes);

impl BridgeHandler for Handler {
    fn extended_data(&mut self, _r: &Transport, data: &[u8]) {
        self.0.borrow_mut().push(format!("stderr {}", String::from_utf8_lossy(data)));
    }
    fn exit_status(&mut self, _r: &Transport, code: i32) {
        self.0.borrow_mut().push(format!("exit-status {code}"));
    }
    fn exit_signal(&mut self, _r: &Transport, name: &str, core: bool) {
        self.0.borrow_mut().push(format!("exit-signal {name} {core}"));
    }
    fn process_ended(&mut self, _r: &Transport, reason: &Reason) {
        let core = reason.exit().map(|e| e.core_dumped).unwrap_or(false);
        self.0.borrow_mut().push(format!("ended core={core}"));
    }
}

/// The server side: every connection is bridged to `spec`; with
/// `start_on_eof` the process starts only once the client has sent EOF, so
/// everything it sent was buffered first.
struct Server {
    spec: ProcessSpec,
    merge: bool,
    start_on_eof: bool,
    notes: Notes,
    bridge: Option<Bridge>,
}

impl marline::Protocol for Server {
    fn connection_made(&mut self, t: &Transport) {
        let b = Bridge::new(t, self.merge, Box::new(Handler(self.notes.clone()))).unwrap();
        if !self.start_on_eof {
            b.spawn(&self.spec).unwrap();
        }
        self.bridge = Some(b);
    }
    fn data_received(&mut self, _t: &Transport, data: &[u8]) {
        self.bridge.as_ref().unwrap().feed(data).unwrap();
    }
    fn half_close(&self) -> bool {
        true
    }
    fn read_connection_lost(&mut self, _t: &Transport) {
        let b = self.bridge.as_ref().unwrap();
        b.remote_eof().unwrap();
        if self.start_on_eof {
            assert_eq!(b.process().unwrap(), None);
            b.spawn(&self.spec).unwrap();
        }
    }
    fn connection_lost(&mut self, _t: &Transport, _r: &Reason) {
        self.notes.borrow_mut().push("remote lost".into());
        let _ = self.bridge.take().unwrap().close();
    }
}

/// Runs one session: the client sends `input` then EOF; returns the
/// client's log and the server's notes.
fn session(spec: ProcessSpec, merge: bool, start_on_eof: bool, input: &'static [u8]) -> (Log, Notes) {
    let r = Reactor::new().unwrap();
    let notes: Notes = Default::default();
    let n = notes.clone();
    let port = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| {
            Box::new(Server { spec: spec.clone(), merge, start_on_eof, notes: n.clone(), bridge: None })
        })
        .unwrap();
    let port = match port.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        _ => unreachable!(),
    };
    let log: Log = Default::default();
    let client = Recorder::new(&log).half_close().hook(move |t, ev| {
        if *ev == Ev::Made {
            t.write(input).unwrap();
            t.lose_write_connection().unwrap();
        }
    });
    r.connect_tcp("127.0.0.1", port, None, Box::new(client)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(has(&log, is_lost) && notes.borrow().iter().any(|s| s.starts_with("ended"))) {
        assert!(std::time::Instant::now() < deadline, "timed out: client {:?}, server {:?}", log.borrow(), notes.borrow());
        r.run_once(Some(std::time::Duration::from_millis(20))).unwrap();
    }
    (log, notes)
}

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new("/bin/sh", ["sh", "-c", script])
}

#[test]
fn stdin_stdout_relay_and_exit_status_zero() {
    let (log, notes) = session(ProcessSpec::new("cat", ["cat"]), false, false, b"hello bridge\n");
    assert_eq!(data_of(&log), b"hello bridge\n");
    let l = log.borrow();
    assert!(l.contains(&Ev::ReadLost), "the client got EOF: {l:?}");
    assert_eq!(*l.last().unwrap(), Ev::Lost(ReasonKind::Done));
    let notes = notes.borrow();
    assert_eq!(notes.iter().filter(|n| n.starts_with("exit")).cloned().collect::<Vec<_>>(), vec!["exit-status 0"]);
}

#[test]
fn data_sent_before_the_process_starts_is_buffered() {
    let (log, notes) = session(ProcessSpec::new("cat", ["cat"]), false, true, b"early data, then EOF\n");
    assert_eq!(data_of(&log), b"early data, then EOF\n");
    assert!(notes.borrow().contains(&"exit-status 0".to_string()));
}

#[test]
fn eof_goes_out_only_after_both_stdout_and_stderr_close() {
    // stdout closes first; stderr (merged into the stream) carries on.
    let script = "exec 1>&-; sleep 0.3; echo after-stdout-closed >&2; exit 4";
    let (log, notes) = session(sh(script), true, false, b"");
    let l = log.borrow();
    let data = l.iter().position(|e| matches!(e, Ev::Data(_))).expect("stderr data arrived");
    let eof = l.iter().position(|e| *e == Ev::ReadLost).expect("EOF arrived");
    assert!(data < eof, "EOF came after the stderr data: {l:?}");
    assert_eq!(data_of(&log), b"after-stdout-closed\n");
    assert!(notes.borrow().contains(&"exit-status 4".to_string()));
}

#[test]
fn stderr_goes_to_extended_data_unless_merged() {
    let (log, notes) = session(sh("echo out; echo err >&2"), false, false, b"");
    assert_eq!(data_of(&log), b"out\n");
    assert!(notes.borrow().contains(&"stderr err\n".to_string()), "{notes:?}");
}

#[test]
fn exit_signal_term_without_core_dump() {
    let (_, notes) = session(sh("kill -TERM $$"), false, false, b"");
    let notes = notes.borrow();
    assert!(notes.contains(&"exit-signal TERM false".to_string()), "{notes:?}");
    assert!(!notes.iter().any(|n| n.starts_with("exit-status")), "signal wins: {notes:?}");
}

#[test]
fn exit_signal_with_core_dump_as_the_kernel_reports_it() {
    let scratch = Scratch::new("core");
    let (_, notes) = session(sh("ulimit -c unlimited 2>/dev/null; kill -SEGV $$").cwd(&scratch.0), false, false, b"");
    let notes = notes.borrow();
    // The core flag given to the remote side is the kernel's WCOREDUMP.
    let core = notes.iter().find_map(|n| n.strip_prefix("ended core=")).unwrap().to_string();
    assert!(notes.contains(&format!("exit-signal SEGV {core}")), "{notes:?}");
    let (_, notes) = session(sh("ulimit -c 0; kill -SEGV $$"), false, false, b"");
    assert!(notes.borrow().contains(&"exit-signal SEGV false".to_string()));
}

/// The child's stdin queue pauses reading from the remote side: a client that sends far
/// more than the child has read yet is not buffered in full on the server, and nothing is
/// lost once the child reads.
#[test]
fn input_the_child_has_not_read_is_not_buffered_without_bound() {
    use std::cell::Cell;
    const TOTAL: usize = 8 << 20;
    struct Flow {
        bridge: Option<Bridge>,
        max_queued: Rc<Cell<usize>>,
        notes: Notes,
    }
    impl marline::Protocol for Flow {
        fn connection_made(&mut self, t: &Transport) {
            let b = Bridge::new(t, true, Box::new(Handler(self.notes.clone()))).unwrap();
            b.spawn(&sh("sleep 1; wc -c")).unwrap();
            self.bridge = Some(b);
        }
        fn data_received(&mut self, _t: &Transport, data: &[u8]) {
            let b = self.bridge.as_ref().unwrap();
            b.feed(data).unwrap();
            let queued = b.process().unwrap().map_or(0, |p| p.queued().unwrap_or(0));
            self.max_queued.set(self.max_queued.get().max(queued));
        }
        fn half_close(&self) -> bool {
            true
        }
        fn read_connection_lost(&mut self, _t: &Transport) {
            self.bridge.as_ref().unwrap().remote_eof().unwrap();
        }
        fn connection_lost(&mut self, _t: &Transport, _r: &Reason) {
            let _ = self.bridge.take().unwrap().close();
        }
    }
    let r = Reactor::new().unwrap();
    let notes: Notes = Default::default();
    let max_queued = Rc::new(Cell::new(0));
    let (n, m) = (notes.clone(), max_queued.clone());
    let port = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(Flow { bridge: None, max_queued: m.clone(), notes: n.clone() }))
        .unwrap();
    let port = match port.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        _ => unreachable!(),
    };
    let log: Log = Default::default();
    let client = Recorder::new(&log).half_close().hook(move |t, ev| {
        if *ev == Ev::Made {
            t.write(&vec![b'x'; TOTAL]).unwrap();
            t.lose_write_connection().unwrap();
        }
    });
    r.connect_tcp("127.0.0.1", port, None, Box::new(client)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(has(&log, is_lost) && notes.borrow().iter().any(|s| s.starts_with("ended"))) {
        assert!(std::time::Instant::now() < deadline, "timed out: client {:?}, server {:?}", log.borrow(), notes.borrow());
        r.run_once(Some(std::time::Duration::from_millis(20))).unwrap();
    }
    assert_eq!(String::from_utf8_lossy(&data_of(&log)).trim(), TOTAL.to_string(), "every byte reached the child");
    assert!(max_queued.get() < 1 << 20, "at most {} bytes queued for the child's stdin", max_queued.get());
    assert!(notes.borrow().contains(&"exit-status 0".to_string()));
}

/// A child that has closed all its output is finishing: when the session
/// ends under it, it is not hung up (a SIGHUP would turn its clean exit
/// into exit-signal HUP). cat does this from an atexit handler; here the
/// gap between closing and exiting is made wide on purpose.
#[test]
fn a_child_that_closed_its_output_is_not_hung_up_when_the_session_ends() {
    let (log, notes) = session(sh("cat; exec >&- 2>&-; sleep 0.3; exit 0"), false, false, b"bye\n");
    assert_eq!(data_of(&log), b"bye\n");
    let notes = notes.borrow();
    assert_eq!(notes.iter().filter(|n| n.starts_with("exit")).cloned().collect::<Vec<_>>(), vec!["exit-status 0"]);
}
