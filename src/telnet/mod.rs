//! Telnet (RFC 854/855) as a sans-IO core: bytes in, events out; no sockets.
//!
//! - [`codec`]: the receive-side [`codec::Parser`] (byte stream → [`codec::Event`]s) and
//!   the send-side encoders ([`codec::escape_data`], [`codec::encode_negotiation`], …).
//! - [`negotiator`]: option negotiation with the Q method of RFC 1143
//!   ([`negotiator::Negotiator`]).
//! - [`transport`]: the telnet transport, which wraps any transport with the two above and
//!   is a transport itself ([`Telnet`], [`TelnetProtocol`], [`wrap`],
//!   `Reactor::listen_telnet`, `Reactor::connect_telnet`).
//! - [`options`]: payload formats of NAWS, TERMINAL-TYPE and NEW-ENVIRON.
//!
//! Command bytes live in [`cmd`], option numbers in [`opt`] (the two are separate because
//! `EOR` is both a command, 239, and an option, 25).

pub mod codec;
pub mod negotiator;
pub mod options;
pub mod transport;

pub use transport::{wrap, CompletionFn, Policy, SubnegotiationFn, Telnet, TelnetProtocol};

/// Telnet command bytes (the byte after IAC), RFC 854 and RFC 885 (EOR).
pub mod cmd {
    /// End of record (RFC 885).
    pub const EOR: u8 = 239;
    /// End of subnegotiation parameters.
    pub const SE: u8 = 240;
    /// No operation.
    pub const NOP: u8 = 241;
    /// Data mark: the data-stream part of a Synch.
    pub const DM: u8 = 242;
    /// Break.
    pub const BRK: u8 = 243;
    /// Interrupt process.
    pub const IP: u8 = 244;
    /// Abort output.
    pub const AO: u8 = 245;
    /// Are you there.
    pub const AYT: u8 = 246;
    /// Erase character.
    pub const EC: u8 = 247;
    /// Erase line.
    pub const EL: u8 = 248;
    /// Go ahead.
    pub const GA: u8 = 249;
    /// Start of subnegotiation.
    pub const SB: u8 = 250;
    /// Sender wants to enable (or confirms it enabled) an option on its side.
    pub const WILL: u8 = 251;
    /// Sender refuses to enable (or disables) an option on its side.
    pub const WONT: u8 = 252;
    /// Sender asks the receiver to enable (or confirms) an option on the receiver's side.
    pub const DO: u8 = 253;
    /// Sender asks the receiver to disable (or refuses) an option on the receiver's side.
    pub const DONT: u8 = 254;
    /// Interpret as command: the escape byte.
    pub const IAC: u8 = 255;

    /// True for the "simple" commands that the parser reports as
    /// [`Event::Command`](super::codec::Event::Command): NOP DM BRK IP AO AYT EC EL GA EOR.
    pub const fn is_simple(byte: u8) -> bool {
        matches!(byte, EOR | NOP..=GA)
    }
}

/// Telnet option numbers (the byte after WILL/WONT/DO/DONT/SB).
pub mod opt {
    /// Binary transmission (RFC 856).
    pub const BINARY: u8 = 0;
    /// Echo (RFC 857).
    pub const ECHO: u8 = 1;
    /// Suppress go-ahead (RFC 858).
    pub const SGA: u8 = 3;
    /// Status (RFC 859).
    pub const STATUS: u8 = 5;
    /// Timing mark (RFC 860).
    pub const TIMING_MARK: u8 = 6;
    /// Terminal type (RFC 1091).
    pub const TTYPE: u8 = 24;
    /// End of record (RFC 885).
    pub const EOR: u8 = 25;
    /// Negotiate about window size (RFC 1073).
    pub const NAWS: u8 = 31;
    /// Terminal speed (RFC 1079).
    pub const TSPEED: u8 = 32;
    /// Remote flow control (RFC 1372).
    pub const LFLOW: u8 = 33;
    /// Linemode (RFC 1184).
    pub const LINEMODE: u8 = 34;
    /// New environment (RFC 1572).
    pub const NEW_ENVIRON: u8 = 39;
}
