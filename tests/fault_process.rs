//! Process faults: a child killed with SIGKILL while we write to it, and a
//! child that never reads its stdin (flow control holds, memory stays
//! bounded).
mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use marline::{ErrorKind, ProcessSpec, Producer, Reactor, ReasonKind, Transport};

#[test]
fn child_killed_in_mid_write() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log);
    let (exited, ended) = (rec.exited.clone(), rec.ended.clone());
    // Reads a little, then stops reading: our writes pile up in the queue.
    let p = r.spawn_process(&ProcessSpec::new("/bin/sh", ["sh", "-c", "head -c 100000 >/dev/null; exec sleep 30"]), Box::new(rec)).unwrap();
    p.write(&pattern(8 << 20, 4)).unwrap();
    run_for(&r, Duration::from_millis(100));
    assert!(p.queued().unwrap() > 1 << 20, "the child is not reading: data stays queued");
    p.signal(libc::SIGKILL).unwrap();
    run_until(&r, || has_p(&log, is_ended));
    run_for(&r, Duration::from_millis(30));
    check_process_order(&log);
    let reason = exited.borrow().clone().unwrap();
    let exit = reason.exit().unwrap();
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    assert_eq!(ended.borrow().as_ref().unwrap().kind(), ReasonKind::Terminated);
    assert!(log.borrow().contains(&PEv::Lost(0)), "stdin closed: {:?}", log.borrow());
    assert_eq!(p.write(b"x"), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(p.signal(libc::SIGKILL), Err(ErrorKind::StaleHandle.into()), "never a signal after the end");
    assert_eq!(r.object_count(), 0, "queue and transport released");
}

/// A streaming producer writing 64 KiB each time it is resumed, until paused.
struct Flood {
    paused: Rc<Cell<bool>>,
    written: Rc<Cell<usize>>,
    pauses: Rc<Cell<u32>>,
}

impl Flood {
    fn go(&self, t: &Transport) {
        let chunk = vec![b'x'; 64 * 1024];
        self.paused.set(false);
        for _ in 0..1000 {
            if self.paused.get() || t.write(&chunk).is_err() {
                return;
            }
            self.written.set(self.written.get() + chunk.len());
        }
    }
}

impl Producer for Flood {
    fn pause_producing(&self, _t: &Transport) {
        self.paused.set(true);
        self.pauses.set(self.pauses.get() + 1);
    }
    fn resume_producing(&self, t: &Transport) {
        self.go(t)
    }
}

#[test]
fn child_that_never_reads_stdin_keeps_memory_bounded() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let p = r.spawn_process(&ProcessSpec::new("sleep", ["sleep", "30"]), Box::new(ProcRecorder::new(&log))).unwrap();
    let (paused, written, pauses) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    p.set_write_high_water(256 * 1024).unwrap();
    let flood = Flood { paused: paused.clone(), written: written.clone(), pauses: pauses.clone() };
    p.register_producer(Box::new(flood), true).unwrap();
    // The producer starts producing when first resumed; kick it once.
    Flood { paused: paused.clone(), written: written.clone(), pauses: Rc::new(Cell::new(0)) }.go(&p);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        r.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let q = p.queued().unwrap();
    println!("written {} queued {q} pauses {}", written.get(), pauses.get());
    assert!(paused.get(), "the producer is paused");
    assert!(q <= 256 * 1024 + 64 * 1024, "queue bounded by the high-water mark: {q}");
    assert!(written.get() <= (256 + 64 + 1024) * 1024, "what went into the pipe is bounded too: {}", written.get());
    p.signal(libc::SIGKILL).unwrap();
    run_until(&r, || has_p(&log, is_ended));
    assert_eq!(r.object_count(), 0);
}
