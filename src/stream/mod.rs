//! Blocking MacTCP-style stream objects (SEMANTICS §5): calls that block
//! until done, plus an optional notification routine (the "asr").
//!
//! # Engine
//!
//! Each stream runs a marline [`Reactor`](crate::Reactor) on a thread of
//! its own, and that thread owns the stream's sockets. A call from a
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
//! - a thread per stream (not one reactor for all streams) keeps streams
//!   independent: a blocking call on one stream never delays another, so
//!   two threads each with their own stream run concurrently.
//!
//! The reactor's objects are `!Send` and stay on the engine thread; a
//! [`TcpStream`] holds only `Send + Sync` parts (the shared record, the
//! reactor's `Stopper`, the thread handles), so it may be used from any
//! thread. Operations run in two lanes: one receive and one send (or
//! close) may be in progress at once, from two threads; a second call in
//! a busy lane fails with [`ErrorKind::StreamBusy`]. `abort` interrupts
//! whatever is in progress, and `free` cancels it.
//!
//! # The asr thread
//!
//! The seed promises: "It is safe to do further calls from the asr." So
//! the notification routine runs on a second thread of the stream, the
//! asr thread, and not on the engine thread: the engine posts (event,
//! detail) to a queue and goes on; the asr thread calls the routine for
//! each, in order. A call made from inside the asr is then an ordinary
//! call: it goes to the engine, which is free to answer it, so rcv (with
//! or without a time limit), send, close, wait and abort all work there
//! and block as they would anywhere else; an abort has taken effect when
//! it returns.
//!
//! The other design, serving calls from the asr inline on the engine
//! thread, would need the engine to run its loop again inside the asr for
//! every blocking call (a nested loop, with every notification raised
//! meanwhile held back by hand, and a blocked send holding the engine
//! hostage). Two threads avoid that: no thread ever waits for itself.
//!
//! Why it never deadlocks: the engine thread runs no user code and never
//! waits for another thread (a notification is a queue push). The asr
//! thread waits only for the engine. A user's thread waits for the
//! engine, and in `free` for the asr thread, which in turn waits only for
//! the engine, which `free` has stopped, so every blocked call in the asr
//! returns [`ErrorKind::StaleHandle`] and the asr returns.
//!
//! The rules kept: one asr thread per stream takes one notification at a
//! time, so an asr never runs while another asr of the same stream runs;
//! `free` stops the queue (no call starts after that) and then joins the
//! asr thread, so no asr runs once `free` has returned. From inside the
//! asr, `free` returns at once, the running asr being its caller; no
//! other asr follows. The cost is one more thread per stream.

mod asr;
mod close;
mod codes;
mod engine;
mod open;
mod shared;
mod status;
mod transfer;
mod ulp;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use asr::Asr;
pub use codes::{Event, TcpState, TerminateReason, UlpAction};
pub use status::Status;

use crate::error::{ErrorKind, Result};
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
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The asr thread, as pthread_t: comparing with pthread_self()
    /// allocates nothing (std::thread::current would, on C threads).
    asr_pthread: libc::pthread_t,
    asr_thread: Mutex<Option<JoinHandle<()>>>,
}

impl TcpStream {
    /// Creates a stream with no connection, and its engine and asr threads.
    pub fn new() -> Result<TcpStream> {
        let shared = Arc::new(Shared::new());
        let link = engine::spawn(shared.clone())?;
        let asr_thread = match asr::spawn(shared.notifier.clone()) {
            Ok(t) => t,
            Err(e) => {
                link.stopper.stop();
                let _ = link.thread.join();
                return Err(e);
            }
        };
        Ok(TcpStream {
            shared,
            stopper: link.stopper,
            engine: link.engine,
            thread: Mutex::new(Some(link.thread)),
            asr_pthread: asr_thread.as_pthread_t() as libc::pthread_t,
            asr_thread: Mutex::new(Some(asr_thread)),
        })
    }

    fn in_asr(&self) -> bool {
        // SAFETY: pthread_self and pthread_equal have no preconditions.
        unsafe { libc::pthread_equal(libc::pthread_self(), self.asr_pthread) != 0 }
    }

    /// Runs `op` on the engine and waits for its answer.
    fn call(&self, op: Op) -> Result<Reply> {
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
            return Err(ErrorKind::PassiveOpenInProgress.into());
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the notification routine. It is called
    /// with (event, detail) on the stream's asr thread, never while another
    /// call of it for this stream runs, never after `free`. It may make
    /// any call on its stream. A call of the old routine that is running
    /// when it is replaced goes on to its end; this does not wait for it.
    pub fn set_asr(&self, asr: Option<Asr>) -> Result<()> {
        {
            let st = self.shared.lock();
            if st.dead || st.freed {
                return Err(ErrorKind::StaleHandle.into());
            }
        }
        self.shared.notifier.set(asr);
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
        let deadline = timeout.map(|t| Instant::now().checked_add(t).ok_or(ErrorKind::InvalidArgument)).transpose()?;
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
            return Err(ErrorKind::StaleHandle.into());
        }
        st.local.ok_or_else(|| ErrorKind::NotConnected.into())
    }

