//! The process transport: the reaping state, the order of the final callbacks, and our
//! ends of the child's pipes (or its pty), each one a stream of the shared connection
//! lifecycle ([`crate::transport::connection`]) with the [`Pipe`] kind. Like Twisted's
//! Process with its ProcessReader/ProcessWriter, the process routes the transport calls:
//! writes and producers go to the child's input stream (stdin, or the pty), pausing goes
//! to the streams we read, and lose_connection to all of them.
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
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

use mio::Interest;

use super::reap::{self, Exit, SigchldReaper};
use super::signals;
use super::spawn::{Dir, Spawned};
use super::{Process, ProcessProtocol};
use crate::error::{ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness};
use crate::sys;
use crate::transport::connection::{Connection, Kind, Read, ReadCtx};
use crate::transport::{Address, Producer, Protocol, ProtocolSlot, Reason, ReasonKind, Transport, TransportOps};

/// The sub-descriptor number of the pidfd.
const PIDFD_SUB: u8 = 255;

/// The pipe kind: our end of one of the child's descriptors.
pub(crate) struct Pipe {
    dir: Dir,
    pid: libc::pid_t,
}

impl Kind for Pipe {
    fn interest(&self) -> Interest {
        match self.dir {
            Dir::Read => Interest::READABLE,
            Dir::Write => Interest::WRITABLE,
            Dir::Pty => Interest::READABLE | Interest::WRITABLE,
        }
    }

    fn reads(&self) -> bool {
        self.dir != Dir::Write
    }

    /// EIO from a pty master is its end of stream (the last slave descriptor closed): an
    /// error, so the stream closes at once (nobody is left to read what is queued).
    fn read(_conn: &Connection<Pipe>, fd: RawFd, buf: &mut [u8], _ctx: ReadCtx) -> io::Result<Read> {
        match sys::read(fd, buf)? {
            0 => Ok(Read::Eof),
            n => Ok(Read::Data(n)),
        }
    }

    fn write(fd: RawFd, bufs: &[IoSlice<'_>], _urgent: bool) -> io::Result<usize> {
        sys::write_vectored(fd, bufs)
    }

    fn closing(core: &Core, fd: BorrowedFd<'_>, _reset: bool) {
        core.deregister(fd.as_raw_fd());
    }

    fn host(conn: &Connection<Pipe>) -> Result<Address> {
        Ok(Address::Process { pid: conn.kind.pid as u32 })
    }

    fn peer(conn: &Connection<Pipe>) -> Result<Address> {
        Self::host(conn)
    }
}

/// The protocol of a pipe stream: reports to the process.
struct PipeProtocol {
    process: Weak<ProcessTransport>,
    index: usize,
}

impl PipeProtocol {
    fn with(&self, t: &Transport, f: impl FnOnce(&Rc<ProcessTransport>, &Rc<Core>)) {
        if let (Some(p), Ok(core)) = (self.process.upgrade(), t.core()) {
            f(&p, &core)
        }
    }
}

impl Protocol for PipeProtocol {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.with(t, |p, core| p.pipe_data(core, self.index, data));
    }
    fn connection_lost(&mut self, t: &Transport, _reason: &Reason) {
        self.with(t, |p, core| p.pipe_lost(core, self.index));
    }
    fn receives_urgent_data(&self) -> bool {
        false
    }
}

struct PipeEnd {
    child_fd: i32,
    dir: Dir,
    stream: Rc<Connection<Pipe>>,
    /// child_connection_lost has been delivered.
    lost: bool,
}

impl PipeEnd {
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
    pipes: Vec<PipeEnd>,
}

/// One child process, as a transport.
pub(crate) struct ProcessTransport {
    handle: Cell<Option<Handle>>,
    state: RefCell<State>,
    protocol: ProtocolSlot<dyn ProcessProtocol>,
    user: Cell<usize>,
    pty: bool,
    /// The child leads its own process group (see [`Self::signal_group`]).
    own_group: bool,
}

