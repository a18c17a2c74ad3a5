//! The ULP timeout, MacTCP's ulpTimeoutValue and ulpTimeoutAction: what
//! happens when data we sent stays unacknowledged for longer than the
//! timeout. Off by default (then the kernel's own retransmission limit
//! applies, about 15 minutes, ending in TERMINATE with NETWORK_FAILURE).
//!
//! - Abort: the kernel's TCP_USER_TIMEOUT, which measures exactly that
//!   (from the first transmission of the oldest unacknowledged data,
//!   restarted when the peer acknowledges more) and ends the connection
//!   with ETIMEDOUT, reported as TERMINATE with ULP_TIMEOUT. The kernel
//!   looks at its retransmission times, so the end comes at the first one
//!   after the timeout.
//! - Report: TCP_USER_TIMEOUT can only abort, so the engine keeps the
//!   clock: it starts when a send hands data to the kernel, restarts when
//!   TCP_INFO shows the peer acknowledged more (at the time of that last
//!   ACK), and stops when nothing is left unacknowledged (SIOCOUTQ 0; so
//!   data a closed window holds back counts as unacknowledged too).
//!   When it reaches the timeout: ULP_TIMEOUT, and the clock starts again
//!   (as in MacTCP), so a peer that stays silent gets one notification
//!   per timeout. The engine looks only when the clock would run out, so
//!   a timeout costs one TCP_INFO read per period, none when idle.

use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use socket2::Socket;

use super::codes::{Event, UlpAction};
use super::engine::Engine;
use crate::error::Result;
use crate::reactor::{Core, DelayedCall, Reactor};
use crate::sys;

/// The setting: time limit and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ulp {
    pub limit: Duration,
    pub action: UlpAction,
}

/// The engine's clock for [`UlpAction::Report`].
pub(super) struct Clock {
    /// When the current wait for an acknowledgement began.
    since: Instant,
    /// tcpi_bytes_acked when last looked at.
    acked: u64,
    check: DelayedCall,
}

fn set_user_timeout(fd: RawFd, limit: Option<Duration>) -> std::io::Result<()> {
    // Milliseconds, at least 1 when set (0 means the kernel's default).
    let ms = limit.map_or(0, |d| d.as_millis().clamp(1, libc::c_uint::MAX as u128) as libc::c_uint);
    let len = std::mem::size_of::<libc::c_uint>() as libc::socklen_t;
    sys::syscall!(setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, &ms as *const libc::c_uint as *const libc::c_void, len))?;
    Ok(())
}

impl Engine {
    /// Changes the setting; it applies to the connection there is, if any,
    /// and to the ones after it.
    pub(super) fn set_ulp(&self, core: &Rc<Core>, ulp: Option<Ulp>) -> Result<()> {
        self.st.borrow_mut().ulp = ulp;
        self.stop_ulp_clock();
        let conn = self.st.borrow().conn.clone();
        if let Some(sock) = conn {
            self.apply_ulp(&sock)?;
            self.ulp_sent(core); // data may be outstanding already
        }
        Ok(())
    }

    /// Puts the setting on a connection socket.
    pub(super) fn apply_ulp(&self, sock: &Socket) -> Result<()> {
        let abort = self.st.borrow().ulp.filter(|u| u.action == UlpAction::Abort);
        set_user_timeout(sock.as_raw_fd(), abort.map(|u| u.limit))?;
        Ok(())
    }

    /// True when a connection that ended with `errno` was ended by the ULP
    /// timeout (its action being abort).
    pub(super) fn ulp_aborted(&self, errno: i32) -> bool {
        errno == libc::ETIMEDOUT && matches!(self.st.borrow().ulp, Some(Ulp { action: UlpAction::Abort, .. }))
    }

    /// Data is about to be handed to the kernel: if the report clock runs
    /// but everything sent so far has been acknowledged since it was last
    /// looked at, that wait is over; the data starts a new one.
    pub(super) fn ulp_before_send(&self) {
        if self.st.borrow().ulp_clock.is_none() {
            return;
        }
        if self.conn_fd().is_some_and(|fd| matches!(sys::outq(fd), Ok(0))) {
            self.stop_ulp_clock();
        }
    }

    /// Data was just handed to the kernel (or the setting changed): start
    /// the report clock if data is unacknowledged and it does not run yet.
    pub(super) fn ulp_sent(&self, core: &Rc<Core>) {
        let limit = match self.st.borrow().ulp {
            Some(Ulp { limit, action: UlpAction::Report }) => limit,
            _ => return,
        };
        if self.st.borrow().ulp_clock.is_some() {
            return;
        }
        let Some(fd) = self.conn_fd() else { return };
        if matches!(sys::outq(fd), Ok(0)) {
            return;
        }
        let Ok((acked, _)) = super::status::ack_progress(fd) else { return };
        let now = Instant::now();
        if let Some(check) = self.schedule_ulp_check(core, limit) {
            self.st.borrow_mut().ulp_clock = Some(Clock { since: now, acked, check });
        }
    }

    pub(super) fn stop_ulp_clock(&self) {
        if let Some(clock) = self.st.borrow_mut().ulp_clock.take() {
            let _ = clock.check.cancel();
        }
    }

    fn schedule_ulp_check(&self, core: &Rc<Core>, delay: Duration) -> Option<DelayedCall> {
        let me = self.handle.get()?;
        Reactor::view(core)
            .call_later(delay, move |r| {
                if let Ok(e) = r.core.object_as::<Engine>(me) {
                    e.ulp_check(&r.core);
                }
            })
            .ok()
    }

    /// The report clock may have run out: look at what was acknowledged.
    fn ulp_check(&self, core: &Rc<Core>) {
        let limit = match self.st.borrow().ulp {
            Some(Ulp { limit, action: UlpAction::Report }) => limit,
            _ => return self.stop_ulp_clock(),
        };
        let Some(fd) = self.conn_fd() else { return self.stop_ulp_clock() };
        let (Ok(outstanding), Ok((acked, ms_since_ack))) = (sys::outq(fd), super::status::ack_progress(fd)) else {
            return self.stop_ulp_clock();
        };
        if outstanding == 0 {
            return self.stop_ulp_clock(); // everything acknowledged
        }
        let now = Instant::now();
        let Some(mut clock) = self.st.borrow_mut().ulp_clock.take() else { return };
        if acked != clock.acked {
            // Progress: the wait began again with the ACK that brought it.
            clock.acked = acked;
            clock.since = now.checked_sub(Duration::from_millis(ms_since_ack.into())).unwrap_or(now).max(clock.since);
        }
        if now.duration_since(clock.since) >= limit {
            self.notify(Event::UlpTimeout, 0);
            clock.since = now;
        }
        let next = (clock.since + limit).saturating_duration_since(now).max(Duration::from_millis(1));
        if let Some(check) = self.schedule_ulp_check(core, next) {
            clock.check = check;
            self.st.borrow_mut().ulp_clock = Some(clock);
        }
    }
}
