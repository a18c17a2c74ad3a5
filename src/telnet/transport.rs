//! The telnet transport: wraps any transport with the [`Parser`](super::codec::Parser) and the
//! [`Negotiator`](super::negotiator::Negotiator), and is itself a transport.
//!
//! How it wraps: [`wrap`] returns a [`Protocol`] (an adapter) to hand to any transport
//! constructor (`listen_tcp`'s factory, `connect_tcp`, a process, …) and the [`Telnet`] handle
//! of the new telnet transport. The adapter feeds incoming bytes to the parser, answers
//! negotiations through the negotiator, and reports what is left to a [`TelnetProtocol`].
//! [`Reactor::listen_telnet`] and [`Reactor::connect_telnet`] do this for TCP.
//!
//! The telnet transport is a transport in its own right (it has its own handle): a write
//! through it doubles 0xFF and turns LF into CR LF and a bare CR into CR NUL (only 0xFF is
//! doubled while our side of TRANSMIT-BINARY is on). Each write is translated on its own:
//! a CR that ends a write is a bare CR (CR NUL) even when the next write starts with LF
//! (then CR LF by itself), so the peer reads back CR then newline, what was written; the
//! buffers of one write_sequence are one write. Its lifecycle is the inner
//! transport's: lose_connection, abort, half-close, pause/resume reading and producers
//! pass through to it, and a producer registered on the telnet transport sits in the inner
//! transport's producer slot (its calls receive the telnet handle). So a telnet session
//! closes, waits for producers and notices its peer going exactly as the transport under
//! it does (see src/transport/connection/). Negotiation answers are written as output
//! generated in answer to input: past the high-water mark, reading from the peer stops
//! until they have drained, so a peer that sends requests and never reads is bounded.
//!
//! Receiving: each run of data between two other events (commands, negotiations,
//! subnegotiations) of one read is one data_received call, unescaped and, in NVT mode,
//! newline-translated, whatever escapes it held. While the peer's TRANSMIT-BINARY is on,
//! CR is not translated (RFC 856). The mode changes at the byte after the peer's WILL that
//! answers our DO, and after the peer's WONT; after the peer's unsolicited WILL (accepted
//! with DO) the peer switches only once our DO reaches it, so the rest of that read is
//! still NVT and binary starts with the next read.
//!
//! Requests ([`Telnet::will`], [`Telnet::wont`], [`Telnet::do_`], [`Telnet::dont`]) either
//! fail at once (`AlreadyEnabled`, `AlreadyDisabled`, `AlreadyNegotiating`, `Closed`; the
//! completion is then never called) or call their completion exactly once, with
//! [`Completion::Ok`], `Refused`, `ConnectionLost` (with the reason) or `TimedOut` (only
//! when a negotiation timeout is set). The option hooks see every change whoever started
//! it: enable_local / enable_remote answer the peer's offers and are also called right
//! after the completion when our own WILL / DO is accepted (their answer is then ignored);
//! disable_local / disable_remote follow the completion of our own WONT / DONT too.
//!
//! Synch (RFC 854): [`Telnet::send_synch`] sends IAC DM with the DM as TCP urgent data. On
//! receive, when the inner transport reports urgent data pending, application data is
//! discarded up to the DM (commands and negotiations in it are still acted on); the DM
//! itself arrives as the urgent byte (SO_OOBINLINE is off) and is fed to the parser in its
//! place, which ends the discarding.
//!
//! Bounds: a subnegotiation longer than the bound (default 4096 bytes,
//! [`Telnet::set_max_subnegotiation`]) drops the connection; the protocol's connection_lost
//! gets [`ReasonKind::ProtocolViolation`] with a message naming the option. Pending requests
//! are at most two per option side; nothing else is buffered here (writes go to the inner
//! transport's queue, which producers bound).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::IoSlice;
use std::ops::Deref;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::codec::{self, Event, Parser, DEFAULT_MAX_SUBNEGOTIATION};
use super::negotiator::{Action, Negotiator, RequestError, RequestOutcome, Verb};
pub use super::negotiator::{Completion, OptionState, Side};
use super::options::{self, EnvKind, EnvVar};
use super::{cmd, opt};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Reactor, Readiness};
use crate::tcp::ListeningPort;
use crate::transport::{Address, Producer, Protocol, ProtocolSlot, Reason, ReasonKind, Transport, TransportOps};

