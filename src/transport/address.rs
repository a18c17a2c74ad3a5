//! Transport endpoints: a socket address, or a process.

use std::fmt;
use std::net::SocketAddr;

/// One end of a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    /// An IPv4 or IPv6 socket address.
    Inet(SocketAddr),
    /// A process transport has no socket address; it is described by the
    /// child's pid.
    Process { pid: u32 },
}

impl fmt::Display for Address {
    /// `127.0.0.1:8080`, `[::1]:8080` or `process 1234`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(a) => write!(f, "{a}"),
            Address::Process { pid } => write!(f, "process {pid}"),
        }
    }
}
