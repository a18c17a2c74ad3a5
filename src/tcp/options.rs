//! TCP socket options on a transport.

use std::time::Duration;

use socket2::TcpKeepalive;

use super::TcpConnection;
use crate::error::{ErrorKind, Result};
use crate::transport::Transport;

/// Largest keepalive idle time and interval Linux accepts, in seconds.
const MAX_KEEPALIVE_SECS: u64 = 32767;
/// Largest keepalive probe count Linux accepts.
const MAX_KEEPALIVE_COUNT: u32 = 127;

/// Keepalive tuning (Linux TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped.
    pub count: u32,
}

impl Transport {
    fn with_tcp<R>(&self, f: impl FnOnce(&socket2::Socket) -> std::io::Result<R>) -> Result<R> {
        let core = self.core()?;
        let conn = core.object_as::<TcpConnection>(self.handle).map_err(|e| match e.kind() {
            ErrorKind::WrongHandleType => ErrorKind::NotSupported.into(),
            _ => e,
        })?;
        conn.with_socket(f)
    }

    /// Whether TCP_NODELAY is set (read from the socket).
    pub fn tcp_nodelay(&self) -> Result<bool> {
        self.with_tcp(|s| s.tcp_nodelay())
    }

    /// Sets TCP_NODELAY.
    pub fn set_tcp_nodelay(&self, on: bool) -> Result<()> {
        self.with_tcp(|s| s.set_tcp_nodelay(on))
    }

    /// Whether SO_KEEPALIVE is set (read from the socket).
    pub fn tcp_keepalive(&self) -> Result<bool> {
        self.with_tcp(|s| s.keepalive())
    }

    /// Sets SO_KEEPALIVE.
    pub fn set_tcp_keepalive(&self, on: bool) -> Result<()> {
        self.with_tcp(|s| s.set_keepalive(on))
    }

    /// The keepalive idle, interval and count in force.
    pub fn tcp_keepalive_params(&self) -> Result<KeepAlive> {
        self.with_tcp(|s| {
            Ok(KeepAlive { idle: s.tcp_keepalive_time()?, interval: s.tcp_keepalive_interval()?, count: s.tcp_keepalive_retries()? })
        })
    }

    /// Turns keepalive on with the given timing.
    pub fn set_tcp_keepalive_params(&self, k: KeepAlive) -> Result<()> {
        // Checked here against Linux's limits (MAX_TCP_KEEPIDLE,
        // MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT) rather than left to the kernel:
        // the three options are set one by one, so a value refused half way
        // would leave the socket with a mix of old and new settings.
        let secs_ok = |d: Duration| (1..=MAX_KEEPALIVE_SECS).contains(&d.as_secs());
        if !secs_ok(k.idle) || !secs_ok(k.interval) || !(1..=MAX_KEEPALIVE_COUNT).contains(&k.count) {
            return Err(ErrorKind::InvalidArgument.into());
        }
        self.with_tcp(|s| {
            let params = TcpKeepalive::new().with_time(k.idle).with_interval(k.interval).with_retries(k.count);
            s.set_tcp_keepalive(&params)
        })
    }
}
