//! The sans-IO TLS session: ciphertext in → [`Event`]s, application data in → ciphertext out.
//! See the module docs of [`crate::tls`] for the buffering bounds.

use std::io::BufRead;

use rustls::pki_types::ServerName;
use rustls::{Connection, HandshakeKind};

use super::error::{ConfigError, ConfigErrorKind, TlsError, TlsErrorKind};
use super::{ClientConfig, ServerConfig, Version};

/// One thing a [`Session::feed`] found in the peer's stream, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The handshake is complete: the peer certificate, ALPN protocol, cipher suite and
    /// version can be read now (Twisted's IHandshakeListener.handshakeCompleted). Comes once,
    /// before any [`Event::Data`].
    HandshakeCompleted,
    /// Application data from the peer. Never empty; borrowed for the callback only.
    Data(&'a [u8]),
    /// The peer sent close_notify: its stream ended cleanly and no more data will come.
    /// Comes once, after the last [`Event::Data`].
    PeerClosed,
}

/// Why [`Session::close_write`] cannot half-close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfCloseError {
    /// TLS 1.2 has no half-close: after a close_notify the peer may close at once and
    /// discard what it had not read (RFC 5246 §7.2.1).
    Tls12,
    /// The version is not known until the handshake completes.
    Handshaking,
    /// The write side is already closed (close_notify sent or session failed).
    Closed,
}

impl std::fmt::Display for HalfCloseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HalfCloseError::Tls12 => "TLS 1.2 has no half-close: close the whole connection instead",
            HalfCloseError::Handshaking => "the TLS version is not known before the handshake completes",
            HalfCloseError::Closed => "the TLS write side is already closed",
        })
    }
}

/// Why [`Session::write`] refused data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// close_notify was sent ([`Session::close`] or [`Session::close_write`]).
    Closed,
    /// The session failed earlier with this error.
    Failed(TlsError),
}

/// One end of a TLS connection, without I/O. Whatever the session generates for the peer
/// (handshake messages, alerts, encrypted data, close_notify, session tickets) is appended to
/// the `out` buffer the caller passes; the session keeps no ciphertext between calls.
///
/// Methods: [`Session::client`], [`Session::server`], [`Session::take_output`],
/// [`Session::feed`], [`Session::feed_eof`], [`Session::write`], [`Session::close`],
/// [`Session::close_write`], and the queries [`Session::is_handshaking`],
/// [`Session::peer_certificate`], [`Session::peer_certificate_chain`],
/// [`Session::alpn_protocol`], [`Session::cipher_suite`], [`Session::protocol_version`],
/// [`Session::server_name`], [`Session::is_resumed`], [`Session::pending_plaintext`],
/// [`Session::error`].
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    handshake_reported: bool,
    peer_closed: bool,
    write_closed: bool,
    /// Plaintext written while handshaking, which rustls holds until the handshake completes.
    pending_plaintext: usize,
    error: Option<TlsError>,
}

