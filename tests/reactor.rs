//! The loop itself: run/stop, cross-thread calls, delayed calls and the
//! backend descriptor.
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use marline::{Error, ErrorKind, Reactor};

type Seen = Rc<RefCell<Vec<&'static str>>>;

fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
fn run_returns_after_stop_from_a_callback() {
    let r = Reactor::new().unwrap();
    let seen: Seen = Default::default();
    let s = seen.clone();
    r.call_later(Duration::from_millis(10), move |r| {
        s.borrow_mut().push("stop");
        r.stop();
    })
    .unwrap();
    let s = seen.clone();
    r.call_later(Duration::from_secs(5), move |_| s.borrow_mut().push("late")).unwrap();
    let start = Instant::now();
    r.run().unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(*seen.borrow(), ["stop"]);
    // The reactor can run again after a stop.
    let s = seen.clone();
    r.call_later(Duration::ZERO, move |r| {
        s.borrow_mut().push("again");
        r.stop();
    })
    .unwrap();
    r.run().unwrap();
    assert_eq!(*seen.borrow(), ["stop", "again"]);
}

#[test]
fn stopper_stops_the_loop_from_another_thread() {
    let r = Reactor::new().unwrap();
    let stopper = r.stopper();
    let start = Instant::now();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stopper.stop();
    });
    // Nothing else is scheduled: without the wake-up this would block forever.
    r.run().unwrap();
    let took = start.elapsed();
    th.join().unwrap();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn call_from_thread_wakes_a_sleeping_loop_and_runs_on_its_thread() {
    let r = Reactor::new().unwrap();
    let stopper = r.stopper();
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    let loop_thread = std::thread::current().id();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stopper
            .call_from_thread(move |r| {
                assert_eq!(std::thread::current().id(), loop_thread);
                ran2.store(true, Ordering::SeqCst);
                r.stop();
            })
            .unwrap();
    });
    let start = Instant::now();
    // run_once(None) sleeps until something happens: only the call can wake it.
    r.run_once(None).unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert!(start.elapsed() < Duration::from_secs(3));
    th.join().unwrap();
}

#[test]
fn delayed_calls_fire_in_deadline_order_and_equal_times_in_schedule_order() {
    let r = Reactor::new().unwrap();
    let seen: Seen = Default::default();
    for (ms, name) in [(60, "c"), (20, "a"), (40, "b")] {
        let s = seen.clone();
        r.call_later(Duration::from_millis(ms), move |_| s.borrow_mut().push(name)).unwrap();
    }
    // Many calls with the same delay run in the order they were scheduled.
    let names = ["z0", "z1", "z2", "z3", "z4", "z5", "z6", "z7", "z8", "z9"];
    for name in names {
        let s = seen.clone();
        r.call_later(Duration::from_millis(80), move |_| s.borrow_mut().push(name)).unwrap();
    }
    common::run_until(&r, || seen.borrow().len() == 13);
    let mut want = vec!["a", "b", "c"];
    want.extend(names);
    assert_eq!(*seen.borrow(), want);
}

#[test]
fn a_delayed_call_does_not_fire_early() {
    let r = Reactor::new().unwrap();
    let fired = Rc::new(RefCell::new(None));
    let f = fired.clone();
    let start = Instant::now();
    r.call_later(Duration::from_millis(150), move |_| *f.borrow_mut() = Some(Instant::now())).unwrap();
    common::run_until(&r, || fired.borrow().is_some());
    let at = fired.borrow().unwrap() - start;
    assert!(at >= Duration::from_millis(150), "{at:?}");
    assert!(at < Duration::from_secs(2), "{at:?}");
}

#[test]
fn cancel_makes_a_call_inactive_and_it_never_runs() {
    let r = Reactor::new().unwrap();
    let seen: Seen = Default::default();
    let s = seen.clone();
    let dc = r.call_later(Duration::from_millis(20), move |_| s.borrow_mut().push("cancelled")).unwrap();
    let s = seen.clone();
    r.call_later(Duration::from_millis(60), move |_| s.borrow_mut().push("other")).unwrap();
    assert!(dc.active());
    dc.cancel().unwrap();
    assert!(!dc.active());
    assert_eq!(dc.cancel(), Err(ErrorKind::NotActive.into()));
    assert_eq!(dc.reset(Duration::from_millis(1)), Err(ErrorKind::NotActive.into()));
    assert_eq!(dc.delay(Duration::from_millis(1)), Err(ErrorKind::NotActive.into()));
    assert_eq!(dc.time_left(), Err(ErrorKind::NotActive.into()));
    common::run_until(&r, || !seen.borrow().is_empty());
    common::run_for(&r, Duration::from_millis(50));
    assert_eq!(*seen.borrow(), ["other"]);
}

#[test]
fn a_call_that_has_run_is_inactive() {
    let r = Reactor::new().unwrap();
    let seen: Seen = Default::default();
    let s = seen.clone();
    let dc = r.call_later(Duration::ZERO, move |_| s.borrow_mut().push("ran")).unwrap();
    common::run_until(&r, || !seen.borrow().is_empty());
    assert!(!dc.active());
    assert_eq!(dc.cancel(), Err(ErrorKind::NotActive.into()));
    assert_eq!(dc.reset(Duration::ZERO), Err(ErrorKind::NotActive.into()));
}

