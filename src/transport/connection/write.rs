//! The write path of [`Connection`]: the immediate gather write, the queue, coalescing
//! within a turn, the flush and what a drained queue sets going.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use super::{Connection, Kind, Phase, State, PAUSED_BY_ANSWERS};
use crate::error::{ErrorKind, Result};
use crate::reactor::Core;
use crate::sys::MAX_IOV;
use crate::transport::Reason;

/// A write below this size, made while the loop runs by a connection that
/// already sent to the kernel during this turn, is queued and flushed once
/// at the end of the turn: a burst of small writes then costs one sendmsg
/// instead of one each (copying 13 bytes is far cheaper than a syscall).
/// The first write of a turn, and every large one, still goes straight to
/// the kernel, so a request/response exchange is not delayed at all.
const COALESCE_BELOW: usize = 16 * 1024;

impl<K: Kind> Connection<K> {
    fn check_writable(st: &State) -> Result<()> {
        if st.phase == Phase::Closed || st.write_shut {
            return Err(ErrorKind::Closed.into());
        }
        Ok(())
    }

    /// The immediate-write fast path: gather-writes straight from the
    /// caller's buffers, `MAX_IOV` at a time, for as long as the kernel takes
    /// them. Returns the bytes taken.
    ///
    /// It must go on until the kernel refuses (or everything is sent): the
    /// descriptor is polled edge-triggered, so if it stopped after one batch
    /// with room left, no writable edge would ever come to flush what it queued.
    fn try_send(st: &State, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize> {
        let (Phase::Open, Some(fd)) = (st.phase, &st.fd) else { return Ok(0) };
        if !st.queue.is_empty() {
            return Ok(0);
        }
        let fd = fd.as_raw_fd();
        let mut taken = 0;
        // Position: buffer `i`, of which `off` bytes are already sent.
        let (mut i, mut off) = (0, 0);
        loop {
            while i < bufs.len() && off == bufs[i].len() {
                i += 1;
                off = 0;
            }
            if i == bufs.len() {
                return Ok(taken);
            }
            let result = if off == 0 {
                // At a buffer boundary (the common case: the start): send
                // the caller's slices as they are, no copy into a batch.
                K::write(fd, &bufs[i..], urgent)
            } else {
                send_from_middle::<K>(fd, &bufs[i..], off, urgent)
            };
            let sent = match result {
                Ok(sent) => sent,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if sent == 0 {
                return Ok(taken);
            }
            taken += sent;
            // Advance the position by `sent` bytes.
            let mut left = sent;
            while left > 0 {
                let room = bufs[i].len() - off;
                if left < room {
                    off += left;
                    left = 0;
                } else {
                    left -= room;
                    i += 1;
                    off = 0;
                }
            }
        }
    }

    pub(super) fn write_bufs(self: &Rc<Self>, core: &Rc<Core>, bufs: &[IoSlice<'_>], urgent: bool) -> Result<()> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Self::check_writable(&self.state.borrow());
        }
        let turn = core.turn_number() as u32;
        let (queued, outcome, schedule_flush, resume) = {
            let mut st = self.state.borrow_mut();
            Self::check_writable(&st)?;
            let coalesce = !urgent && total < COALESCE_BELOW && core.is_running() && st.sent_in_turn == turn;
            if coalesce && st.phase == Phase::Open {
                // Behind this turn's earlier send: queue it, flush at the end.
                st.queue.push_rest(bufs, 0);
                let schedule = !std::mem::replace(&mut st.flush_scheduled, true);
                (st.queue.len(), Ok(0), schedule, false)
            } else {
                if st.phase == Phase::Open && st.queue.is_empty() {
                    st.sent_in_turn = turn;
                }
                let outcome = Self::try_send(&st, bufs, urgent && bufs.len() == 1);
                let taken = *outcome.as_ref().unwrap_or(&0);
                if taken < total {
                    if urgent {
                        let rest: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).skip(taken).collect();
                        st.queue.push_urgent(&rest);
                    } else {
                        st.queue.push_rest(bufs, taken);
                    }
                }
                // Sent in full: answers no longer hold reading back (see `drained`).
                let resume = st.queue.is_empty() && st.paused == PAUSED_BY_ANSWERS;
                if st.queue.is_empty() {
                    st.paused &= !PAUSED_BY_ANSWERS;
                }
                (st.queue.len(), outcome, false, resume)
            }
        };
        if schedule_flush {
            let me = self.clone();
            core.defer(move |core| {
                me.state.borrow_mut().flush_scheduled = false;
                me.flush(core);
            });
        }
        match outcome {
            Err(e) => self.close(core, Reason::from_io(&e), false),
            Ok(_) if queued == 0 => {
                // The fast path's `drained`, without borrowing the state again.
                if resume {
                    self.schedule_read(core);
                }
                if self.producer.wants_drained() {
                    self.producer.drained(core, &self.transport(core));
                }
            }
            Ok(_) => self.producer.after_write(&self.transport(core), queued),
        }
        Ok(())
    }

    /// Writes what is queued; acts on a drained queue.
    pub(super) fn flush(self: &Rc<Self>, core: &Rc<Core>) {
        let result = {
            let mut st = self.state.borrow_mut();
            match (st.phase, &st.fd) {
                (Phase::Open, Some(fd)) if !st.queue.is_empty() => {
                    let fd = fd.as_raw_fd();
                    st.queue.flush(&mut |bufs: &[IoSlice<'_>], urgent: bool| K::write(fd, bufs, urgent))
                }
                _ => Ok(true),
            }
        };
        match result {
            Ok(true) => {
                self.drained(core);
                self.settle(core);
            }
            Ok(false) => {}
            Err(e) => self.close(core, Reason::from_io(&e), false),
        }
    }

    /// The queue is empty: answers no longer hold reading back, and producers go on.
    pub(super) fn drained(self: &Rc<Self>, core: &Rc<Core>) {
        let (resume, open) = {
            let mut st = self.state.borrow_mut();
            let resume = st.paused == PAUSED_BY_ANSWERS;
            st.paused &= !PAUSED_BY_ANSWERS;
            (resume, st.phase == Phase::Open)
        };
        if resume {
            self.schedule_read(core);
        }
        if open && self.producer.wants_drained() {
            self.producer.drained(core, &self.transport(core));
        }
    }
}

/// A gather write of `bufs` whose first `off` bytes were already sent.
/// Out of line: its 1 KiB batch array would otherwise be set up on every
/// write, even the ones that never need it.
#[inline(never)]
fn send_from_middle<K: Kind>(fd: RawFd, bufs: &[IoSlice<'_>], off: usize, urgent: bool) -> io::Result<usize> {
    let mut batch = [IoSlice::new(&[]); MAX_IOV];
    let mut n = 0;
    for (k, b) in bufs.iter().take(MAX_IOV).enumerate() {
        let b = if k == 0 { &b[off..] } else { &b[..] };
        batch[n] = IoSlice::new(b);
        n += 1;
    }
    K::write(fd, &batch[..n], urgent)
}
