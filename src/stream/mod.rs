//! Blocking MacTCP-style stream objects (SEMANTICS §5): calls that block
//! until done, plus an optional notification routine (the "asr").
//!
//! # Engine
//!
//! Each stream runs a marline [`Reactor`](crate::Reactor) on a thread of
//! its own, and that thread owns the stream's sockets. A call from the
//! user's thread is sent there with `Stopper::call_from_thread` and waits
//! on a condition variable for its answer. This was chosen over a private
//! mio loop driven by the calling thread because:
//!
//! - one thread decides everything: whether a receive was waiting when
//!   data came (DATA_ARRIVAL), when the peer's end was reached (CLOSING),
//!   whether a reset ends the current call or is reported afterwards.
//!   With the caller and a watcher both touching the socket, each of
//!   those would be a race;
//! - time limits are reactor timers on that thread, so a receive that
//!   times out can never lose data read at the same moment;
//! - the asr needs a thread of its own anyway (it is called "outside the
//!   caller's own call", also while the caller is not in any call);
//!   running it on the engine thread means it never runs concurrently with
//!   another asr of the same stream, for free, and `free` joins that
//!   thread, so no asr can run after `free` has returned;
//! - a thread per stream (not one reactor for all streams) keeps streams
//!   independent: a slow asr, or a blocking call, on one stream never
//!   delays another, so two threads each with their own stream run
//!   concurrently.
//!
//! The reactor's objects are `!Send` and stay on the engine thread; a
//! [`TcpStream`] holds only `Send + Sync` parts (the shared record, the
//! reactor's `Stopper`, the thread handle), so it may be used from any one
//! thread at a time. Two calls on one stream at once are not supported:
//! the second fails with [`Error::StreamBusy`] (except `abort`, which
//! interrupts the first, and `free`, which cancels it).
//!
//! # Inside the asr
//!
//! The asr runs on the engine thread, so a call that needs the engine to
//! answer would wait for itself. From inside the asr, `is_done`,
//! `sock_name`, `status`, `set_asr` and `free` work; `abort` is queued and
//! takes effect when the asr returns; `wait` works when nothing is pending;
//! the other calls fail with [`Error::Reentrant`].

mod close;
mod codes;
mod engine;
mod open;
mod shared;
mod status;
mod transfer;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use codes::{Event, TcpState, TerminateReason};
pub use shared::Asr;
pub use status::Status;

use crate::error::{Error, Result};
use crate::reactor::handles::Handle;
use crate::reactor::Stopper;
use engine::Op;
use shared::{Passive, Reply, Shared};

/// What one rcv returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub data: Vec<u8>,
    /// This is the first piece of urgent data (MacTCP: "the first call
    /// returning urgent data will have the urgent flag set"); the pieces
    /// after it up to the mark have it clear.
    pub urgent: bool,
    /// This is the last piece of urgent data: the urgent byte itself, at
    /// the urgent mark ("the last will have the mark flag set"). A single
    /// urgent byte is both first and last: urgent and mark.
    pub mark: bool,
}

