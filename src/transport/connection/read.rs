//! The read loop of [`Connection`]: the fairness bound, the short-read rule, and the
//! peer's end of stream.

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use super::{Connection, Kind, Phase, Read, ReadCtx};
use crate::reactor::Core;
use crate::transport::{Reason, Transport};

/// Reads per readiness event before yielding to other connections.
const READS_PER_EVENT: usize = 16;

impl<K: Kind> Connection<K> {
    pub(crate) fn schedule_read(self: &Rc<Self>, core: &Rc<Core>) {
        let me = self.clone();
        core.defer(move |core| me.read_some(core, false));
    }

    /// Reads until the descriptor is drained (or the fairness limit). `fresh`: called for
    /// a readiness event just reported by the poll. After lose_connection the input is
    /// read and dropped, so that the peer's end of stream or reset is still noticed.
    pub(super) fn read_some(self: &Rc<Self>, core: &Rc<Core>, fresh: bool) {
        let t = self.transport(core);
        for i in 0..READS_PER_EVENT {
            let (fd, ctx, deliver) = {
                let st = self.state.borrow();
                if st.phase != Phase::Open || st.read_eof || (st.paused != 0 && !st.disconnecting) {
                    return;
                }
                let Some(fd) = &st.fd else { return };
                (fd.as_raw_fd(), ReadCtx { fresh: fresh && i == 0, hup_seen: st.hup_seen }, !st.disconnecting)
            };
            let mut buf = core.read_buffer();
            let len = buf.len();
            match K::read(self, fd, &mut buf, ctx) {
                Ok(Read::Data(n)) => {
                    if deliver {
                        self.protocol.with(|p| p.data_received(&t, &buf[..n]));
                    }
                    drop(buf);
                    if n < len && !self.state.borrow().hup_seen && K::short_read_drains(self) {
                        // A short read drained the descriptor; the poll will report
                        // the next arrival as a new edge. (Not so when a FIN or error
                        // is pending: those were announced already.)
                        return;
                    }
                }
                Ok(Read::Urgent(byte)) => {
                    drop(buf);
                    if deliver {
                        self.protocol.with(|p| p.urgent_data_received(&t, &[byte]));
                    }
                }
                Ok(Read::Eof) => {
                    drop(buf);
                    return self.peer_closed_write(core, &t);
                }
                Ok(Read::Wait) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    drop(buf);
                    return self.close(core, Reason::from_io(&e), false);
                }
            }
        }
        // Still more to read: come back after the others had their turn.
        self.schedule_read(core);
    }

    /// The peer sent its end of stream. A half-close protocol is told and may go on
    /// writing; any other connection is closed once the queue has drained, without
    /// waiting for a producer (the peer will send nothing more).
    fn peer_closed_write(self: &Rc<Self>, core: &Rc<Core>, t: &Transport) {
        let (write_shut, disconnecting) = {
            let mut st = self.state.borrow_mut();
            st.read_eof = true;
            (st.write_shut, st.disconnecting)
        };
        if self.half_close && !disconnecting {
            self.protocol.with(|p| p.read_connection_lost(t));
        }
        if write_shut {
            self.close(core, Reason::done(), false);
        } else if !self.half_close {
            self.state.borrow_mut().disconnecting = true;
            self.settle(core);
        }
    }
}
