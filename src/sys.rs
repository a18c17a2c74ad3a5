//! Thin wrappers over the libc calls mio and socket2 do not offer.

use std::io;
use std::io::IoSlice;
use std::os::fd::RawFd;

/// Turns a libc return value of -1 into the thread's `io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: every caller passes pointers and lengths it owns for the
        // duration of the call; the libc function has no other preconditions.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 { Err(std::io::Error::last_os_error()) } else { Ok(res) }
    }};
}
#[allow(unused_imports)]
pub(crate) use syscall;

/// The most buffers one gather write passes to the kernel.
pub(crate) const MAX_IOV: usize = 64;

/// `sendmsg` of several buffers with `MSG_NOSIGNAL`, so a reset peer can
/// never raise SIGPIPE. Returns the number of bytes taken.
pub fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>], flags: i32) -> io::Result<usize> {
    let count = bufs.len().min(MAX_IOV);
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with struct iovec on Unix.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = count as _;
    let n = syscall!(sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL))?;
    Ok(n as usize)
}

/// `writev` for descriptors that are not sockets (pipes, ptys).
pub fn write_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(MAX_IOV);
    // IoSlice is ABI-compatible with struct iovec; count is within bufs.
    let n = syscall!(writev(fd, bufs.as_ptr() as *const libc::iovec, count as i32))?;
    Ok(n as usize)
}

/// `recv` into `buf` with the given flags.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    let n = syscall!(recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), flags))?;
    Ok(n as usize)
}

/// `read` into `buf` (pipes, ptys).
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let n = syscall!(read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()))?;
    Ok(n as usize)
}

/// Linux's SIOCATMARK (the libc crate lacks it).
const SIOCATMARK: libc::c_ulong = 0x8905;

/// True when the next byte to read is at the urgent mark (SIOCATMARK).
pub fn at_mark(fd: RawFd) -> io::Result<bool> {
    let mut at: libc::c_int = 0;
    syscall!(ioctl(fd, SIOCATMARK, &mut at as *mut libc::c_int))?;
    Ok(at != 0)
}

/// Bytes queued in the socket's send buffer not yet acknowledged (SIOCOUTQ).
pub fn outq(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    syscall!(ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int))?;
    Ok(n as usize)
}

/// Bytes received and not yet read (SIOCINQ).
pub fn inq(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    syscall!(ioctl(fd, libc::FIONREAD, &mut n as *mut libc::c_int))?;
    Ok(n as usize)
}

/// Ignores SIGPIPE for the process if it still has the default action, so a
/// write to a pipe whose reader has gone returns EPIPE instead of killing
/// the embedding program. (Sockets never need this: they use MSG_NOSIGNAL.)
pub fn ignore_sigpipe_if_default() {
    // SAFETY: sigaction with a NULL new action only reads the current one;
    // the second call installs SIG_IGN, which is async-signal-safe.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_DFL
        {
            let mut ign: libc::sigaction = std::mem::zeroed();
            ign.sa_sigaction = libc::SIG_IGN;
            libc::sigaction(libc::SIGPIPE, &ign, std::ptr::null_mut());
        }
    }
}

/// True when urgent data is outstanding (poll reports POLLPRI): it has
/// arrived and the reader has not yet read past the urgent mark.
pub fn urgent_pending(fd: RawFd) -> io::Result<bool> {
    let mut p = libc::pollfd { fd, events: libc::POLLPRI, revents: 0 };
    syscall!(poll(&mut p, 1, 0))?;
    Ok(p.revents & libc::POLLPRI != 0)
}
