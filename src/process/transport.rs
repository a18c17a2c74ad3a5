//! The process transport: our ends of the child's pipes (or its pty), the
//! write queues, the reaping state and the order of the final callbacks.
//!
//! Callback order: connection_made first; child_data_received as data
//! arrives; child_connection_lost(fd) once per descriptor as it closes;
//! process_exited when the child is reaped; process_ended exactly once,
//! after process_exited and after every descriptor is closed. Everything but
//! data is delivered from the loop (deferred), never from inside the call
//! that caused it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use mio::Interest;

use super::reap::{self, Exit, SigchldReaper};
use super::signals;
use super::spawn::{Dir, Spawned};
use super::{Process, ProcessProtocol};
use crate::error::{Error, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness};
use crate::sys;
use crate::transport::write_queue::WriteQueue;
use crate::transport::{Address, ProducerSlot, ProtocolSlot, Reason, ReasonKind, Transport, TransportOps};

/// Reads per readiness event before yielding to other descriptors.
const READS_PER_EVENT: usize = 16;
/// The sub-descriptor number of the pidfd (pipes use their index).
const PIDFD_SUB: u8 = 255;

struct Pipe {
    child_fd: i32,
    dir: Dir,
    /// None once closed.
    fd: Option<OwnedFd>,
    queue: WriteQueue,
    /// Close once the queue has drained (close_child_fd on a writer,
    /// lose_connection).
    close_when_drained: bool,
}

impl Pipe {
    fn writable(&self) -> bool {
        matches!(self.dir, Dir::Write | Dir::Pty)
    }
    fn readable(&self) -> bool {
        matches!(self.dir, Dir::Read | Dir::Pty)
    }
}

struct State {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    /// How it ended, once reaped.
    status: Option<Exit>,
    made: bool,
    exited_delivered: bool,
    ended: bool,
    /// The reactor was freed before the child was reaped.
    abandoned: bool,
    pipes: Vec<Pipe>,
    /// child_connection_lost notifications scheduled, not yet delivered.
    pending_lost: usize,
    disconnecting: bool,
    reading_paused: bool,
}

/// One child process, as a transport.
pub(crate) struct ProcessTransport {
    handle: Cell<Option<Handle>>,
    state: RefCell<State>,
    protocol: ProtocolSlot<dyn ProcessProtocol>,
    producer: ProducerSlot,
    user: Cell<usize>,
    pty: bool,
    /// The child leads its own process group (see [`Self::signal_group`]).
    own_group: bool,
}

impl ProcessTransport {
    /// Adopts a spawned child. On failure the child is killed and reaped.
    pub(crate) fn start(core: &Rc<Core>, spawned: Spawned, protocol: Box<dyn ProcessProtocol>) -> Result<Process> {
        let (pid, own_group) = (spawned.pid, spawned.own_group);
        let pty = spawned.ends.iter().any(|e| e.dir == Dir::Pty);
        let pipes = spawned
            .ends
            .into_iter()
            .map(|e| Pipe { child_fd: e.child_fd, dir: e.dir, fd: Some(e.fd), queue: WriteQueue::default(), close_when_drained: false })
            .collect();
        let me = Rc::new(ProcessTransport {
            handle: Cell::new(None),
            state: RefCell::new(State {
                pid,
                pidfd: reap::pidfd_open(pid),
                status: None,
                made: false,
                exited_delivered: false,
                ended: false,
                abandoned: false,
                pipes,
                pending_lost: 0,
                disconnecting: false,
                reading_paused: false,
            }),
            protocol: ProtocolSlot::new(protocol),
            producer: ProducerSlot::default(),
            user: Cell::new(0),
            pty,
            own_group,
        });
        let h = match core.insert(me.clone()) {
            Ok(h) => h,
            Err(e) => {
                me.kill_and_reap();
                return Err(e);
            }
        };
        me.handle.set(Some(h));
        if let Err(e) = me.register_all(core, h) {
            for p in me.state.borrow_mut().pipes.iter_mut() {
                if let Some(fd) = p.fd.take() {
                    core.deregister(fd.as_raw_fd());
                }
            }
            if let Some(fd) = me.state.borrow_mut().pidfd.take() {
                core.deregister(fd.as_raw_fd());
            }
            core.remove(h);
            me.kill_and_reap();
            return Err(e);
        }
        let again = me.clone();
        core.defer(move |core| again.ensure_made(core));
        Ok(Process::new(Transport::new(core, h)))
    }