/// Receives a telnet connection's events. Every method has a default, so a protocol
/// implements only what it needs. The defaults refuse every option the peer offers or asks
/// for and ignore everything else.
pub trait TelnetProtocol {
    /// The inner connection is established.
    fn connection_made(&mut self, _t: &Telnet) {}
    /// Application data arrived: unescaped, newlines translated (CR LF → LF, CR NUL → CR;
    /// CR untouched while the peer's TRANSMIT-BINARY is on). Each run of data between two
    /// other events of one read comes in one call. Valid for the call only.
    fn data_received(&mut self, _t: &Telnet, _data: &[u8]) {}
    /// The connection is gone; fires exactly once, from the loop, after every pending
    /// request has completed with `ConnectionLost`. The handle is dead when it returns.
    fn connection_lost(&mut self, _t: &Telnet, _reason: &Reason) {}
    /// A client connection could not be made (instead of connection_lost).
    fn connection_failed(&mut self, _t: &Telnet, _reason: &Reason) {}
    /// Opt into half-close (see [`Protocol::half_close`]).
    fn half_close(&self) -> bool {
        false
    }
    /// The peer closed its sending side (half-close protocols only).
    fn read_connection_lost(&mut self, _t: &Telnet) {}
    /// Our sending side was shut down (half-close protocols only).
    fn write_connection_lost(&mut self, _t: &Telnet) {}
    /// Our side of `opt` is being enabled. Called in two cases (Twisted's do_no_false and
    /// do_no_true), so a protocol tracks option state in one place whoever started it:
    /// - the peer sent DO `opt` while our side was disabled with nothing pending (RFC 1143
    ///   state NO) and the option side's [`Policy`] is `Ask`: return true to agree (WILL is
    ///   sent and the option is on), false to refuse (WONT);
    /// - our own [`Telnet::will`] was accepted (the peer's DO): called right after that
    ///   request's completion, with the option already on. The answer cannot undo what was
    ///   agreed: it is ignored (false is logged at debug level); call [`Telnet::wont`] to
    ///   turn the option off again.
    fn enable_local(&mut self, _t: &Telnet, _opt: u8) -> bool {
        false
    }
    /// The peer's side of `opt` is being enabled; as [`TelnetProtocol::enable_local`], for
    /// the peer's WILL: either the peer offered WILL `opt` while its side was disabled with
    /// nothing pending (state NO; true agrees with DO, false refuses with DONT), or our own
    /// [`Telnet::do_`] was accepted (called after its completion; the answer is ignored).
    fn enable_remote(&mut self, _t: &Telnet, _opt: u8) -> bool {
        false
    }
    /// Our side of `opt` went from enabled to disabled (the peer's DONT, or its agreement
    /// to our WONT: then called right after that request's completion).
    fn disable_local(&mut self, _t: &Telnet, _opt: u8) {}
    /// The peer's side of `opt` went from enabled to disabled (its WONT; after the
    /// completion when it answers our DONT).
    fn disable_remote(&mut self, _t: &Telnet, _opt: u8) {}
    /// A command: NOP DM BRK IP AO AYT EC EL GA EOR, or IAC followed by a byte that is not a
    /// command at all (never fatal).
    fn unhandled_command(&mut self, _t: &Telnet, _cmd: u8) {}
    /// A subnegotiation that no per-option handler
    /// ([`Telnet::set_subnegotiation_handler`]) nor built-in helper consumed.
    fn unhandled_subnegotiation(&mut self, _t: &Telnet, _opt: u8, _data: &[u8]) {}
    /// NAWS: the peer's window size changed.
    fn window_size(&mut self, _t: &Telnet, _width: u16, _height: u16) {}
    /// TERMINAL-TYPE: the peer's answer (SB TTYPE IS name) to [`Telnet::request_terminal_type`].
    fn terminal_type(&mut self, _t: &Telnet, _name: &[u8]) {}
    /// NEW-ENVIRON: the peer sent variables (IS answers [`Telnet::request_environment`],
    /// INFO is an unsolicited update).
    fn environment(&mut self, _t: &Telnet, _kind: EnvKind, _vars: &[EnvVar]) {}
}

/// Called with the outcome of a request, exactly once. The reason is given with
/// `ConnectionLost`.
pub type CompletionFn = Box<dyn FnOnce(&Telnet, Completion, Option<&Reason>)>;
/// A per-option subnegotiation handler.
pub type SubnegotiationFn = Box<dyn FnMut(&Telnet, &[u8])>;

/// What to do when the peer asks to enable one option side (see [`Telnet::set_policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Ask the protocol (enable_local / enable_remote).
    #[default]
    Ask,
    /// Agree without asking.
    Accept,
    /// Refuse without asking.
    Refuse,
}

/// A handle to a telnet transport. It dereferences to its [`Transport`] (so `write`,
/// `lose_connection`, producers, … work as on any transport) and adds the telnet calls.
/// Cloning is cheap; every call fails with `StaleHandle` once connection_lost has returned.
#[derive(Clone, PartialEq, Debug)]
pub struct Telnet {
    transport: Transport,
}

impl Deref for Telnet {
    type Target = Transport;
    fn deref(&self) -> &Transport {
        &self.transport
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Created; the inner transport is not connected yet.
    Connecting,
    Connected,
    /// connection_lost / connection_failed is being (or has been) delivered.
    Closed,
}

struct Pending {
    opt: u8,
    side: Side,
    enable: bool,
    done: Option<CompletionFn>,
}

/// The telnet transport object, owned by the reactor's handle table.
pub(crate) struct TelnetConnection {
    handle: Cell<Option<Handle>>,
    core: Weak<Core>,
    phase: Cell<Phase>,
    inner: RefCell<Option<Transport>>,
    protocol: ProtocolSlot<dyn TelnetProtocol>,
    /// Taken out while it parses (user callbacks run inside `feed`).
    parser: RefCell<Option<Parser>>,
    max_subneg: Cell<usize>,
    neg: RefCell<Negotiator>,
    pending: RefCell<Vec<Pending>>,
    timeout: Cell<Option<Duration>>,
    timers: RefCell<HashMap<(u8, Side), Handle>>,
    policy: RefCell<HashMap<(u8, Side), Policy>>,
    sb_handlers: RefCell<HashMap<u8, Option<SubnegotiationFn>>>,
    terminal_type: RefCell<Option<Vec<u8>>>,
    user: Cell<usize>,
    half_close: bool,
    /// Ignore the rest of the input (after a protocol violation).
    input_stopped: Cell<bool>,
    violation: RefCell<Option<Reason>>,
}

/// Creates a telnet transport for `protocol` and returns the [`Protocol`] to give to the
/// transport it wraps (any kind: TCP, a process, …), with the new telnet handle.
///
/// The telnet transport becomes usable when the inner transport's connection_made reaches
/// the adapter; writes and requests made before that fail with `NotConnected`. If the
/// adapter is dropped without ever being connected, the telnet handle goes stale.
pub fn wrap(reactor: &Reactor, protocol: Box<dyn TelnetProtocol>) -> Result<(Box<dyn Protocol>, Telnet)> {
    let conn = TelnetConnection::create(&reactor.core, protocol)?;
    let telnet = conn.telnet(&reactor.core);
    Ok((Box::new(Adapter { conn }), telnet))
}

impl Reactor {
    /// Listens for telnet connections over TCP (arguments as for
    /// [`Reactor::listen_tcp`]); `factory` builds the telnet protocol of each connection.
    pub fn listen_telnet(
        &self,
        interface: &str,
        port: u16,
        backlog: i32,
        mut factory: impl FnMut(&Address) -> Box<dyn TelnetProtocol> + 'static,
    ) -> Result<ListeningPort> {
        let core = Rc::downgrade(&self.core);
        self.listen_tcp(interface, port, backlog, move |peer| {
            let protocol = factory(peer);
            match core.upgrade().and_then(|core| TelnetConnection::create(&core, protocol).ok()) {
                Some(conn) => Box::new(Adapter { conn }) as Box<dyn Protocol>,
                // The handle table is full: the connection is accepted and closed at once.
                None => Box::new(CloseAtOnce),
            }
        })
    }