impl ProcessTransport {
    /// Adopts a spawned child. On failure the child is killed and reaped, and nothing is
    /// left behind (no object, no descriptor, no callback).
    pub(crate) fn start(core: &Rc<Core>, spawned: Spawned, protocol: Box<dyn ProcessProtocol>) -> Result<Process> {
        let (pid, own_group) = (spawned.pid, spawned.own_group);
        let pty = spawned.ends.iter().any(|e| e.dir == Dir::Pty);
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
                pipes: Vec::new(),
            }),
            protocol: ProtocolSlot::new(protocol),
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
        if let Err(e) = me.install_pipes(core, spawned).and_then(|()| me.watch(core, h)) {
            for end in std::mem::take(&mut me.state.borrow_mut().pipes) {
                end.stream.discard(core);
            }
            if let Some(fd) = me.state.borrow_mut().pidfd.take() {
                core.deregister(fd.as_raw_fd());
            }
            core.remove(h);
            me.kill_and_reap();
            return Err(e);
        }
        let streams: Vec<_> = me.state.borrow().pipes.iter().map(|e| e.stream.clone()).collect();
        for s in streams {
            s.opened(core);
        }
        let again = me.clone();
        core.defer(move |core| again.ensure_made(core));
        Ok(Process::new(Transport::new(core, h)))
    }

    fn install_pipes(self: &Rc<Self>, core: &Rc<Core>, spawned: Spawned) -> Result<()> {
        for e in spawned.ends {
            let index = self.state.borrow().pipes.len();
            let kind = Pipe { dir: e.dir, pid: spawned.pid };
            let stream = Rc::new(Connection::new(kind, Box::new(PipeProtocol { process: Rc::downgrade(self), index })));
            stream.install(core, Some(e.fd))?;
            self.state.borrow_mut().pipes.push(PipeEnd { child_fd: e.child_fd, dir: e.dir, stream, lost: false });
        }
        Ok(())
    }

    /// Watches for the child's exit: its pidfd, or the SIGCHLD reaper.
    fn watch(&self, core: &Rc<Core>, h: Handle) -> Result<()> {
        let st = self.state.borrow();
        match &st.pidfd {
            Some(pidfd) => Ok(core.register(pidfd.as_raw_fd(), h, PIDFD_SUB, Interest::READABLE)?),
            None => SigchldReaper::watch(core, st.pid, h),
        }
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

    // ----- the streams -----

    /// The stream carrying data to child fd `child_fd`.
    fn writer(&self, child_fd: i32) -> Result<Rc<Connection<Pipe>>> {
        let st = self.state.borrow();
        let end = st.pipes.iter().find(|p| p.child_fd == child_fd && p.writable()).ok_or(ErrorKind::NoSuchChildFd)?;
        Ok(end.stream.clone())
    }

    /// The child's input stream: stdin, or the pty.
    fn input(&self) -> Result<Rc<Connection<Pipe>>> {
        self.writer(if self.pty { 1 } else { 0 })
    }

    fn readers(&self) -> Vec<Rc<Connection<Pipe>>> {
        self.state.borrow().pipes.iter().filter(|p| p.readable()).map(|p| p.stream.clone()).collect()
    }

    pub(crate) fn write_to(self: &Rc<Self>, core: &Rc<Core>, child_fd: i32, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.writer(child_fd)?.write(core, bufs)
    }

    fn pipe_data(&self, core: &Rc<Core>, index: usize, data: &[u8]) {
        self.ensure_made(core);
        let child_fd = self.state.borrow().pipes[index].child_fd;
        let p = self.process(core);
        self.protocol.with(|proto| proto.child_data_received(&p, child_fd, data));
    }

    /// Pipe `index` has closed (its final callback, from the loop).
    fn pipe_lost(self: &Rc<Self>, core: &Rc<Core>, index: usize) {
        self.ensure_made(core);
        let child_fd = {
            let mut st = self.state.borrow_mut();
            st.pipes[index].lost = true;
            st.pipes[index].child_fd
        };
        let p = self.process(core);
        self.protocol.with(|proto| proto.child_connection_lost(&p, child_fd));
        self.maybe_end(core);
    }

    /// Closes child fd `child_fd`: a reader now, a writer once its queue
    /// has drained (and its producer, if any, has unregistered).
    pub(crate) fn close_child_fd(self: &Rc<Self>, core: &Rc<Core>, child_fd: i32) -> Result<()> {
        if self.pty {
            return Err(ErrorKind::NotSupported.into());
        }
        let (stream, writable) = {
            let st = self.state.borrow();
            let end = st.pipes.iter().find(|p| p.child_fd == child_fd).ok_or(ErrorKind::NoSuchChildFd)?;
            (end.stream.clone(), end.writable())
        };
        if writable {
            stream.lose_connection(core)
        } else {
            stream.close(core, Reason::done(), false);
            Ok(())
        }
    }

    // ----- reaping and the end -----

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
            if st.ended || !gone || st.pipes.iter().any(|p| !p.lost) {
                return;
            }
            st.ended = true;
            match (st.abandoned, st.status) {
                (false, Some(status)) => reap::reason(status),
                _ => Reason::new(ReasonKind::Shutdown, "the reactor was freed while the process was running"),
            }
        };
        let p = self.process(core);
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
            return Err(ErrorKind::ProcessExitedAlready.into());
        }
        Ok(st.pid as u32)
    }

    pub(crate) fn signal(&self, signum: i32) -> Result<()> {
        signals::check(signum)?;
        let st = self.state.borrow();
        if st.status.is_some() || st.abandoned {
            return Err(ErrorKind::ProcessExitedAlready.into());
        }
        let result = match &st.pidfd {
            Some(pidfd) => reap::pidfd_signal(pidfd, signum),
            // Not reaped yet, so the pid is still ours (at worst a zombie).
            None => sys::syscall!(kill(st.pid, signum)).map(|_| ()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(ErrorKind::ProcessExitedAlready.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `signum` to the child's process group (kill(-pid)): the child
    /// and whatever it started that stayed in its group. Only for a child
    /// that leads its own group; refused once it has been reaped, as its
    /// pid, the group's id, may then name another group.
    pub(crate) fn signal_group(&self, signum: i32) -> Result<()> {
        if !self.own_group {
            return Err(ErrorKind::NotSupported.into());
        }
        signals::check(signum)?;
        let st = self.state.borrow();
        if st.status.is_some() || st.abandoned {
            return Err(ErrorKind::ProcessExitedAlready.into());
        }
        match sys::syscall!(kill(-st.pid, signum)) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(ErrorKind::ProcessExitedAlready.into()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn set_window_size(&self, rows: u16, cols: u16) -> Result<()> {
        if !self.pty {
            return Err(ErrorKind::NotSupported.into());
        }
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = self.input()?;
        let r = pty.with_fd(|fd| sys::syscall!(ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const libc::winsize)));
        r.ok_or(ErrorKind::Closed)??;
        Ok(())
    }

    pub(crate) fn is_pty(&self) -> bool {
        self.pty
    }
}

impl Object for ProcessTransport {
    fn ready(self: Rc<Self>, core: &Rc<Core>, sub: u8, _r: Readiness) {
        if sub == PIDFD_SUB {
            self.check_reap(core);
        }
    }

    fn into_transport(self: Rc<Self>) -> Option<Rc<dyn TransportOps>> {
        Some(self)
    }

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        let streams: Vec<_> = self.state.borrow().pipes.iter().map(|p| p.stream.clone()).collect();
        for s in streams {
            s.shutdown(core);
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

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

impl TransportOps for ProcessTransport {
    /// Writes to the child's stdin (the pty in pty mode).
    fn write(self: Rc<Self>, core: &Rc<Core>, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.input()?.write(core, bufs)
    }

    fn write_answer(self: Rc<Self>, core: &Rc<Core>, data: &[u8]) -> Result<()> {
        self.input()?.write_answer(core, data)
    }

    /// Closes stdin after flushing (and after its producer, if any, has unregistered),
    /// then stderr, then stdout (and any other pipes). The child is not signalled;
    /// process_ended follows once it has been reaped.
    fn lose_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        let ends: Vec<(i32, bool, Rc<Connection<Pipe>>)> =
            self.state.borrow().pipes.iter().map(|p| (p.child_fd, p.writable(), p.stream.clone())).collect();
        for (_, _, s) in ends.iter().filter(|e| e.1) {
            s.clone().lose_connection(core)?;
        }
        // The readers close from the loop too, after the writers had their turn to close
        // (their closes are deferred the same way): stderr, stdout, the others.
        let mut readers: Vec<(i32, Rc<Connection<Pipe>>)> = ends.into_iter().filter(|e| !e.1).map(|e| (e.0, e.2)).collect();
        readers.sort_by_key(|(fd, _)| match fd {
            2 => -2,
            1 => -1,
            fd => *fd,
        });
        core.defer(move |core| {
            for (_, s) in readers {
                s.close(core, Reason::done(), false);
            }
        });
        Ok(())
    }

    /// Closes every pipe at once, dropping what is queued. The child is not
    /// signalled.
    fn abort_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        let streams: Vec<_> = self.state.borrow().pipes.iter().map(|p| p.stream.clone()).collect();
        for s in streams {
            s.abort_connection(core)?;
        }
        Ok(())
    }

    fn host(&self) -> Result<Address> {
        Ok(Address::Process { pid: self.state.borrow().pid as u32 })
    }

    fn peer(&self) -> Result<Address> {
        self.host()
    }

    fn set_reading(self: Rc<Self>, core: &Rc<Core>, reading: bool) -> Result<()> {
        for s in self.readers() {
            s.set_reading(core, reading)?;
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        self.state.borrow().pipes.iter().filter(|p| p.writable()).map(|p| p.stream.queued()).sum()
    }

    /// The producer of the child's input: it sits in the input stream's slot.
    fn register_producer(
        self: Rc<Self>,
        core: &Rc<Core>,
        face: &Transport,
        producer: Box<dyn Producer>,
        streaming: bool,
    ) -> Result<()> {
        match self.input() {
            Ok(input) => input.register_producer(core, face, producer, streaming),
            Err(e) => {
                // No input to produce for (Twisted stops such a producer at once).
                producer.stop_producing(face);
                Err(e)
            }
        }
    }

    fn register_own_reading(self: Rc<Self>, core: &Rc<Core>, face: &Transport) -> Result<()> {
        self.input()?.register_own_reading(core, face)
    }

    fn unregister_producer(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        self.input()?.unregister_producer(core)
    }

    fn set_high_water(&self, bytes: usize) -> Result<()> {
        self.input()?.set_high_water(bytes)
    }

    fn user_data(&self) -> &Cell<usize> {
        &self.user
    }
}