    /// Connects from `local_port` (0 = any) to `host` (name or literal) and
    /// `remote_port`, blocking until established or failed (`timeout` None
    /// = no limit). A failure also sends TERMINATE to the asr. The host name
    /// is resolved first, on the calling thread, outside the time limit.
    /// `remote_port` 0 is `InvalidArgument` (no peer listens there).
    pub fn active_open(&self, local_port: u16, host: &str, remote_port: u16, timeout: Option<Duration>) -> Result<()> {
        if remote_port == 0 {
            return Err(ErrorKind::InvalidArgument.into());
        }
        self.not_listening()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(ErrorKind::BadAddress.into());
        }
        let targets: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, remote_port)],
            Err(_) => (host, remote_port).to_socket_addrs().map_err(|_| ErrorKind::BadAddress)?.collect(),
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
    /// At the peer's end of stream: [`ErrorKind::ConnectionClosing`].
    pub fn rcv(&self, cap: usize, timeout: Option<Duration>) -> Result<Received> {
        if cap == 0 {
            return Err(ErrorKind::InvalidArgument.into());
        }
        match self.call(Op::Rcv { cap, timeout })? {
            Reply::Data { bytes, urgent, mark } => Ok(Received { data: bytes, urgent, mark }),
            Reply::Done => Err(ErrorKind::Panic.into()),
        }
    }

    /// Closes our side and blocks until the peer has acknowledged all our
    /// data (SIOCOUTQ reaches 0), or `timeout` (None = no limit) passes:
    /// then [`ErrorKind::TimedOut`] and a ULP_TIMEOUT notification. Receiving
    /// goes on working until the peer closes too.
    pub fn close(&self, timeout: Option<Duration>) -> Result<()> {
        self.call_done(Op::Close { timeout })
    }

    /// Sets the ULP timeout (MacTCP's ulpTimeoutValue and
    /// ulpTimeoutAction): when data we sent stays unacknowledged for
    /// `timeout`, [`UlpAction::Abort`] ends the connection (TERMINATE with
    /// ULP_TIMEOUT) and [`UlpAction::Report`] sends ULP_TIMEOUT to the asr
    /// and goes on, once per `timeout` while nothing is acknowledged.
    /// `None` turns it off (the default: the kernel's own retransmission
    /// limit applies). For the connection there is and the later ones;
    /// refused during a passive open (set it before).
    pub fn set_ulp_timeout(&self, timeout: Option<Duration>, action: UlpAction) -> Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(ErrorKind::InvalidArgument.into());
        }
        self.call_done(Op::SetUlp { ulp: timeout.map(|limit| ulp::Ulp { limit, action }) })
    }

    /// Resets the connection at once (RST), dropping queued data both ways.
    pub fn abort(&self) -> Result<()> {
        self.call_done(Op::Abort)
    }

    /// A snapshot of the connection (state CLOSED when there is none).
    pub fn status(&self) -> Result<Status> {
        self.not_listening()?;
        let sock = {
            let st = self.shared.lock();
            if st.dead || st.freed {
                return Err(ErrorKind::StaleHandle.into());
            }
            st.sock.clone().map(|s| (s, st.acked_base))
        };
        match sock {
            Some((sock, acked_base)) => status::read(&sock, acked_base),
            None => Ok(Status::closed()),
        }
    }

    /// Frees the stream: cancels a pending passive open, fails a call
    /// blocked in another thread (or in the asr) with
    /// [`ErrorKind::StaleHandle`], closes the connection as close(2) does, and
    /// waits for a running asr to return, so no asr runs once this returns.
    /// From inside the asr it returns without waiting for that asr (its
    /// caller); no other asr follows. Calling it twice is harmless.
    pub fn free(&self) {
        if self.shared.mark_freed() {
            self.stopper.stop();
        }
        let take = |m: &Mutex<Option<JoinHandle<()>>>| m.lock().unwrap_or_else(|e| e.into_inner()).take();
        // The engine thread never waits for anyone: joining it is safe from
        // every thread, the asr thread included.
        if let Some(t) = take(&self.thread) {
            let _ = t.join();
        }
        if !self.in_asr() {
            if let Some(t) = take(&self.asr_thread) {
                let _ = t.join();
            }
        }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.free();
    }
}