    /// Connects to a telnet server over TCP (arguments as for [`Reactor::connect_tcp`]).
    /// The handle is usable at once: writes and requests made before the connection is up
    /// are queued by the TCP transport.
    pub fn connect_telnet(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
        protocol: Box<dyn TelnetProtocol>,
    ) -> Result<Telnet> {
        let conn = TelnetConnection::create(&self.core, protocol)?;
        let telnet = conn.telnet(&self.core);
        let inner = self.connect_tcp(host, port, timeout, Box::new(Adapter { conn: conn.clone() }))?;
        conn.attach(&inner);
        Ok(telnet)
    }
}

struct CloseAtOnce;
impl Protocol for CloseAtOnce {
    fn connection_made(&mut self, t: &Transport) {
        let _ = t.abort_connection();
    }
}

fn request_error(e: RequestError) -> Error {
    match e {
        RequestError::AlreadyEnabled => ErrorKind::AlreadyEnabled,
        RequestError::AlreadyDisabled => ErrorKind::AlreadyDisabled,
        RequestError::AlreadyNegotiating => ErrorKind::AlreadyNegotiating,
    }
    .into()
}

fn meaning(verb: Verb) -> (Side, bool) {
    match verb {
        Verb::Will => (Side::Remote, true),
        Verb::Wont => (Side::Remote, false),
        Verb::Do => (Side::Local, true),
        Verb::Dont => (Side::Local, false),
    }
}

impl TelnetConnection {
    fn create(core: &Rc<Core>, protocol: Box<dyn TelnetProtocol>) -> Result<Rc<TelnetConnection>> {
        let half_close = protocol.half_close();
        let conn = Rc::new(TelnetConnection {
            handle: Cell::new(None),
            core: Rc::downgrade(core),
            phase: Cell::new(Phase::Connecting),
            inner: RefCell::new(None),
            protocol: ProtocolSlot::new(protocol),
            parser: RefCell::new(Some(Parser::new(DEFAULT_MAX_SUBNEGOTIATION))),
            max_subneg: Cell::new(DEFAULT_MAX_SUBNEGOTIATION),
            neg: RefCell::new(Negotiator::new()),
            pending: RefCell::new(Vec::new()),
            timeout: Cell::new(None),
            timers: RefCell::new(HashMap::new()),
            policy: RefCell::new(HashMap::new()),
            sb_handlers: RefCell::new(HashMap::new()),
            terminal_type: RefCell::new(None),
            user: Cell::new(0),
            half_close,
            input_stopped: Cell::new(false),
            violation: RefCell::new(None),
        });
        let h = core.insert(conn.clone())?;
        conn.handle.set(Some(h));
        Ok(conn)
    }

    fn telnet(&self, core: &Rc<Core>) -> Telnet {
        Telnet { transport: Transport::new(core, self.handle.get().expect("inserted at creation")) }
    }

    fn inner(&self) -> Result<Transport> {
        self.inner.borrow().clone().ok_or_else(|| ErrorKind::NotConnected.into())
    }

    /// Learns the inner transport.
    fn attach(&self, inner: &Transport) {
        if self.inner.borrow().is_none() {
            *self.inner.borrow_mut() = Some(inner.clone());
        }
    }

    /// Writes are refused once connection_lost is on its way; until then the inner
    /// transport decides (it accepts writes after lose_connection until it has closed).
    fn writable(&self) -> Result<()> {
        if self.phase.get() == Phase::Closed {
            return Err(ErrorKind::Closed.into());
        }
        Ok(())
    }

    /// Writes bytes that are already telnet-encoded.
    fn send_raw(&self, bytes: &[u8]) -> Result<()> {
        self.inner()?.write(bytes)
    }

    /// Writes telnet-encoded output generated in answer to the peer's input (negotiation
    /// answers): it counts against the inner transport's high-water mark, past which
    /// reading from the peer stops until the queue has drained.
    fn send_answer(&self, bytes: &[u8]) -> Result<()> {
        self.inner()?.write_answer(bytes)
    }

