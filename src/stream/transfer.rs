//! Moving data: send (with push and urgent) and rcv (urgent data first,
//! with the urgent and mark flags), plus the end-of-stream notification.

use std::io::{self, IoSlice};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

use super::codes::{Event, TcpState};
use super::engine::{Engine, Lane, Pending};
use super::shared::Reply;
use crate::error::{ErrorKind, Result};
use crate::reactor::Core;
use crate::sys;

/// The most one rcv copies, whatever the caller's capacity.
const MAX_PIECE: usize = 64 * 1024;

/// One read from the socket.
enum Read {
    /// `in_urgent`: the bytes are urgent data (they precede the mark);
    /// `mark`: they are the urgent byte itself.
    Piece { bytes: Vec<u8>, in_urgent: bool, mark: bool },
    WouldBlock,
    Eof,
}

/// Reads what is there, stopping at the urgent mark. With SO_OOBINLINE,
/// Linux keeps the urgent byte in line; POLLPRI says urgent data is
/// outstanding; SIOCATMARK is true when the next byte is the urgent byte
/// (the last byte of the urgent data); a read stops just before it. So:
/// urgent outstanding and not at the mark → the piece before it;
/// at the mark → that byte alone.
fn read_piece(fd: RawFd, cap: usize) -> io::Result<Read> {
    let in_urgent = sys::urgent_pending(fd)?;
    let mark = in_urgent && sys::at_mark(fd)?;
    let mut bytes = vec![0u8; if mark { 1 } else { cap.min(MAX_PIECE) }];
    match sys::recv(fd, &mut bytes, libc::MSG_DONTWAIT) {
        Ok(0) => Ok(Read::Eof),
        Ok(n) => {
            bytes.truncate(n);
            Ok(Read::Piece { bytes, in_urgent, mark })
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::WouldBlock),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Read::WouldBlock),
        Err(e) => Err(e),
    }
}

/// True when the peer has closed and nothing is left to read.
fn peer_finished(fd: RawFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(sys::inq(fd), Ok(0)) && matches!(sys::recv(fd, &mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT), Ok(0))
}

impl Engine {
    /// Sends all of `data`. Allowed only in ESTABLISHED and CLOSE_WAIT.
    pub(super) fn send(
        self: &Rc<Self>,
        core: &Rc<Core>,
        ticket: u64,
        data: Vec<u8>,
        push: bool,
        urgent: bool,
    ) -> Result<Option<Reply>> {
        self.require_open()?;
        if self.st.borrow().write_closed {
            return Err(ErrorKind::Closed.into());
        }
        let fd = self.conn_fd().ok_or(ErrorKind::NotConnected)?;
        match super::status::tcp_state(fd)? {
            TcpState::Established | TcpState::CloseWait => {}
            _ => return Err(ErrorKind::InvalidState.into()),
        }
        if data.is_empty() {
            return if urgent { Err(ErrorKind::InvalidArgument.into()) } else { Ok(Some(Reply::Done)) };
        }
        self.set_pending(core, ticket, Pending::Send { data, pos: 0, push, urgent }, None);
        self.continue_send(core);
        Ok(None)
    }

    /// Sends what the kernel takes now. Without push, MSG_MORE lets the
    /// kernel coalesce with the next send. Urgent data goes with MSG_OOB,
    /// all of it in one call when the kernel takes it (so it travels with
    /// its urgent pointer); if the kernel takes only part, the rest goes
    /// with MSG_OOB too, and each call moves the urgent pointer to the end
    /// of what it sent, so it ends up exactly at the end of the data.
    pub(super) fn continue_send(&self, core: &Rc<Core>) {
        let Some(fd) = self.conn_fd() else { return };
        loop {
            self.ulp_before_send();
            let outcome = {
                let mut st = self.st.borrow_mut();
                let Some(Pending::Send { data, pos, push, urgent }) = st.op(Lane::Send) else { return };
                let rest = &data[*pos..];
                if rest.is_empty() {
                    None
                } else {
                    let flags = match (*urgent, *push) {
                        (true, _) => libc::MSG_OOB,
                        (false, true) => 0,
                        (false, false) => libc::MSG_MORE,
                    };
                    let r = sys::send_vectored(fd, &[IoSlice::new(rest)], flags);
                    if let Ok(n) = r {
                        *pos += n;
                    }
                    Some(r)
                }
            };
            match outcome {
                None => return self.finish(Lane::Send, Ok(Reply::Done)),
                Some(Ok(_)) => self.ulp_sent(core),
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Some(Err(e)) => {
                    if self.io_error(core, &e) {
                        return;
                    }
                }
            }
        }
    }

    /// Waits for data (up to `timeout`) and returns the next piece.
    pub(super) fn rcv(self: &Rc<Self>, core: &Rc<Core>, ticket: u64, cap: usize, timeout: Option<Duration>) -> Result<Option<Reply>> {
        self.require_open()?;
        if cap == 0 {
            return Err(ErrorKind::InvalidArgument.into());
        }
        if self.st.borrow().peer_done {
            return Err(ErrorKind::ConnectionClosing.into());
        }
        let poll = timeout == Some(Duration::ZERO);
        self.set_pending(core, ticket, Pending::Rcv { cap }, timeout.filter(|_| !poll));
        self.try_rcv(core);
        if poll {
            // A zero limit polls: answered now, whether or not data was there.
            self.finish(Lane::Receive, Err(ErrorKind::TimedOut.into()));
        }
        Ok(None)
    }

    pub(super) fn try_rcv(&self, core: &Rc<Core>) {
        let Some(fd) = self.conn_fd() else { return };
        let cap = match self.st.borrow_mut().op(Lane::Receive) {
            Some(Pending::Rcv { cap }) => *cap,
            _ => return,
        };
        match read_piece(fd, cap) {
            Ok(Read::Piece { bytes, in_urgent, mark }) => {
                // Seed: "The first call returning urgent data will have the
                // urgent flag set, the last will have the mark flag set."
                let (first_urgent, urgent) = {
                    let mut st = self.st.borrow_mut();
                    st.data_notified = false;
                    let notify = in_urgent && !st.urgent_notified;
                    let urgent = in_urgent && !st.urgent_returned;
                    if in_urgent {
                        st.urgent_notified = !mark;
                        st.urgent_returned = !mark;
                    }
                    (notify, urgent)
                };
                if first_urgent {
                    self.notify(Event::Urgent, 0);
                }
                self.finish(Lane::Receive, Ok(Reply::Data { bytes, urgent, mark }));
                self.check_peer_done(core);
            }
            Ok(Read::WouldBlock) => {}
            Ok(Read::Eof) => {
                self.finish(Lane::Receive, Err(ErrorKind::ConnectionClosing.into()));
                self.check_peer_done(core);
            }
            Err(e) => {
                // An ICMP report leaves the rcv waiting for data.
                self.io_error(core, &e);
            }
        }
    }

    /// Sends CLOSING once the peer has closed and all its data was read;
    /// when our own close has completed too, the connection is over.
    pub(super) fn check_peer_done(&self, core: &Rc<Core>) {
        let Some(fd) = self.conn_fd() else { return };
        if self.st.borrow().peer_done || !peer_finished(fd) {
            return;
        }
        self.st.borrow_mut().peer_done = true;
        self.notify(Event::Closing, 0);
        if self.st.borrow().close_done {
            self.closed_both(core);
        }
    }
}
