//! marline: an event-loop reactor with Twisted's transport model — TCP
//! connections, child processes, telnet and blocking MacTCP-style streams —
//! usable from Rust and, through `ffi`, from C.
//!
//! Layers: `reactor` (the loop), `transport` (what every transport shares),
//! `tcp`, `process`, `telnet`, `stream` (blocking MacTCP-style streams), and
//! the C ABI in `ffi`.

pub mod error;
pub mod ffi;
pub mod log;
pub mod process;
pub mod reactor;
mod sys;
pub mod stream;
pub mod tcp;
pub mod telnet;
pub mod tls;
pub mod transport;

pub use error::{Error, ErrorKind, Result};
pub use process::{Bridge, BridgeHandler, ChildFd, Process, ProcessProtocol, ProcessSpec};
pub use reactor::{DelayedCall, Reactor, Stopper};
pub use tcp::{KeepAlive, ListenOptions, ListeningPort};
pub use transport::{Address, ExitInfo, Producer, Protocol, Reason, ReasonKind, Transport};