    fn escape(&self, data: &[u8], out: &mut Vec<u8>) {
        if self.neg.borrow().is_enabled(opt::BINARY, Side::Local) {
            codec::escape_binary(data, out)
        } else {
            codec::escape_data(data, out)
        }
    }

    fn needs_escape(&self, data: &[u8]) -> bool {
        if self.neg.borrow().is_enabled(opt::BINARY, Side::Local) {
            codec::find_iac(data).is_some()
        } else {
            data.iter().any(|&b| b == cmd::IAC || b == b'\r' || b == b'\n')
        }
    }

    // ----- events from the inner transport -----

    fn made(self: &Rc<Self>, core: &Rc<Core>, inner: &Transport) {
        self.attach(inner);
        if self.phase.get() != Phase::Connecting {
            return;
        }
        self.phase.set(Phase::Connected);
        let t = self.telnet(core);
        self.protocol.with(|p| p.connection_made(&t));
    }

    fn receive(self: &Rc<Self>, core: &Rc<Core>, data: &[u8]) {
        if self.input_stopped.get() || self.phase.get() == Phase::Closed {
            return;
        }
        let Some(mut parser) = self.parser.borrow_mut().take() else { return };
        let t = self.telnet(core);
        let mut rest = data;
        while !rest.is_empty() {
            // The peer's WILL/WONT BINARY just parsed, and the state it found.
            let mut binary = None;
            let used = parser.feed_until_will_or_wont(rest, &mut |ev| {
                if let Event::Will(opt::BINARY) | Event::Wont(opt::BINARY) = ev {
                    binary = Some((ev == Event::Will(opt::BINARY), self.neg.borrow().state(opt::BINARY, Side::Remote)));
                }
                self.event(core, &t, ev)
            });
            rest = &rest[used..];
            // RFC 856: the peer sends binary from the WILL that answers our DO, and NVT from
            // its WONT, so the mode changes at the next byte. After an unsolicited WILL the
            // peer switches only once our DO reaches it: the rest of this read is still NVT
            // and restore_parser switches at the next read.
            if let Some((will, before)) = binary {
                if !(will && before == OptionState::No) {
                    parser.set_binary(self.neg.borrow().is_enabled(opt::BINARY, Side::Remote));
                }
            }
        }
        self.restore_parser(parser);
    }

    fn restore_parser(&self, mut parser: Parser) {
        if parser.max_subnegotiation() != self.max_subneg.get() {
            parser.set_max_subnegotiation(self.max_subneg.get());
        }
        let binary = self.neg.borrow().is_enabled(opt::BINARY, Side::Remote);
        parser.set_binary(binary);
        *self.parser.borrow_mut() = Some(parser);
    }

    /// Urgent data is pending: discard data until the mark (Synch).
    fn urgent_pending(&self) {
        if let Some(p) = self.parser.borrow_mut().as_mut() {
            p.set_synch(true);
        }
    }

    /// The urgent byte (normally the DM of a Synch) reached its place in the stream.
    fn urgent(self: &Rc<Self>, core: &Rc<Core>, data: &[u8]) {
        self.urgent_pending();
        self.receive(core, data);
        // The mark is passed: whatever the urgent byte was, discarding ends here.
        if let Some(p) = self.parser.borrow_mut().as_mut() {
            p.set_synch(false);
        }
    }

    fn event(self: &Rc<Self>, core: &Rc<Core>, t: &Telnet, ev: Event<'_>) {
        if self.input_stopped.get() || self.phase.get() == Phase::Closed {
            return;
        }
        match ev {
            Event::Data(d) => self.protocol.with(|p| p.data_received(t, d)),
            Event::Command(c) | Event::Unhandled(c) => self.protocol.with(|p| p.unhandled_command(t, c)),
            Event::Will(o) => self.negotiation(core, t, Verb::Will, o),
            Event::Wont(o) => self.negotiation(core, t, Verb::Wont, o),
            Event::Do(o) => self.negotiation(core, t, Verb::Do, o),
            Event::Dont(o) => self.negotiation(core, t, Verb::Dont, o),
            Event::Subnegotiation(o, payload) => self.subnegotiation(core, t, o, payload),
            Event::SubnegotiationOverflow(o) => {
                let msg = format!(
                    "telnet protocol violation: the peer's subnegotiation of option {o} exceeded {} bytes",
                    self.max_subneg.get()
                );
                crate::log::warn(core, &msg);
                self.violation(&msg);
            }
        }
    }

    fn violation(&self, message: &str) {
        if self.violation.borrow().is_some() {
            return;
        }
        *self.violation.borrow_mut() = Some(Reason::new(ReasonKind::ProtocolViolation, message));
        self.input_stopped.set(true);
        if let Ok(inner) = self.inner() {
            let _ = inner.abort_connection();
        }
    }

    fn negotiation(self: &Rc<Self>, core: &Rc<Core>, t: &Telnet, verb: Verb, opt: u8) {
        let (side, positive) = meaning(verb);
        let mut accept = false;
        if positive && self.neg.borrow().state(opt, side) == OptionState::No {
            let policy = self.policy.borrow().get(&(opt, side)).copied().unwrap_or_default();
            accept = match policy {
                Policy::Accept => true,
                Policy::Refuse => false,
                Policy::Ask => {
                    let mut yes = false;
                    self.protocol.with(|p| {
                        yes = match side {
                            Side::Local => p.enable_local(t, opt),
                            Side::Remote => p.enable_remote(t, opt),
                        }
                    });
                    yes
                }
            };
            if self.phase.get() == Phase::Closed {
                return;
            }
        }
        let mut actions = Vec::new();
        let mut asked = false;
        self.neg.borrow_mut().receive(
            verb,
            opt,
            &mut |_, _| {
                asked = true;
                accept
            },
            &mut |a| actions.push(a),
        );
        if asked {
            // The peer's offer: the policy or the enable hook has answered already.
            actions.retain(|a| !matches!(a, Action::Enabled { .. }));
        }
        self.run_actions(core, t, actions, None);
    }