impl Session {
    /// A client session for `server_name`: a DNS name (sent as SNI and checked against the
    /// server's certificate) or an IP address (checked against the certificate's IP
    /// addresses; no SNI is sent). The ClientHello is ready in [`Session::take_output`].
    pub fn client(config: &ClientConfig, server_name: &str) -> Result<Session, ConfigError> {
        let name = ServerName::try_from(server_name).map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::InvalidSetting,
                format!("'{server_name}' is neither a DNS name nor an IP address"),
            )
        })?;
        let conn = rustls::ClientConnection::new(config.inner.clone(), name.to_owned()).map_err(|e| {
            ConfigError::new(ConfigErrorKind::InvalidSetting, format!("cannot start a TLS client: {e}"))
        })?;
        Ok(Session::new(conn.into()))
    }

    /// A server session; it waits for the client's hello.
    pub fn server(config: &ServerConfig) -> Result<Session, ConfigError> {
        let conn = rustls::ServerConnection::new(config.inner.clone()).map_err(|e| {
            ConfigError::new(ConfigErrorKind::InvalidSetting, format!("cannot start a TLS server: {e}"))
        })?;
        Ok(Session::new(conn.into()))
    }

    fn new(mut conn: Connection) -> Session {
        // Plaintext written before the handshake completes is held by rustls; the transport
        // bounds it with its flow control (see `pending_plaintext`).
        conn.set_buffer_limit(None);
        Session {
            conn,
            handshake_reported: false,
            peer_closed: false,
            write_closed: false,
            pending_plaintext: 0,
            error: None,
        }
    }

    /// Append whatever the session has to send to `out` (for a new client: its hello).
    /// Every other method does this itself.
    pub fn take_output(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail.
            let _ = self.conn.write_tls(out);
        }
    }

    /// Process ciphertext received from the peer: call `sink` for every event in stream
    /// order and append any answer (handshake messages, alerts, tickets) to `out`.
    ///
    /// Input after the peer's close_notify is ignored (RFC 8446 §6.1). On a failure the
    /// fatal alert for the peer is appended to `out`, the error is returned and kept: later
    /// calls return it again without reading. `sink` must not call into this session.
    pub fn feed<F: FnMut(Event<'_>)>(&mut self, input: &[u8], out: &mut Vec<u8>, sink: &mut F) -> Result<(), TlsError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut rest = input;
        // rustls takes at most one 4 KiB read per call; never hand it an empty reader,
        // which it would take for EOF.
        while !rest.is_empty() && !self.peer_closed {
            match self.conn.read_tls(&mut rest) {
                Ok(0) => break,
                Ok(_) => {}
                // Only a handshake message past rustls's 64 KiB bound gets here.
                Err(e) => {
                    return Err(
                        self.fail(TlsError::new(TlsErrorKind::Protocol, format!("TLS protocol error: {e}")), out)
                    )
                }
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => return Err(self.fail(TlsError::from_rustls(&e), out)),
            };
            self.deliver(state.peer_has_closed(), sink);
            self.take_output(out);
        }
        Ok(())
    }

    /// Report the handshake, then the plaintext rustls has decrypted, then the close.
    fn deliver<F: FnMut(Event<'_>)>(&mut self, peer_has_closed: bool, sink: &mut F) {
        if !self.handshake_reported && !self.conn.is_handshaking() {
            self.handshake_reported = true;
            // rustls encrypted the early writes as the handshake completed.
            self.pending_plaintext = 0;
            sink(Event::HandshakeCompleted);
        }
        let mut reader = self.conn.reader();
        loop {
            let n = match reader.fill_buf() {
                Ok(data) if !data.is_empty() => {
                    sink(Event::Data(data));
                    data.len()
                }
                _ => break,
            };
            reader.consume(n);
        }
        if peer_has_closed && !self.peer_closed {
            self.peer_closed = true;
            sink(Event::PeerClosed);
        }
    }

    fn fail(&mut self, error: TlsError, out: &mut Vec<u8>) -> TlsError {
        self.take_output(out);
        self.write_closed = true;
        self.error = Some(error.clone());
        error
    }

    /// The transport read end-of-file. `Ok` when the peer's close_notify came first (a clean
    /// close); otherwise the connection was truncated and a [`TlsErrorKind::Truncated`] error
    /// is returned (and kept), whose text says whether the handshake had completed.
    pub fn feed_eof(&mut self) -> Result<(), TlsError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.peer_closed {
            return Ok(());
        }
        let text = if self.handshake_reported {
            "the peer closed the connection without close_notify (truncation)"
        } else {
            "the peer closed the connection during the TLS handshake"
        };
        let error = TlsError::new(TlsErrorKind::Truncated, text);
        self.write_closed = true;
        self.error = Some(error.clone());
        Err(error)
    }

    /// Send application data. After the handshake it is encrypted into `out` at once (in
    /// records of at most 16 KiB); before, it is held as plaintext (see
    /// [`Session::pending_plaintext`]) and encrypted into the output of the call that
    /// completes the handshake.
    pub fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), WriteError> {
        if let Some(e) = &self.error {
            return Err(WriteError::Failed(e.clone()));
        }
        if self.write_closed {
            return Err(WriteError::Closed);
        }
        if !data.is_empty() {
            // With no buffer limit, rustls takes everything.
            let _ = std::io::Write::write_all(&mut self.conn.writer(), data);
            if !self.handshake_reported {
                self.pending_plaintext += data.len();
            }
        }
        self.take_output(out);
        Ok(())
    }

    /// Close the TLS stream (lose_connection): once the handshake has completed, append
    /// close_notify to `out`; before that, send nothing (there is no TLS stream to close).
    /// Returns whether close_notify was appended. Reading may go on (the peer's close_notify
    /// may still arrive); writing may not.
    pub fn close(&mut self, out: &mut Vec<u8>) -> bool {
        if self.write_closed {
            return false;
        }
        self.write_closed = true;
        if self.conn.is_handshaking() {
            return false;
        }
        self.conn.send_close_notify();
        self.take_output(out);
        true
    }

    /// Half-close (lose_write_connection): on TLS 1.3, append close_notify to `out` and keep
    /// reading (RFC 8446 §6.1 lets each side close its direction). TLS 1.2 has no half-close
    /// and before the handshake the version is unknown: both are refused and nothing is sent.
    pub fn close_write(&mut self, out: &mut Vec<u8>) -> Result<(), HalfCloseError> {
        if self.write_closed {
            return Err(HalfCloseError::Closed);
        }
        match self.protocol_version() {
            None => Err(HalfCloseError::Handshaking),
            Some(Version::Tls12) => Err(HalfCloseError::Tls12),
            Some(Version::Tls13) => {
                self.close(out);
                Ok(())
            }
        }
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether this is the client end.
    pub fn is_client(&self) -> bool {
        matches!(self.conn, Connection::Client(_))
    }

    /// Whether the peer's close_notify has been received.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether this side can send no more data (close_notify sent, or failed).
    pub fn write_closed(&self) -> bool {
        self.write_closed
    }

    /// Bytes of application data written before the handshake completed, held as plaintext
    /// until it does (then 0). The transport counts them with its queued ciphertext for flow
    /// control.
    pub fn pending_plaintext(&self) -> usize {
        self.pending_plaintext
    }

    /// The peer's leaf certificate, DER encoded, once the handshake has completed (a client
    /// that sent none: `None`).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.conn.peer_certificates()?.first().map(|c| c.as_ref())
    }

    /// The peer's certificate chain, DER encoded, leaf first.
    pub fn peer_certificate_chain(&self) -> impl Iterator<Item = &[u8]> {
        self.conn.peer_certificates().unwrap_or(&[]).iter().map(|c| c.as_ref())
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The negotiated cipher suite's IANA name (for example `TLS_AES_128_GCM_SHA256`).
    pub fn cipher_suite(&self) -> Option<&'static str> {
        self.conn.negotiated_cipher_suite().map(|s| super::cipher_suite_name(s.suite()))
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> Option<Version> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => Some(Version::Tls13),
            _ => Some(Version::Tls12),
        }
    }

    /// Server side: the name the client asked for (SNI), lower case.
    pub fn server_name(&self) -> Option<&str> {
        match &self.conn {
            Connection::Server(s) => s.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// Whether the handshake resumed an earlier session (no certificate was exchanged).
    pub fn is_resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// The error the session failed with, if it has.
    pub fn error(&self) -> Option<&TlsError> {
        self.error.as_ref()
    }
}