#[test]
fn reset_reschedules_from_now_and_delay_pushes_back() {
    let r = Reactor::new().unwrap();
    let fired: Rc<RefCell<Vec<(&str, Instant)>>> = Default::default();
    let start = Instant::now();
    let f = fired.clone();
    let later = r.call_later(Duration::from_millis(20), move |_| f.borrow_mut().push(("reset", Instant::now()))).unwrap();
    let f = fired.clone();
    let pushed = r.call_later(Duration::from_millis(20), move |_| f.borrow_mut().push(("delay", Instant::now()))).unwrap();
    let f = fired.clone();
    let sooner = r.call_later(Duration::from_secs(30), move |_| f.borrow_mut().push(("sooner", Instant::now()))).unwrap();
    later.reset(Duration::from_millis(200)).unwrap();
    pushed.delay(Duration::from_millis(100)).unwrap();
    sooner.reset(Duration::from_millis(5)).unwrap();
    let left = later.time_left().unwrap();
    assert!(left > Duration::from_millis(150) && left <= Duration::from_millis(200), "{left:?}");
    assert!(later.active() && pushed.active());
    common::run_until(&r, || fired.borrow().len() == 3);
    let got: Vec<(&str, Duration)> = fired.borrow().iter().map(|(n, t)| (*n, *t - start)).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), ["sooner", "delay", "reset"]);
    assert!(got[1].1 >= Duration::from_millis(120), "{got:?}");
    assert!(got[2].1 >= Duration::from_millis(200), "{got:?}");
}

#[test]
fn a_callback_may_schedule_cancel_and_stop() {
    let r = Reactor::new().unwrap();
    let seen: Seen = Default::default();
    // Both are due in the same turn; the first cancels the second.
    let s = seen.clone();
    let victim = r.call_later(Duration::from_millis(30), move |_| s.borrow_mut().push("victim")).unwrap();
    let s = seen.clone();
    r.call_later(Duration::from_millis(10), move |r| {
        s.borrow_mut().push("first");
        victim.cancel().unwrap();
        let s2 = s.clone();
        // A call scheduled from a callback runs (on a later turn).
        r.call_later(Duration::ZERO, move |r| {
            s2.borrow_mut().push("scheduled");
            r.stop();
        })
        .unwrap();
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(40)); // both overdue at the first turn
    r.run().unwrap();
    common::run_for(&r, Duration::from_millis(30));
    assert_eq!(*seen.borrow(), ["first", "scheduled"]);
}

#[test]
fn a_zero_delay_call_scheduled_by_a_call_waits_for_the_next_turn() {
    // Otherwise a callback re-scheduling itself would starve the loop.
    let r = Reactor::new().unwrap();
    let count = Rc::new(RefCell::new(0));
    fn again(r: &Reactor, count: Rc<RefCell<u32>>) {
        *count.borrow_mut() += 1;
        r.call_later(Duration::ZERO, move |r| again(r, count)).unwrap();
    }
    let c = count.clone();
    r.call_later(Duration::ZERO, move |r| again(r, c)).unwrap();
    r.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(*count.borrow(), 1);
    r.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(*count.borrow(), 2);
}

#[test]
fn running_the_loop_inside_a_callback_is_reentrant() {
    let r = Reactor::new().unwrap();
    let got: Rc<RefCell<Vec<Result<(), Error>>>> = Default::default();
    let g = got.clone();
    r.call_later(Duration::ZERO, move |r| {
        g.borrow_mut().push(r.run());
        g.borrow_mut().push(r.run_once(Some(Duration::ZERO)));
    })
    .unwrap();
    common::run_until(&r, || !got.borrow().is_empty());
    assert_eq!(*got.borrow(), [Err(ErrorKind::Reentrant.into()), Err(ErrorKind::Reentrant.into())]);
    // The loop is still usable afterwards.
    r.run_once(Some(Duration::ZERO)).unwrap();
}

#[test]
fn huge_delays_are_refused_not_a_panic() {
    let r = Reactor::new().unwrap();
    assert!(matches!(r.call_later(Duration::MAX, |_| {}).as_ref().map_err(|e| e.kind()), Err(ErrorKind::InvalidArgument)));
    let dc = r.call_later(Duration::from_secs(1), |_| {}).unwrap();
    assert_eq!(dc.reset(Duration::MAX), Err(ErrorKind::InvalidArgument.into()));
    assert_eq!(dc.delay(Duration::MAX), Err(ErrorKind::InvalidArgument.into()));
    assert!(dc.active());
}

#[test]
fn backend_fd_polls_readable_when_work_is_pending() {
    let r = Reactor::new().unwrap();
    let fd = r.backend_fd();
    assert!(fd >= 0);
    assert!(!readable(fd), "idle reactor");
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    r.stopper().call_from_thread(move |_| ran2.store(true, Ordering::SeqCst)).unwrap();
    assert!(readable(fd), "a cross-thread call is pending");
    r.run_once(Some(Duration::ZERO)).unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert!(!readable(fd), "handled");

    // I/O readiness shows on the backend fd too: a connection to a listener.
    let log: common::Log = Default::default();
    let l2 = log.clone();
    let lp = r.listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(common::Recorder::new(&l2))).unwrap();
    let marline::Address::Inet(addr) = lp.host().unwrap() else { panic!() };
    let _client = std::net::TcpStream::connect(addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !readable(fd) {
        assert!(Instant::now() < deadline, "backend fd never became readable");
        std::thread::sleep(Duration::from_millis(1));
    }
    r.run_once(Some(Duration::ZERO)).unwrap();
    common::run_until(&r, || common::has(&log, |e| *e == common::Ev::Made));

    // A pending delayed call shows in next_timeout, for the embedding loop.
    assert_eq!(r.next_timeout(), None);
    r.call_later(Duration::from_secs(3), |_| {}).unwrap();
    let t = r.next_timeout().unwrap();
    assert!(t > Duration::from_secs(2) && t <= Duration::from_secs(3), "{t:?}");
}