    fn run_actions(self: &Rc<Self>, core: &Rc<Core>, t: &Telnet, actions: Vec<Action>, reason: Option<&Reason>) {
        let mut touched: Vec<(u8, Side)> = Vec::new();
        for a in actions {
            match a {
                Action::Send(bytes) => {
                    let _ = self.send_answer(&bytes);
                }
                // Our own request was accepted (the peer's offers are answered before):
                // the enable hook is told after the completion, as Twisted's do_no_true /
                // will_no_true do; its answer cannot undo what was agreed.
                Action::Enabled { opt, side } => {
                    let mut agreed = true;
                    self.protocol.with(|p| {
                        agreed = match side {
                            Side::Local => p.enable_local(t, opt),
                            Side::Remote => p.enable_remote(t, opt),
                        }
                    });
                    if !agreed {
                        crate::log::emit(
                            crate::log::Level::Debug,
                            &format!("telnet: the enable hook refused option {opt} ({side:?}), which our own request enabled; ignored"),
                        );
                    }
                }
                Action::Disabled { opt, side } => self.protocol.with(|p| match side {
                    Side::Local => p.disable_local(t, opt),
                    Side::Remote => p.disable_remote(t, opt),
                }),
                Action::Completed { opt, side, enable, result } => {
                    if !touched.contains(&(opt, side)) {
                        touched.push((opt, side));
                    }
                    let done = {
                        let mut pending = self.pending.borrow_mut();
                        let i = pending.iter().position(|p| p.opt == opt && p.side == side && p.enable == enable);
                        i.map(|i| pending.remove(i)).and_then(|p| p.done)
                    };
                    if let Some(done) = done {
                        done(t, result, if result == Completion::ConnectionLost { reason } else { None });
                    }
                }
            }
        }
        for (opt, side) in touched {
            self.sync_timer(core, opt, side, true);
        }
    }

    /// Starts, keeps or cancels the negotiation timer of one option side. `restart`: the
    /// request in flight changed, so a running timer starts over.
    fn sync_timer(&self, core: &Rc<Core>, opt: u8, side: Side, restart: bool) {
        let negotiating = self.phase.get() != Phase::Closed && self.neg.borrow().state(opt, side).is_negotiating();
        let mut timers = self.timers.borrow_mut();
        if restart || !negotiating {
            if let Some(h) = timers.remove(&(opt, side)) {
                core.timers().cancel(h);
            }
        }
        let Some(delay) = self.timeout.get() else { return };
        if negotiating && !timers.contains_key(&(opt, side)) {
            let me = self.handle.get().expect("inserted");
            let timer = core.call_later_internal(delay, move |core| {
                if let Ok(c) = core.object_as::<TelnetConnection>(me) {
                    c.timers.borrow_mut().remove(&(opt, side));
                    c.time_out(core, opt, side);
                }
            });
            if let Some(timer) = timer {
                timers.insert((opt, side), timer);
            }
        }
    }

    fn time_out(self: &Rc<Self>, core: &Rc<Core>, opt: u8, side: Side) {
        if self.phase.get() == Phase::Closed {
            return;
        }
        let mut actions = Vec::new();
        self.neg.borrow_mut().time_out(opt, side, &mut |a| actions.push(a));
        let t = self.telnet(core);
        self.run_actions(core, &t, actions, None);
    }

    fn subnegotiation(self: &Rc<Self>, _core: &Rc<Core>, t: &Telnet, o: u8, payload: &[u8]) {
        // A per-option handler first (taken out while it runs, put back unless replaced).
        let handler = self.sb_handlers.borrow_mut().get_mut(&o).and_then(|h| h.take());
        if let Some(mut h) = handler {
            h(t, payload);
            if let Some(slot @ None) = self.sb_handlers.borrow_mut().get_mut(&o) {
                *slot = Some(h);
            }
            return;
        }
        match o {
            opt::NAWS => {
                if let Some((w, h)) = options::parse_naws(payload) {
                    return self.protocol.with(|p| p.window_size(t, w, h));
                }
            }
            opt::TTYPE => {
                if let Some(name) = options::parse_terminal_type(payload) {
                    return self.protocol.with(|p| p.terminal_type(t, name));
                }
                if payload == [options::SEND] {
                    let name = self.terminal_type.borrow().clone();
                    if let Some(name) = name {
                        let mut answer = vec![options::IS];
                        answer.extend_from_slice(&name);
                        let _ = self.subnegotiate(opt::TTYPE, &answer, true);
                        return;
                    }
                }
            }
            opt::NEW_ENVIRON => {
                if let Some((kind, vars)) = options::parse_environment(payload) {
                    return self.protocol.with(|p| p.environment(t, kind, &vars));
                }
            }
            _ => {}
        }
        self.protocol.with(|p| p.unhandled_subnegotiation(t, o, payload));
    }

