//! Ending a connection: close (our side, waiting until the peer has
//! acknowledged everything) and abort (reset at once).

use std::rc::Rc;
use std::time::Duration;

use super::codes::TerminateReason;
use super::engine::{Engine, Lane, Pending, Phase};
use super::shared::Reply;
use crate::error::{ErrorKind, Result};
use crate::reactor::{Core, Reactor};
use crate::sys;

/// How often close looks at SIOCOUTQ: acknowledgements raise no event.
const CLOSE_POLL: Duration = Duration::from_millis(2);

impl Engine {
    /// Sends FIN after our data, then waits until SIOCOUTQ is 0: every byte
    /// we sent, and the FIN, acknowledged by the peer.
    pub(super) fn close(self: &Rc<Self>, core: &Rc<Core>, ticket: u64, timeout: Option<Duration>) -> Result<Option<Reply>> {
        self.require_open()?;
        if self.st.borrow().write_closed {
            return Err(ErrorKind::Closed.into());
        }
        let sock = self.st.borrow().conn.clone().ok_or(ErrorKind::NotConnected)?;
        self.ulp_before_send();
        sock.shutdown(std::net::Shutdown::Write)?;
        drop(sock);
        self.ulp_sent(core); // the FIN waits for its acknowledgement too
        self.st.borrow_mut().write_closed = true;
        self.set_pending(core, ticket, Pending::Close, timeout);
        self.check_close(core);
        self.poll_close(core);
        Ok(None)
    }

    fn closing(&self) -> bool {
        matches!(self.st.borrow_mut().op(Lane::Send), Some(Pending::Close))
    }

    fn poll_close(self: &Rc<Self>, core: &Rc<Core>) {
        let Some(me) = self.handle.get() else { return };
        if !self.closing() {
            return;
        }
        let _ = Reactor::view(core).call_later(CLOSE_POLL, move |r| {
            if let Ok(e) = r.core.object_as::<Engine>(me) {
                e.check_close(&r.core);
                e.poll_close(&r.core);
            }
        });
    }

    pub(super) fn check_close(&self, core: &Rc<Core>) {
        if !self.closing() {
            return;
        }
        let Some(fd) = self.conn_fd() else { return };
        match sys::outq(fd) {
            Ok(0) => {
                self.st.borrow_mut().close_done = true;
                self.finish(Lane::Send, Ok(Reply::Done));
                if self.st.borrow().peer_done {
                    self.closed_both(core);
                }
            }
            Ok(_) => {}
            Err(e) => {
                self.io_error(core, &e);
            }
        }
    }

    /// Both sides closed and everything was delivered both ways.
    pub(super) fn closed_both(&self, core: &Rc<Core>) {
        self.terminate(core, TerminateReason::UlpClose, ErrorKind::Terminated.into(), false);
    }

    /// Resets the connection (SO_LINGER 0, so close sends RST), dropping
    /// whatever is queued either way. A connection attempt is cancelled.
    pub(super) fn abort(&self, core: &Rc<Core>) -> Result<Reply> {
        match self.st.borrow().phase {
            Phase::Listening => return Err(ErrorKind::PassiveOpenInProgress.into()),
            Phase::Idle => return Err(ErrorKind::NotConnected.into()),
            Phase::Gone(_) => return Err(ErrorKind::Terminated.into()),
            Phase::Connecting | Phase::Open => {}
        }
        self.terminate(core, TerminateReason::UlpAbort, ErrorKind::Terminated.into(), true);
        Ok(Reply::Done)
    }
}