    fn register_all(&self, core: &Rc<Core>, h: Handle) -> Result<()> {
        let st = self.state.borrow();
        for (i, p) in st.pipes.iter().enumerate() {
            let interest = match p.dir {
                Dir::Read => Interest::READABLE,
                Dir::Write => Interest::WRITABLE,
                Dir::Pty => Interest::READABLE | Interest::WRITABLE,
            };
            let fd = p.fd.as_ref().expect("open at start").as_raw_fd();
            core.register(fd, h, i as u8, interest)?;
        }
        match &st.pidfd {
            Some(pidfd) => core.register(pidfd.as_raw_fd(), h, PIDFD_SUB, Interest::READABLE)?,
            None => SigchldReaper::watch(core, st.pid, h)?,
        }
        Ok(())
    }

    fn kill_and_reap(&self) {
        let pid = self.state.borrow().pid;
        // SAFETY: `pid` is our unreaped child, so it cannot be recycled.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap::wait_blocking(pid);
        self.state.borrow_mut().status = Some(Exit::Status(0));
    }

    fn process(&self, core: &Rc<Core>) -> Process {
        Process::new(Transport::new(core, self.handle.get().expect("installed before use")))
    }

    /// Delivers connection_made if it has not been yet.
    fn ensure_made(&self, core: &Rc<Core>) {
        if std::mem::replace(&mut self.state.borrow_mut().made, true) {
            return;
        }
        let p = self.process(core);
        self.protocol.with(|proto| proto.connection_made(&p));
    }

    // ----- reading -----

    fn schedule_read(self: &Rc<Self>, core: &Rc<Core>, i: usize) {
        let me = self.clone();
        core.defer(move |core| me.read_some(core, i));
    }

    fn read_some(self: &Rc<Self>, core: &Rc<Core>, i: usize) {
        for _ in 0..READS_PER_EVENT {
            let (fd, child_fd) = {
                let st = self.state.borrow();
                if st.reading_paused || st.ended {
                    return;
                }
                match st.pipes.get(i) {
                    Some(Pipe { fd: Some(fd), child_fd, .. }) => (fd.as_raw_fd(), *child_fd),
                    _ => return,
                }
            };
            self.ensure_made(core);
            let mut buf = core.read_buffer();
            match sys::read(fd, &mut buf) {
                Ok(0) => {
                    drop(buf);
                    return self.close_pipe(core, i);
                }
                Ok(n) => {
                    let p = self.process(core);
                    self.protocol.with(|proto| proto.child_data_received(&p, child_fd, &buf[..n]));
                    // No short-read shortcut: the writer may have closed in
                    // the same edge, and its EOF would then never be seen.
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EIO: the pty's last slave descriptor closed (its EOF).
                Err(_) => {
                    drop(buf);
                    return self.close_pipe(core, i);
                }
            }
        }
        self.schedule_read(core, i);
    }

    // ----- writing -----

    /// The pipe carrying data to child fd `child_fd`.
    fn writer_index(st: &State, child_fd: i32) -> Result<usize> {
        st.pipes.iter().position(|p| p.child_fd == child_fd && p.writable()).ok_or(Error::NoSuchChildFd)
    }

    pub(crate) fn write_to(self: &Rc<Self>, core: &Rc<Core>, child_fd: i32, bufs: &[IoSlice<'_>]) -> Result<()> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let (i, outcome) = {
            let mut st = self.state.borrow_mut();
            let i = Self::writer_index(&st, child_fd)?;
            let disconnecting = st.disconnecting;
            let p = &mut st.pipes[i];
            if disconnecting || p.close_when_drained || p.fd.is_none() {
                return Err(Error::Closed);
            }
            if total == 0 {
                return Ok(());
            }
            let outcome = if p.queue.is_empty() {
                match sys::write_vectored(p.fd.as_ref().expect("open").as_raw_fd(), bufs) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    other => other,
                }
            } else {
                Ok(0)
            };
            let taken = *outcome.as_ref().unwrap_or(&0);
            if taken < total {
                p.queue.push_rest(bufs, taken);
            }
            (i, outcome)
        };
        match outcome {
            // The child closed its end (EPIPE) or the pipe broke: it is lost.
            Err(_) => self.close_pipe(core, i),
            Ok(_) => self.after_write(core),
        }
        Ok(())
    }