    /// Sends IAC SB `o` `data` IAC SE; `answer`: in answer to the peer's input.
    fn subnegotiate(&self, o: u8, data: &[u8], answer: bool) -> Result<()> {
        self.writable()?;
        let mut out = Vec::with_capacity(data.len() + 6);
        codec::encode_subnegotiation(o, data, &mut out);
        if answer {
            self.send_answer(&out)
        } else {
            self.send_raw(&out)
        }
    }

    fn request(self: &Rc<Self>, core: &Rc<Core>, o: u8, side: Side, enable: bool, done: Option<CompletionFn>) -> Result<()> {
        self.writable()?;
        self.inner()?;
        let outcome = self.neg.borrow_mut().request(o, side, enable).map_err(request_error)?;
        self.pending.borrow_mut().push(Pending { opt: o, side, enable, done });
        if let RequestOutcome::Send(bytes) = outcome {
            // A failed write means the connection is going: connection_lost completes it.
            let _ = self.send_raw(&bytes);
        }
        self.sync_timer(core, o, side, false);
        Ok(())
    }

    /// The peer closed its sending side (only for a half-close protocol: the adapter
    /// asks the inner transport for half-close exactly when the protocol wants it).
    fn read_lost(self: &Rc<Self>, core: &Rc<Core>) {
        let t = self.telnet(core);
        self.protocol.with(|p| p.read_connection_lost(&t));
    }

    fn write_lost(self: &Rc<Self>, core: &Rc<Core>) {
        let t = self.telnet(core);
        self.protocol.with(|p| p.write_connection_lost(&t));
    }

    fn lose(&self) -> Result<()> {
        if self.phase.get() == Phase::Closed {
            return Ok(());
        }
        self.inner()?.lose_connection()
    }

    /// The inner transport is gone: complete every request, tell the protocol, go stale.
    fn lost(self: &Rc<Self>, core: &Rc<Core>, reason: &Reason, failed: bool) {
        if self.phase.replace(Phase::Closed) == Phase::Closed {
            return;
        }
        let reason = self.violation.borrow_mut().take().unwrap_or_else(|| reason.clone());
        let timers: Vec<Handle> = self.timers.borrow_mut().drain().map(|(_, h)| h).collect();
        for h in timers {
            core.timers().cancel(h);
        }
        let t = self.telnet(core);
        let mut actions = Vec::new();
        self.neg.borrow_mut().connection_lost(&mut |a| actions.push(a));
        self.run_actions(core, &t, actions, Some(&reason));
        if failed {
            self.protocol.with(|p| p.connection_failed(&t, &reason));
        } else {
            self.protocol.with(|p| p.connection_lost(&t, &reason));
        }
        self.protocol.take();
        self.release(core);
    }

    fn release(&self, core: &Rc<Core>) {
        self.pending.borrow_mut().clear();
        self.sb_handlers.borrow_mut().clear();
        *self.inner.borrow_mut() = None;
        if let Some(h) = self.handle.get() {
            core.remove(h);
        }
    }
}

/// The protocol the telnet transport installs on the inner transport.
struct Adapter {
    conn: Rc<TelnetConnection>,
}

impl Adapter {
    fn core(&self, t: &Transport) -> Option<Rc<Core>> {
        t.core().ok()
    }
}

impl Protocol for Adapter {
    fn connection_made(&mut self, t: &Transport) {
        if let Some(core) = self.core(t) {
            self.conn.made(&core, t);
        }
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        if let Some(core) = self.core(t) {
            self.conn.receive(&core, data);
        }
    }
    fn urgent_pending(&mut self, _t: &Transport) {
        self.conn.urgent_pending();
    }
    fn urgent_data_received(&mut self, t: &Transport, data: &[u8]) {
        if let Some(core) = self.core(t) {
            self.conn.urgent(&core, data);
        }
    }
    fn connection_lost(&mut self, t: &Transport, reason: &Reason) {
        if let Some(core) = self.core(t) {
            self.conn.lost(&core, reason, false);
        }
    }
    fn connection_failed(&mut self, t: &Transport, reason: &Reason) {
        if let Some(core) = self.core(t) {
            self.conn.lost(&core, reason, true);
        }
    }
    fn half_close(&self) -> bool {
        // As the telnet protocol asks: the inner transport's lifecycle decides what the
        // peer's end of stream means, for telnet as for any other protocol.
        self.conn.half_close
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        if let Some(core) = self.core(t) {
            self.conn.read_lost(&core);
        }
    }
    fn write_connection_lost(&mut self, t: &Transport) {
        if let Some(core) = self.core(t) {
            self.conn.write_lost(&core);
        }
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        // Never connected (the inner transport could not be made): the handle goes stale.
        if self.conn.phase.replace(Phase::Closed) != Phase::Closed {
            if let Some(core) = self.conn.core.upgrade() {
                self.conn.protocol.take();
                self.conn.release(&core);
            }
        }
    }
}

impl Object for TelnetConnection {
    fn ready(self: Rc<Self>, _core: &Rc<Core>, _sub: u8, _r: Readiness) {}

    fn into_transport(self: Rc<Self>) -> Option<Rc<dyn TransportOps>> {
        Some(self)
    }

