//! A passive open that fails after it started (accept hits the descriptor
//! limit): wait reports the error exactly once. Its own test binary, since
//! it lowers the process's descriptor limit for a moment.

mod stream_util;

use std::net::SocketAddr;
use std::time::Duration;

use marline::stream::{Event, TcpStream};
use marline::ErrorKind;
use stream_util::*;

fn lowest_free_fd() -> i32 {
    // SAFETY: dup of stdin and close of the new descriptor.
    unsafe {
        let fd = libc::dup(0);
        assert!(fd >= 0);
        libc::close(fd);
        fd
    }
}

#[test]
fn wait_reports_an_asynchronous_passive_open_failure_once() {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let low = libc::rlimit { rlim_cur: lowest_free_fd() as libc::rlim_t, rlim_max: old.rlim_max };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
    }
    client.connect(&SocketAddr::from(([127, 0, 0, 1], port_of(&s))).into()).unwrap();
    let result = s.wait(FIVE);
    // SAFETY: restores the limit read above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &old), 0) };
    let e = result.unwrap_err();
    assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::Os, Some(libc::EMFILE)), "the engine's errno travels with the error");
    assert!(s.is_done());
    // Reported once: the next wait has nothing to report.
    assert_eq!(s.wait(Some(Duration::from_millis(10))), Ok(()));
    eventually("PASSIVE_OPEN_DONE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::PassiveOpenDone, -1)]);
    // The stream can listen again.
    s.passive_open_on(localhost(0)).unwrap();
    assert!(!s.is_done());
}