    fn after_write(&self, core: &Rc<Core>) {
        let queued = self.queued_total();
        let t = self.process(core).transport().clone();
        if queued == 0 {
            self.producer.drained(core, &t);
        } else {
            self.producer.after_write(&t, queued);
        }
    }

    fn queued_total(&self) -> usize {
        self.state.borrow().pipes.iter().map(|p| p.queue.len()).sum()
    }

    fn flush(self: &Rc<Self>, core: &Rc<Core>, i: usize) {
        let result = {
            let mut st = self.state.borrow_mut();
            let Some(p) = st.pipes.get_mut(i) else { return };
            let Some(fd) = p.fd.as_ref().map(|f| f.as_raw_fd()) else { return };
            if p.queue.is_empty() {
                Ok(true)
            } else {
                p.queue.flush(&mut |bufs: &[IoSlice<'_>], _urgent: bool| sys::write_vectored(fd, bufs))
            }
        };
        match result {
            Ok(true) => self.after_drain(core, i),
            Ok(false) => {}
            Err(_) => self.close_pipe(core, i),
        }
    }

    /// Pipe `i` has nothing queued: resume producers, close if asked to.
    fn after_drain(self: &Rc<Self>, core: &Rc<Core>, i: usize) {
        if self.queued_total() == 0 {
            let t = self.process(core).transport().clone();
            self.producer.drained(core, &t);
        }
        let close = {
            let st = self.state.borrow();
            let Some(p) = st.pipes.get(i) else { return };
            let waits_for_producer = st.disconnecting && self.producer.is_registered();
            p.fd.is_some() && p.close_when_drained && p.queue.is_empty() && !waits_for_producer
        };
        if close {
            self.close_pipe(core, i);
        }
    }

    // ----- closing -----

    /// Closes pipe `i` now; child_connection_lost follows from the loop.
    fn close_pipe(self: &Rc<Self>, core: &Rc<Core>, i: usize) {
        let (fd, child_fd) = {
            let mut st = self.state.borrow_mut();
            let Some(p) = st.pipes.get_mut(i) else { return };
            let Some(fd) = p.fd.take() else { return };
            p.queue.clear();
            let child_fd = p.child_fd;
            st.pending_lost += 1;
            (fd, child_fd)
        };
        core.deregister(fd.as_raw_fd());
        drop(fd);
        let me = self.clone();
        core.defer(move |core| {
            me.ensure_made(core);
            let p = me.process(core);
            me.protocol.with(|proto| proto.child_connection_lost(&p, child_fd));
            me.state.borrow_mut().pending_lost -= 1;
            me.maybe_end(core);
        });
    }

    /// Closes child fd `child_fd`: a reader now, a writer once its queue
    /// has drained. Closing a closed descriptor does nothing.
    pub(crate) fn close_child_fd(self: &Rc<Self>, core: &Rc<Core>, child_fd: i32) -> Result<()> {
        if self.pty {
            return Err(Error::NotSupported);
        }
        let i = {
            let mut st = self.state.borrow_mut();
            let i = st.pipes.iter().position(|p| p.child_fd == child_fd).ok_or(Error::NoSuchChildFd)?;
            let p = &mut st.pipes[i];
            if p.writable() {
                p.close_when_drained = true;
            }
            i
        };
        let (writable, empty) = {
            let st = self.state.borrow();
            (st.pipes[i].writable(), st.pipes[i].queue.is_empty())
        };
        if !writable || empty {
            self.close_pipe(core, i);
        }
        Ok(())
    }

    /// The child has been reaped and ended as `status` says.
    pub(crate) fn reaped(self: &Rc<Self>, core: &Rc<Core>, status: Exit) {
        let pidfd = {
            let mut st = self.state.borrow_mut();
            if st.status.is_some() {
                return;
            }
            st.status = Some(status);
            st.pidfd.take()
        };
        if let Some(fd) = pidfd {
            core.deregister(fd.as_raw_fd());
        }
        let me = self.clone();
        core.defer(move |core| {
            me.ensure_made(core);
            let reason = reap::reason(status);
            let p = me.process(core);
            me.protocol.with(|proto| proto.process_exited(&p, &reason));
            me.state.borrow_mut().exited_delivered = true;
            me.maybe_end(core);
        });
    }

    fn check_reap(self: &Rc<Self>, core: &Rc<Core>) {
        let pid = {
            let st = self.state.borrow();
            if st.status.is_some() {
                return;
            }
            st.pid
        };
        if let Some(status) = reap::try_wait(pid) {
            self.reaped(core, status);
        }
    }

    /// Delivers process_ended once the child is reaped (and process_exited
    /// delivered) and every descriptor is closed.
    fn maybe_end(self: &Rc<Self>, core: &Rc<Core>) {
        let reason = {
            let mut st = self.state.borrow_mut();
            let gone = (st.status.is_some() && st.exited_delivered) || st.abandoned;
            if st.ended || !gone || st.pending_lost > 0 || st.pipes.iter().any(|p| p.fd.is_some()) {
                return;
            }
            st.ended = true;
            match (st.abandoned, st.status) {
                (false, Some(status)) => reap::reason(status),
                _ => Reason::new(ReasonKind::Shutdown, "the reactor was freed while the process was running"),
            }
        };
        let p = self.process(core);
        self.producer.stop(p.transport());
        self.protocol.with(|proto| proto.process_ended(&p, &reason));
        self.protocol.take();
        if let Some(h) = self.handle.get() {
            core.remove(h);
        }
    }

    // ----- the process calls -----

    pub(crate) fn pid(&self) -> Result<u32> {
        let st = self.state.borrow();
        if st.status.is_some() || st.abandoned {
            return Err(Error::ProcessExitedAlready);
        }
        Ok(st.pid as u32)
    }

    pub(crate) fn signal(&self, signum: i32) -> Result<()> {
        signals::check(signum)?;
        let st = self.state.borrow();
        if st.status.is_some() || st.abandoned {
            return Err(Error::ProcessExitedAlready);
        }
        let result = match &st.pidfd {
            Some(pidfd) => reap::pidfd_signal(pidfd, signum),
            // Not reaped yet, so the pid is still ours (at worst a zombie).
            None => sys::syscall!(kill(st.pid, signum)).map(|_| ()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(Error::ProcessExitedAlready),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `signum` to the child's process group (kill(-pid)): the child
    /// and whatever it started that stayed in its group. Only for a child
    /// that leads its own group; refused once it has been reaped, as its
    /// pid, the group's id, may then name another group.
    pub(crate) fn signal_group(&self, signum: i32) -> Result<()> {
        if !self.own_group {
            return Err(Error::NotSupported);
        }
        signals::check(signum)?;
        let st = self.state.borrow();
        if st.status.is_some() || st.abandoned {
            return Err(Error::ProcessExitedAlready);
        }
        match sys::syscall!(kill(-st.pid, signum)) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(Error::ProcessExitedAlready),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn set_window_size(&self, rows: u16, cols: u16) -> Result<()> {
        if !self.pty {
            return Err(Error::NotSupported);
        }
        let st = self.state.borrow();
        let fd = st.pipes.first().and_then(|p| p.fd.as_ref()).ok_or(Error::Closed)?;
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        sys::syscall!(ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const libc::winsize))?;
        Ok(())
    }

    pub(crate) fn is_pty(&self) -> bool {
        self.pty
    }

    fn begin_disconnect(self: &Rc<Self>, core: &Rc<Core>) {
        let order: Vec<usize> = {
            let mut st = self.state.borrow_mut();
            if st.disconnecting {
                return;
            }
            st.disconnecting = true;
            for p in st.pipes.iter_mut().filter(|p| p.writable()) {
                p.close_when_drained = true;
            }
            // Writers (after flushing), then stderr, stdout, the others.
            let mut order: Vec<(i32, usize)> = st
                .pipes
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let rank = match (p.writable(), p.child_fd) {
                        (true, fd) => fd - 3000,
                        (false, 2) => -2,
                        (false, 1) => -1,
                        (false, fd) => fd,
                    };
                    (rank, i)
                })
                .collect();
            order.sort_unstable();
            order.into_iter().map(|(_, i)| i).collect()
        };
        for i in order {
            let writable = self.state.borrow().pipes[i].writable();
            if writable {
                self.after_drain(core, i);
            } else {
                self.close_pipe(core, i);
            }
        }
    }
}

impl Object for ProcessTransport {
    fn ready(self: Rc<Self>, core: &Rc<Core>, sub: u8, r: Readiness) {
        if sub == PIDFD_SUB {
            return self.check_reap(core);
        }
        let i = sub as usize;
        let (readable, writable) = {
            let st = self.state.borrow();
            match st.pipes.get(i) {
                Some(p) if p.fd.is_some() => (p.readable(), p.writable()),
                _ => return,
            }
        };
        if writable && r.writable {
            self.flush(core, i);
        }
        if readable && (r.readable || r.read_closed || r.error) {
            self.read_some(core, i);
        } else if writable && !readable && (r.error || r.write_closed) {
            // The child closed its read end (or exited): the pipe is lost.
            self.close_pipe(core, i);
        }
    }

    fn transport(&self) -> Option<&dyn TransportOps> {
        Some(self)
    }

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        let count = self.state.borrow().pipes.len();
        for i in 0..count {
            self.close_pipe(core, i);
        }
        let (pid, reaped, pidfd) = {
            let mut st = self.state.borrow_mut();
            (st.pid, st.status.is_some(), st.pidfd.take())
        };
        if let Some(fd) = pidfd {
            core.deregister(fd.as_raw_fd());
        }
        if reaped {
            return;
        }
        match reap::try_wait(pid) {
            Some(status) => self.reaped(core, status),
            None => {
                SigchldReaper::unwatch(core, pid);
                reap::orphan(pid);
                self.state.borrow_mut().abandoned = true;
                // When every pipe was closed already no lost callback is
                // pending to end the process: do it from the loop.
                let me = self.clone();
                core.defer(move |core| me.maybe_end(core));
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Finds the Rc of `p` again (TransportOps methods take `&self`).
fn rc_of(core: &Rc<Core>, p: &ProcessTransport) -> Result<Rc<ProcessTransport>> {
    core.object_as::<ProcessTransport>(p.handle.get().ok_or(Error::StaleHandle)?)
}

impl TransportOps for ProcessTransport {
    /// Writes to the child's stdin (the pty in pty mode).
    fn write(&self, core: &Rc<Core>, data: &[u8]) -> Result<()> {
        let fd = if self.pty { 1 } else { 0 };
        rc_of(core, self)?.write_to(core, fd, &[IoSlice::new(data)])
    }

    fn write_sequence(&self, core: &Rc<Core>, bufs: &[IoSlice<'_>]) -> Result<()> {
        let fd = if self.pty { 1 } else { 0 };
        rc_of(core, self)?.write_to(core, fd, bufs)
    }

    /// Closes stdin after flushing, then stderr, then stdout (and any other
    /// pipes). The child is not signalled; process_ended follows once it
    /// has been reaped.
    fn lose_connection(&self, core: &Rc<Core>) -> Result<()> {
        rc_of(core, self)?.begin_disconnect(core);
        Ok(())
    }

    /// Closes every pipe at once, dropping what is queued. The child is not
    /// signalled.
    fn abort_connection(&self, core: &Rc<Core>) -> Result<()> {
        let me = rc_of(core, self)?;
        me.state.borrow_mut().disconnecting = true;
        let t = me.process(core).transport().clone();
        me.producer.stop(&t);
        let count = me.state.borrow().pipes.len();
        for i in 0..count {
            me.close_pipe(core, i);
        }
        Ok(())
    }

    fn host(&self) -> Result<Address> {
        Ok(Address::Process { pid: self.state.borrow().pid as u32 })
    }

    fn peer(&self) -> Result<Address> {
        Ok(Address::Process { pid: self.state.borrow().pid as u32 })
    }

    fn producer(&self) -> &ProducerSlot {
        &self.producer
    }

    fn set_reading(&self, core: &Rc<Core>, reading: bool) -> Result<()> {
        let me = rc_of(core, self)?;
        let was_paused = std::mem::replace(&mut me.state.borrow_mut().reading_paused, !reading);
        if reading && was_paused {
            let readers: Vec<usize> =
                me.state.borrow().pipes.iter().enumerate().filter(|(_, p)| p.readable() && p.fd.is_some()).map(|(i, _)| i).collect();
            for i in readers {
                me.schedule_read(core, i);
            }
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        self.queued_total()
    }

    fn producer_unregistered(&self, core: &Rc<Core>) {
        if let Ok(me) = rc_of(core, self) {
            let count = me.state.borrow().pipes.len();
            for i in 0..count {
                me.after_drain(core, i);
            }
        }
    }

    fn user_data(&self) -> &Cell<usize> {
        &self.user
    }
}