    fn shutdown(self: Rc<Self>, _core: &Rc<Core>) {
        // The inner transport's shutdown delivers connection_lost through the adapter.
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

impl TransportOps for TelnetConnection {
    fn write(self: Rc<Self>, _core: &Rc<Core>, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.writable()?;
        let inner = self.inner()?;
        if !bufs.iter().any(|b| self.needs_escape(b)) {
            return inner.write_sequence(bufs);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut out = Vec::with_capacity(total + total / 8 + 4);
        if self.neg.borrow().is_enabled(opt::BINARY, Side::Local) {
            for b in bufs {
                codec::escape_binary(b, &mut out);
            }
        } else {
            // One write: a CR ending one buffer and an LF starting the next are one CR LF.
            codec::escape_data_sequence(bufs.iter().map(|b| &b[..]), &mut out);
        }
        inner.write(&out)
    }

    /// Urgent data through a telnet transport is escaped like other data (0xFF doubled);
    /// to send a Synch use [`Telnet::send_synch`].
    fn write_urgent(self: Rc<Self>, _core: &Rc<Core>, data: &[u8]) -> Result<()> {
        self.writable()?;
        let inner = self.inner()?;
        let mut out = Vec::with_capacity(data.len() + 2);
        codec::escape_binary(data, &mut out);
        inner.write_urgent(&out)
    }

    fn write_answer(self: Rc<Self>, _core: &Rc<Core>, data: &[u8]) -> Result<()> {
        self.writable()?;
        let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 4);
        self.escape(data, &mut out);
        self.send_answer(&out)
    }

    fn lose_connection(self: Rc<Self>, _core: &Rc<Core>) -> Result<()> {
        self.lose()
    }

    fn lose_write_connection(self: Rc<Self>, _core: &Rc<Core>) -> Result<()> {
        self.inner()?.lose_write_connection()
    }

    fn abort_connection(self: Rc<Self>, _core: &Rc<Core>) -> Result<()> {
        if self.phase.get() == Phase::Closed {
            return Ok(());
        }
        self.input_stopped.set(true);
        self.inner()?.abort_connection()
    }

    fn host(&self) -> Result<Address> {
        self.inner()?.host()
    }

    fn peer(&self) -> Result<Address> {
        self.inner()?.peer()
    }

    fn set_reading(self: Rc<Self>, _core: &Rc<Core>, reading: bool) -> Result<()> {
        let inner = self.inner()?;
        if reading {
            inner.resume_producing()
        } else {
            inner.pause_producing()
        }
    }

    fn queued(&self) -> usize {
        self.inner.borrow().as_ref().and_then(|t| t.queued().ok()).unwrap_or(0)
    }

    fn register_producer(
        self: Rc<Self>,
        _core: &Rc<Core>,
        face: &Transport,
        producer: Box<dyn Producer>,
        streaming: bool,
    ) -> Result<()> {
        self.inner()?.register_producer_as(face, producer, streaming)
    }

    fn register_own_reading(self: Rc<Self>, _core: &Rc<Core>, face: &Transport) -> Result<()> {
        self.inner()?.register_own_reading_as(face)
    }

    fn unregister_producer(self: Rc<Self>, _core: &Rc<Core>) -> Result<()> {
        self.inner()?.unregister_producer()
    }

    fn set_high_water(&self, bytes: usize) -> Result<()> {
        self.inner()?.set_write_high_water(bytes)
    }

    fn user_data(&self) -> &Cell<usize> {
        &self.user
    }
}

impl Telnet {
    /// The telnet handle of `t`, when `t` is a telnet transport (else `WrongHandleType`).
    pub fn from_transport(t: &Transport) -> Result<Telnet> {
        let telnet = Telnet { transport: t.clone() };
        telnet.conn()?;
        Ok(telnet)
    }

    /// The telnet transport as a plain transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    fn conn(&self) -> Result<(Rc<Core>, Rc<TelnetConnection>)> {
        let core = self.transport.core()?;
        let c = core.object_as::<TelnetConnection>(self.transport.handle)?;
        Ok((core, c))
    }

    /// The transport this one wraps (`NotConnected` before it is known).
    pub fn inner(&self) -> Result<Transport> {
        self.conn()?.1.inner()
    }

    /// Asks to enable (`enable`) or disable one side of an option: WILL/WONT for
    /// [`Side::Local`], DO/DONT for [`Side::Remote`]. Fails at once with `AlreadyEnabled`,
    /// `AlreadyDisabled` or `AlreadyNegotiating` (the rule is in
    /// [`Negotiator::request`]), or `Closed` / `NotConnected`; otherwise `done` is called
    /// exactly once, later, from the loop.
    pub fn request(
        &self,
        opt: u8,
        side: Side,
        enable: bool,
        done: impl FnOnce(&Telnet, Completion, Option<&Reason>) + 'static,
    ) -> Result<()> {
        let (core, c) = self.conn()?;
        c.request(&core, opt, side, enable, Some(Box::new(done)))
    }

    /// Offers to enable our side of `opt` (IAC WILL opt). See [`Telnet::request`].
    pub fn will(&self, opt: u8, done: impl FnOnce(&Telnet, Completion, Option<&Reason>) + 'static) -> Result<()> {
        self.request(opt, Side::Local, true, done)
    }

    /// Disables our side of `opt` (IAC WONT opt). See [`Telnet::request`].
    pub fn wont(&self, opt: u8, done: impl FnOnce(&Telnet, Completion, Option<&Reason>) + 'static) -> Result<()> {
        self.request(opt, Side::Local, false, done)
    }

    /// Asks the peer to enable its side of `opt` (IAC DO opt). See [`Telnet::request`].
    pub fn do_(&self, opt: u8, done: impl FnOnce(&Telnet, Completion, Option<&Reason>) + 'static) -> Result<()> {
        self.request(opt, Side::Remote, true, done)
    }

    /// Asks the peer to disable its side of `opt` (IAC DONT opt). See [`Telnet::request`].
    pub fn dont(&self, opt: u8, done: impl FnOnce(&Telnet, Completion, Option<&Reason>) + 'static) -> Result<()> {
        self.request(opt, Side::Remote, false, done)
    }

    /// The RFC 1143 state of one side of an option.
    pub fn option_state(&self, opt: u8, side: Side) -> Result<OptionState> {
        Ok(self.conn()?.1.neg.borrow().state(opt, side))
    }

    /// Whether one side of an option is in effect.
    pub fn is_enabled(&self, opt: u8, side: Side) -> Result<bool> {
        Ok(self.option_state(opt, side)?.is_enabled())
    }

    /// How to answer the peer asking to enable `side` of `opt` (default [`Policy::Ask`]).
    pub fn set_policy(&self, opt: u8, side: Side, policy: Policy) -> Result<()> {
        let c = self.conn()?.1;
        let mut map = c.policy.borrow_mut();
        if policy == Policy::Ask {
            map.remove(&(opt, side));
        } else {
            map.insert((opt, side), policy);
        }
        Ok(())
    }

    /// Sends IAC SB `opt` `data` IAC SE, with 0xFF in `data` doubled.
    pub fn request_negotiation(&self, opt: u8, data: &[u8]) -> Result<()> {
        self.conn()?.1.subnegotiate(opt, data, false)
    }

    /// Sends IAC `command`. `DM` sends a Synch (see [`Telnet::send_synch`]). WILL, WONT, DO
    /// and DONT (use the requests), SB, SE and IAC are `InvalidArgument`, and so is any byte
    /// below 236 (xEOF, the lowest telnet command): IAC followed by it is not a telnet
    /// command, so the output would no longer be a valid telnet stream.
    pub fn send_command(&self, command: u8) -> Result<()> {
        match command {
            cmd::DM => self.send_synch(),
            cmd::WILL | cmd::WONT | cmd::DO | cmd::DONT | cmd::SB | cmd::SE | cmd::IAC => Err(ErrorKind::InvalidArgument.into()),
            0..=235 => Err(ErrorKind::InvalidArgument.into()),
            _ => {
                let c = self.conn()?.1;
                c.writable()?;
                c.send_raw(&[cmd::IAC, command])
            }
        }
    }

    /// Sends a Synch: IAC DM with the DM as TCP urgent data, after everything written
    /// before. The inner transport must support urgent data (else `NotSupported`).
    pub fn send_synch(&self) -> Result<()> {
        let c = self.conn()?.1;
        c.writable()?;
        c.inner()?.write_urgent(&[cmd::IAC, cmd::DM])
    }

    /// Fails every pending request with `TimedOut` when the peer has not answered within
    /// `timeout` (`None`, the default: wait for ever). Applies to requests sent from now on.
    pub fn set_negotiation_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(ErrorKind::InvalidArgument.into());
        }
        self.conn()?.1.timeout.set(timeout);
        Ok(())
    }

