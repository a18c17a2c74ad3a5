//! What the callers' threads, the stream's engine thread and its asr
//! thread share: one mutex-protected record, a condition variable for
//! replies, and the notification queue.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use socket2::Socket;

use super::asr::Notifier;
use crate::error::{Error, ErrorKind, Result};

/// What an operation gives back on success.
#[derive(Debug)]
pub(crate) enum Reply {
    Done,
    Data { bytes: Vec<u8>, urgent: bool, mark: bool },
}

/// Where the passive open stands, as seen by wait/isdone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Passive {
    /// None is in progress and no failure is waiting to be reported.
    Idle,
    Pending,
    /// It failed; the next wait reports this once.
    Failed(Error),
}

pub(crate) struct Public {
    pub passive: Passive,
    /// The connected socket, for status calls made off the engine thread.
    pub sock: Option<Arc<Socket>>,
    /// The kernel's bytes_acked when the connection was established.
    pub acked_base: u64,
    /// This side's address: the listening one during a passive open.
    pub local: Option<SocketAddr>,
    /// Answers by ticket, with the errno recorded on the engine thread.
    replies: Vec<(u64, Result<Reply>)>,
    next_ticket: u64,
    /// The engine thread has finished: nothing will reply any more.
    pub dead: bool,
    /// tcp_stream_free has started: no notification may begin.
    pub freed: bool,
}

pub(crate) struct Shared {
    state: Mutex<Public>,
    cond: Condvar,
    pub notifier: Arc<Notifier>,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            state: Mutex::new(Public {
                passive: Passive::Idle,
                sock: None,
                acked_base: 0,
                local: None,
                replies: Vec::new(),
                next_ticket: 1,
                dead: false,
                freed: false,
            }),
            cond: Condvar::new(),
            notifier: Arc::new(Notifier::new()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Public> {
        relock(&self.state)
    }

    /// Changes the shared record and wakes every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut Public) -> R) -> R {
        let r = f(&mut self.lock());
        self.cond.notify_all();
        r
    }

    /// A ticket for a new operation, or why none can start.
    pub fn ticket(&self) -> Result<u64> {
        let mut st = self.lock();
        if st.freed {
            return Err(ErrorKind::StaleHandle.into());
        }
        if st.dead {
            return Err(ErrorKind::Panic.into());
        }
        st.next_ticket += 1;
        Ok(st.next_ticket)
    }

    /// Engine side: the answer to operation `ticket`.
    pub fn reply(&self, ticket: u64, result: Result<Reply>) {
        self.update(|st| st.replies.push((ticket, result)));
    }

    /// Caller side: blocks until operation `ticket` is answered.
    pub fn wait_reply(&self, ticket: u64) -> Result<Reply> {
        let mut st = self.lock();
        loop {
            if let Some(i) = st.replies.iter().position(|r| r.0 == ticket) {
                return st.replies.swap_remove(i).1;
            }
            if st.dead {
                return Err(if st.freed { ErrorKind::StaleHandle.into() } else { ErrorKind::Panic.into() });
            }
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Caller side: blocks until no passive open is pending, or `deadline`.
    /// A failure is reported once, then forgotten.
    pub fn wait_passive(&self, deadline: Option<Instant>) -> Result<()> {
        let mut st = self.lock();
        loop {
            match std::mem::replace(&mut st.passive, Passive::Idle) {
                Passive::Idle => return Ok(()),
                Passive::Failed(e) => return Err(e),
                Passive::Pending => st.passive = Passive::Pending,
            }
            if st.dead {
                return Err(if st.freed { ErrorKind::StaleHandle.into() } else { ErrorKind::Panic.into() });
            }
            st = match deadline {
                None => self.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(ErrorKind::TimedOut.into());
                    }
                    self.cond.wait_timeout(st, d - now).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Marks the stream freed, after which no asr call starts; false if it
    /// already was.
    pub fn mark_freed(&self) -> bool {
        let first = self.update(|st| !std::mem::replace(&mut st.freed, true));
        self.notifier.stop();
        first
    }

    /// Engine side, when its thread ends: wake every waiter for good.
    pub fn mark_dead(&self) {
        self.update(|st| {
            st.dead = true;
            st.sock = None;
        });
    }
}