/// A blocking TCP stream in the MacTCP style. Dropping it is
/// [`TcpStream::free`].
pub struct TcpStream {
    shared: Arc<Shared>,
    stopper: Stopper,
    engine: Handle,
    /// The engine thread, as pthread_t: comparing with pthread_self()
    /// allocates nothing (std::thread::current would, on C threads).
    engine_thread: libc::pthread_t,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TcpStream {
    /// Creates a stream with no connection, and its engine thread.
    pub fn new() -> Result<TcpStream> {
        let shared = Arc::new(Shared::new());
        let link = engine::spawn(shared.clone())?;
        Ok(TcpStream {
            shared,
            stopper: link.stopper,
            engine: link.engine,
            engine_thread: link.thread.as_pthread_t() as libc::pthread_t,
            thread: Mutex::new(Some(link.thread)),
        })
    }

    fn in_asr(&self) -> bool {
        // SAFETY: pthread_self and pthread_equal have no preconditions.
        unsafe { libc::pthread_equal(libc::pthread_self(), self.engine_thread) != 0 }
    }

    /// Runs `op` on the engine and waits for its answer.
    fn call(&self, op: Op) -> Result<Reply> {
        if self.in_asr() {
            return Err(Error::Reentrant);
        }
        let ticket = self.shared.ticket()?;
        let h = self.engine;
        self.stopper.call_from_thread(move |r| engine::start(r, h, ticket, op))?;
        self.shared.wait_reply(ticket)
    }

    fn call_done(&self, op: Op) -> Result<()> {
        self.call(op).map(|_| ())
    }

    /// Fails when a passive open is in progress (for the calls that are
    /// answered without the engine).
    fn not_listening(&self) -> Result<()> {
        let st = self.shared.lock();
        if st.passive == Passive::Pending {
            return Err(Error::PassiveOpenInProgress);
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the notification routine. It is called
    /// with (event, detail) on the stream's engine thread, never while
    /// another call of it for this stream runs, never after `free`.
    pub fn set_asr(&self, asr: Option<Asr>) -> Result<()> {
        {
            let st = self.shared.lock();
            if st.dead || st.freed {
                return Err(Error::StaleHandle);
            }
        }
        self.shared.set_asr(asr);
        Ok(())
    }

    /// Starts waiting for one incoming connection on `port` of every IPv4
    /// interface: [`TcpStream::passive_open_on`] with 0.0.0.0.
    pub fn passive_open(&self, port: u16) -> Result<()> {
        self.passive_open_on(SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)))
    }

    /// Starts waiting for one incoming connection on `local`: an address of
    /// this host (127.0.0.1 or ::1 for this host only, 0.0.0.0 for every
    /// IPv4 interface, :: for every interface) and a port (0 picks a free
    /// one, see [`TcpStream::sock_name`]). Returns at once; binding errors
    /// (a port in use, an address not of this host) are reported here.
    pub fn passive_open_on(&self, local: SocketAddr) -> Result<()> {
        self.call_done(Op::PassiveOpen { local })
    }

    /// Blocks until the passive open completes (`timeout` None = no
    /// limit). Its failure is reported once; with nothing pending, Ok.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        if self.in_asr() && self.shared.lock().passive == Passive::Pending {
            return Err(Error::Reentrant);
        }
        let deadline = timeout.map(|t| Instant::now().checked_add(t).ok_or(Error::InvalidArgument)).transpose()?;
        self.shared.wait_passive(deadline)
    }

    /// False while a passive open is in progress.
    pub fn is_done(&self) -> bool {
        self.shared.lock().passive != Passive::Pending
    }

    /// This side's address: the listening one during a passive open.
    pub fn sock_name(&self) -> Result<SocketAddr> {
        let st = self.shared.lock();
        if st.freed {
            return Err(Error::StaleHandle);
        }
        st.local.ok_or(Error::NotConnected)
    }

    /// Connects from `local_port` (0 = any) to `host` (name or literal) and
    /// `remote_port`, blocking until established or failed (`timeout` None
    /// = no limit). A failure also sends TERMINATE to the asr. The host name
    /// is resolved first, on the calling thread, outside the time limit.
    pub fn active_open(&self, local_port: u16, host: &str, remote_port: u16, timeout: Option<Duration>) -> Result<()> {
        if self.in_asr() {
            return Err(Error::Reentrant);
        }
        self.not_listening()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(Error::BadAddress);
        }
        let targets: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, remote_port)],
            Err(_) => (host, remote_port).to_socket_addrs().map_err(|_| Error::BadAddress)?.collect(),
        };
        self.call_done(Op::ActiveOpen { local_port, targets, timeout })
    }

    /// Sends all of `data`, blocking until the kernel has taken it. `push`
    /// sends at once instead of waiting to coalesce with the next send;
    /// `urgent` sends it as urgent data, the urgent pointer at its end.
    /// Allowed only in ESTABLISHED or CLOSE_WAIT.
    pub fn send(&self, data: &[u8], push: bool, urgent: bool) -> Result<()> {
        self.call_done(Op::Send { data: data.to_vec(), push, urgent })
    }

    /// Returns the next piece of data, at most `cap` bytes, waiting up to
    /// `timeout` (None = no limit) for some to arrive. Urgent data comes
    /// before normal data and is never merged with it; see [`Received`].
    /// At the peer's end of stream: [`Error::ConnectionClosing`].
    pub fn rcv(&self, cap: usize, timeout: Option<Duration>) -> Result<Received> {
        if cap == 0 {
            return Err(Error::InvalidArgument);
        }
        match self.call(Op::Rcv { cap, timeout })? {
            Reply::Data { bytes, urgent, mark } => Ok(Received { data: bytes, urgent, mark }),
            Reply::Done => Err(Error::Panic),
        }
    }

    /// Closes our side and blocks until the peer has acknowledged all our
    /// data (SIOCOUTQ reaches 0), or `timeout` (None = no limit) passes:
    /// then [`Error::TimedOut`] and a ULP_TIMEOUT notification. Receiving
    /// goes on working until the peer closes too.
    pub fn close(&self, timeout: Option<Duration>) -> Result<()> {
        self.call_done(Op::Close { timeout })
    }

    /// Resets the connection at once (RST), dropping queued data both ways.
    pub fn abort(&self) -> Result<()> {
        if self.in_asr() {
            let h = self.engine;
            return self.stopper.call_from_thread(move |r| engine::start(r, h, 0, Op::Abort));
        }
        self.call_done(Op::Abort)
    }

    /// A snapshot of the connection (state CLOSED when there is none).
    pub fn status(&self) -> Result<Status> {
        self.not_listening()?;
        let sock = {
            let st = self.shared.lock();
            if st.dead || st.freed {
                return Err(Error::StaleHandle);
            }
            st.sock.clone().map(|s| (s, st.acked_base))
        };
        match sock {
            Some((sock, acked_base)) => status::read(&sock, acked_base),
            None => Ok(Status::closed()),
        }
    }

    /// Frees the stream: cancels a pending passive open, fails a call
    /// blocked in another thread with [`Error::StaleHandle`], closes the
    /// connection as close(2) does, and joins the engine thread, so no
    /// asr runs once this returns. From inside the asr, the engine thread
    /// ends when the asr returns. Calling it twice is harmless.
    pub fn free(&self) {
        if !self.shared.mark_freed() {
            return;
        }
        self.stopper.stop();
        if self.in_asr() {
            return;
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.free();
    }
}