    /// Bounds the payload of the peer's subnegotiations (default 4096 bytes); a longer one
    /// drops the connection with [`ReasonKind::ProtocolViolation`]. Must be at least 1.
    pub fn set_max_subnegotiation(&self, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Err(ErrorKind::InvalidArgument.into());
        }
        let c = self.conn()?.1;
        c.max_subneg.set(bytes);
        if let Some(p) = c.parser.borrow_mut().as_mut() {
            p.set_max_subnegotiation(bytes);
        }
        Ok(())
    }

    /// Handles subnegotiations of `opt` with `handler` instead of the built-in helpers and
    /// unhandled_subnegotiation (`None` removes it).
    pub fn set_subnegotiation_handler(&self, opt: u8, handler: Option<SubnegotiationFn>) -> Result<()> {
        let c = self.conn()?.1;
        let mut map = c.sb_handlers.borrow_mut();
        match handler {
            Some(h) => {
                map.insert(opt, Some(h));
            }
            None => {
                map.remove(&opt);
            }
        }
        Ok(())
    }

    /// NAWS (client side): sends our window size (SB NAWS w h). Enable our NAWS side first
    /// (`will(NAWS)`, or accept the server's DO).
    pub fn send_window_size(&self, width: u16, height: u16) -> Result<()> {
        self.request_negotiation(opt::NAWS, &options::naws_payload(width, height))
    }

    /// TERMINAL-TYPE (server side): asks the peer for its terminal type (SB TTYPE SEND);
    /// the answer arrives as terminal_type.
    pub fn request_terminal_type(&self) -> Result<()> {
        self.request_negotiation(opt::TTYPE, &[options::SEND])
    }

    /// TERMINAL-TYPE (client side): the name to answer the peer's SB TTYPE SEND with
    /// (`None`: such requests go to unhandled_subnegotiation).
    pub fn set_terminal_type(&self, name: Option<&[u8]>) -> Result<()> {
        *self.conn()?.1.terminal_type.borrow_mut() = name.map(|n| n.to_vec());
        Ok(())
    }

    /// NEW-ENVIRON (server side): asks for all the peer's variables (SB NEW-ENVIRON SEND).
    pub fn request_environment(&self) -> Result<()> {
        self.request_negotiation(opt::NEW_ENVIRON, &[options::SEND])
    }

    /// NEW-ENVIRON (client side): sends variables (IS answers a SEND, INFO updates).
    pub fn send_environment(&self, kind: EnvKind, vars: &[EnvVar]) -> Result<()> {
        self.request_negotiation(opt::NEW_ENVIRON, &options::environment_payload(kind, vars))
    }
}
