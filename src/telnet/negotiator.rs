//! Option negotiation with the Q method of RFC 1143, sans IO.
//!
//! Each option has two independent sides: [`Side::Local`] ("us": we send WILL/WONT, the
//! peer answers DO/DONT) and [`Side::Remote`] ("him": we send DO/DONT, the peer answers
//! WILL/WONT). Each side is in one of the RFC 1143 states NO, YES, WANTNO or WANTYES, the
//! WANT states carrying a one-slot queue (EMPTY or OPPOSITE).
//!
//! The negotiator never does I/O and has no clock: [`Negotiator::request`] returns the
//! bytes to send, [`Negotiator::receive`] reports [`Action`]s through a callback, and the
//! transport calls [`Negotiator::time_out`] / [`Negotiator::connection_lost`] when its
//! timer fires or the connection goes.
//!
//! Every request that [`Negotiator::request`] accepts (returns `Ok`) gets exactly one
//! [`Action::Completed`]; a request that returns `Err` never does. At most two requests
//! are outstanding per option side and they are for opposite directions, so
//! `(opt, side, enable)` identifies a request uniquely.
//!
//! Differences from Twisted, by design: the two sides of an option negotiate independently
//! (Twisted refuses a request on one side while the other side is negotiating), and one
//! request in the opposite direction may be queued behind a pending one (Twisted refuses
//! it with AlreadyNegotiating).

use super::cmd::{DO, DONT, IAC, WILL, WONT};
use std::fmt;

/// Which side of an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Our side ("us"): enabled by our WILL and the peer's DO.
    Local,
    /// The peer's side ("him"): enabled by our DO and the peer's WILL.
    Remote,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Local => 0,
            Side::Remote => 1,
        }
    }

    /// The verb we send to ask for (or agree to) this side being enabled or disabled.
    fn verb(self, enable: bool) -> u8 {
        match (self, enable) {
            (Side::Local, true) => WILL,
            (Side::Local, false) => WONT,
            (Side::Remote, true) => DO,
            (Side::Remote, false) => DONT,
        }
    }
}

/// A negotiation verb received from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// IAC WILL: the peer enables (or offers) its side.
    Will,
    /// IAC WONT: the peer disables (or refuses) its side.
    Wont,
    /// IAC DO: the peer asks us to enable our side (or agrees).
    Do,
    /// IAC DONT: the peer asks us to disable our side (or refuses).
    Dont,
}

impl Verb {
    /// The verb for a command byte (WILL, WONT, DO, DONT), if it is one.
    pub fn from_byte(b: u8) -> Option<Verb> {
        match b {
            WILL => Some(Verb::Will),
            WONT => Some(Verb::Wont),
            DO => Some(Verb::Do),
            DONT => Some(Verb::Dont),
            _ => None,
        }
    }

    /// The command byte of this verb.
    pub fn to_byte(self) -> u8 {
        match self {
            Verb::Will => WILL,
            Verb::Wont => WONT,
            Verb::Do => DO,
            Verb::Dont => DONT,
        }
    }

    /// Which of our sides the verb is about, and whether it says "enabled".
    fn meaning(self) -> (Side, bool) {
        match self {
            Verb::Will => (Side::Remote, true),
            Verb::Wont => (Side::Remote, false),
            Verb::Do => (Side::Local, true),
            Verb::Dont => (Side::Local, false),
        }
    }
}

/// The RFC 1143 state of one side of one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OptionState {
    /// Disabled, nothing pending.
    #[default]
    No,
    /// Enabled, nothing pending.
    Yes,
    /// We asked to disable (still counts as enabled); queue EMPTY.
    WantNo,
    /// We asked to disable, and an enable request is queued (queue OPPOSITE).
    WantNoOpposite,
    /// We asked to enable (still counts as disabled); queue EMPTY.
    WantYes,
    /// We asked to enable, and a disable request is queued (queue OPPOSITE).
    WantYesOpposite,
}

impl OptionState {
    /// Whether the option is in effect: YES, or WANTNO (until the peer confirms).
    pub fn is_enabled(self) -> bool {
        matches!(
            self,
            OptionState::Yes | OptionState::WantNo | OptionState::WantNoOpposite
        )
    }

    /// Whether a request is pending (a WANT state).
    pub fn is_negotiating(self) -> bool {
        !matches!(self, OptionState::No | OptionState::Yes)
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Completion {
    /// The option side is now in the requested state.
    Ok,
    /// The peer refused: WONT to our DO, DONT to our WILL (or, for a disable request, a
    /// contradictory answer that left the option enabled).
    Refused,
    /// The connection went before the peer answered.
    ConnectionLost,
    /// The transport's negotiation timer fired before the peer answered.
    TimedOut,
}

/// What [`Negotiator::request`] did with an accepted request. Either way exactly one
/// [`Action::Completed`] for it will follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// Send these bytes (IAC verb option) now.
    Send([u8; 3]),
    /// Queued behind the pending request in the other direction; nothing to send now (the
    /// bytes are emitted as an [`Action::Send`] when its turn comes).
    Queued,
}

/// Why [`Negotiator::request`] refused a request at once (no completion will follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestError {
    /// Enable requested, but the side is already YES with nothing pending.
    AlreadyEnabled,
    /// Disable requested, but the side is already NO with nothing pending.
    AlreadyDisabled,
    /// The request duplicates the one in flight, or the queue is full (see
    /// [`Negotiator::request`] for the exact rule).
    AlreadyNegotiating,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::AlreadyEnabled => "option already enabled",
            RequestError::AlreadyDisabled => "option already disabled",
            RequestError::AlreadyNegotiating => "option already being negotiated",
        })
    }
}

impl std::error::Error for RequestError {}

/// Something the caller must do or be told, reported by [`Negotiator::receive`],
/// [`Negotiator::time_out`] and [`Negotiator::connection_lost`].
///
/// Within one call the order is: the bytes to send, then the completions (in the order the
/// requests were made), then the state change. So an answer reaches the wire before
/// anything the application writes when told, and, as in Twisted (`will_no_true`,
/// `do_no_true`, `wont_yes_true`, `dont_yes_true` fire the request's Deferred before
/// calling enableRemote / enableLocal / disableRemote / disableLocal), a request's
/// completion comes before the state change it caused is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send these bytes (IAC verb option).
    Send([u8; 3]),
    /// The option side went from disabled to enabled (peer-initiated and accepted by the
    /// `accept` policy, or the peer agreeing to our request).
    Enabled {
        /// The option.
        opt: u8,
        /// Which side.
        side: Side,
    },
    /// The option side went from enabled to disabled (peer-initiated — always
    /// acknowledged — or the peer agreeing to our request).
    Disabled {
        /// The option.
        opt: u8,
        /// Which side.
        side: Side,
    },
    /// A request made with [`Negotiator::request`] has ended.
    Completed {
        /// The option.
        opt: u8,
        /// Which side.
        side: Side,
        /// What was requested: `true` to enable.
        enable: bool,
        /// How it ended.
        result: Completion,
    },
}

/// The RFC 1143 state of all 256 options, both sides.
///
/// Methods: [`Negotiator::new`], [`Negotiator::request`], [`Negotiator::receive`],
/// [`Negotiator::time_out`], [`Negotiator::connection_lost`], [`Negotiator::state`],
/// [`Negotiator::is_enabled`].
#[derive(Clone)]
pub struct Negotiator {
    states: [[OptionState; 2]; 256],
    /// Per option side: the request in flight has already completed with
    /// `TimedOut`; the side stays negotiating until the peer's answer comes.
    timed_out: [[bool; 2]; 256],
}

impl Default for Negotiator {
    /// Every option NO on both sides.
    fn default() -> Self {
        Negotiator::new()
    }
}

impl fmt::Debug for Negotiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (opt, sides) in self.states.iter().enumerate() {
            if sides.iter().any(|s| *s != OptionState::No) {
                m.entry(&opt, sides);
            }
        }
        m.finish()
    }
}

fn bytes(verb: u8, opt: u8) -> [u8; 3] {
    [IAC, verb, opt]
}

impl Negotiator {
    /// Every option NO on both sides.
    pub fn new() -> Self {
        Negotiator {
            states: [[OptionState::No; 2]; 256],
            timed_out: [[false; 2]; 256],
        }
    }

    /// The RFC 1143 state of one option side.
    pub fn state(&self, opt: u8, side: Side) -> OptionState {
        self.states[opt as usize][side.index()]
    }

    /// Whether one option side is in effect (see [`OptionState::is_enabled`]).
    pub fn is_enabled(&self, opt: u8, side: Side) -> bool {
        self.state(opt, side).is_enabled()
    }

    fn set(&mut self, opt: u8, side: Side, st: OptionState) {
        self.states[opt as usize][side.index()] = st;
    }

    /// Ask to enable (`enable = true`: WILL for `Local`, DO for `Remote`) or disable (WONT /
    /// DONT) one option side.
    ///
    /// The rule, by current state:
    ///
    /// | state            | enable                 | disable                |
    /// |------------------|------------------------|------------------------|
    /// | NO               | send, → WANTYES        | `AlreadyDisabled`      |
    /// | YES              | `AlreadyEnabled`       | send, → WANTNO         |
    /// | WANTNO           | `Queued`, → WANTNO+OPP | `AlreadyNegotiating`   |
    /// | WANTYES          | `AlreadyNegotiating`   | `Queued`, → WANTYES+OPP|
    /// | WANTNO+OPPOSITE  | `AlreadyNegotiating`   | `AlreadyNegotiating`   |
    /// | WANTYES+OPPOSITE | `AlreadyNegotiating`   | `AlreadyNegotiating`   |
    ///
    /// That is: a request in the same direction as the one in flight, or any third
    /// request, fails with `AlreadyNegotiating`; one request in the opposite direction is
    /// queued and sent when the first completes (RFC 1143 would let a third request cancel
    /// the queued one; we refuse it instead so that every accepted request completes
    /// with a meaningful result).
    pub fn request(
        &mut self,
        opt: u8,
        side: Side,
        enable: bool,
    ) -> Result<RequestOutcome, RequestError> {
        use OptionState::*;
        let st = self.state(opt, side);
        let (next, outcome) = match (st, enable) {
            (No, true) => (WantYes, RequestOutcome::Send(bytes(side.verb(true), opt))),
            (No, false) => return Err(RequestError::AlreadyDisabled),
            (Yes, true) => return Err(RequestError::AlreadyEnabled),
            (Yes, false) => (WantNo, RequestOutcome::Send(bytes(side.verb(false), opt))),
            (WantNo, true) => (WantNoOpposite, RequestOutcome::Queued),
            (WantYes, false) => (WantYesOpposite, RequestOutcome::Queued),
            _ => return Err(RequestError::AlreadyNegotiating),
        };
        self.set(opt, side, next);
        Ok(outcome)
    }

    /// Handle a negotiation received from the peer.
    ///
    /// `accept(side, opt)` is the protocol's policy for a peer asking to enable an option
    /// side that is NO (enable_local for a DO, enable_remote for a WILL); it is asked only
    /// then. Refusing answers WONT / DONT; accepting answers WILL / DO and reports
    /// [`Action::Enabled`]. A peer disabling an enabled side is always acknowledged and
    /// reported as [`Action::Disabled`]. Answers that merely confirm the current state are
    /// ignored, so two implementations never loop. Contradictory answers (the peer
    /// answering our DONT with WILL, say) follow RFC 1143 and never panic.
    pub fn receive<A, O>(&mut self, verb: Verb, opt: u8, accept: &mut A, out: &mut O)
    where
        A: FnMut(Side, u8) -> bool,
        O: FnMut(Action),
    {
        let (side, _) = verb.meaning();
        if !std::mem::take(&mut self.timed_out[opt as usize][side.index()]) {
            return self.answer(verb, opt, accept, out);
        }
        // This message resolves a request that already completed TimedOut:
        // its completion is not delivered twice (state changes still are).
        let in_flight = matches!(self.state(opt, side), OptionState::WantYes | OptionState::WantYesOpposite);
        let mut reported = false;
        self.answer(verb, opt, accept, &mut |a| match a {
            Action::Completed { enable, .. } if enable == in_flight && !reported => reported = true,
            a => out(a),
        });
    }

    /// The Q method proper (RFC 1143), for [`Negotiator::receive`].
    fn answer<A, O>(&mut self, verb: Verb, opt: u8, accept: &mut A, out: &mut O)
    where
        A: FnMut(Side, u8) -> bool,
        O: FnMut(Action),
    {
        use OptionState::*;
        let (side, positive) = verb.meaning();
        let st = self.state(opt, side);
        let send = |out: &mut O, enable: bool| out(Action::Send(bytes(side.verb(enable), opt)));
        let done = |out: &mut O, enable: bool, result: Completion| {
            out(Action::Completed {
                opt,
                side,
                enable,
                result,
            })
        };
        let enabled = |out: &mut O| out(Action::Enabled { opt, side });
        let disabled = |out: &mut O| out(Action::Disabled { opt, side });
        if positive {
            match st {
                No => {
                    if accept(side, opt) {
                        self.set(opt, side, Yes);
                        send(out, true);
                        enabled(out);
                    } else {
                        send(out, false);
                    }
                }
                Yes => {}
                // RFC 1143: "DONT answered by WILL", him=NO. Our demand to disable stands.
                WantNo => {
                    self.set(opt, side, No);
                    done(out, false, Completion::Ok);
                    disabled(out);
                }
                // RFC 1143: him=YES, queue emptied (the queued enable is satisfied).
                WantNoOpposite => {
                    self.set(opt, side, Yes);
                    done(out, false, Completion::Refused);
                    done(out, true, Completion::Ok);
                }
                WantYes => {
                    self.set(opt, side, Yes);
                    done(out, true, Completion::Ok);
                    enabled(out);
                }
                WantYesOpposite => {
                    self.set(opt, side, WantNo);
                    send(out, false);
                    done(out, true, Completion::Ok);
                    enabled(out);
                }
            }
        } else {
            match st {
                No => {}
                Yes => {
                    self.set(opt, side, No);
                    send(out, false);
                    disabled(out);
                }
                WantNo => {
                    self.set(opt, side, No);
                    done(out, false, Completion::Ok);
                    disabled(out);
                }
                WantNoOpposite => {
                    self.set(opt, side, WantYes);
                    send(out, true);
                    done(out, false, Completion::Ok);
                    disabled(out);
                }
                WantYes => {
                    self.set(opt, side, No);
                    done(out, true, Completion::Refused);
                }
                WantYesOpposite => {
                    self.set(opt, side, No);
                    done(out, true, Completion::Refused);
                    done(out, false, Completion::Ok);
                }
            }
        }
    }

    /// The transport's negotiation timer for `opt`/`side` fired: every request pending on
    /// that option side completes with [`Completion::TimedOut`] (the one in flight first,
    /// then the queued one, which is dropped). The side stays WANTYES / WANTNO until the
    /// peer answers the message in flight: its answer then changes the state as usual
    /// (with Enabled / Disabled notifications) but completes nothing, and new requests on
    /// that side follow the table in [`Negotiator::request`] meanwhile. Reverting the state
    /// instead would make the late answer look like a fresh request to acknowledge, and two
    /// peers with timeouts could then acknowledge each other for ever. Does nothing if
    /// nothing is pending.
    pub fn time_out<O: FnMut(Action)>(&mut self, opt: u8, side: Side, out: &mut O) {
        use OptionState::*;
        let (in_flight, still) = match self.state(opt, side) {
            No | Yes => return,
            WantNo | WantNoOpposite => (false, WantNo),
            WantYes | WantYesOpposite => (true, WantYes),
        };
        let queued = self.state(opt, side) != still;
        self.set(opt, side, still);
        if !std::mem::replace(&mut self.timed_out[opt as usize][side.index()], true) {
            out(Action::Completed { opt, side, enable: in_flight, result: Completion::TimedOut });
        }
        if queued {
            out(Action::Completed { opt, side, enable: !in_flight, result: Completion::TimedOut });
        }
    }

    /// The connection went: every pending request on every option completes with
    /// [`Completion::ConnectionLost`] (ascending option, Local before Remote, in-flight
    /// before queued), and each side goes back to its state before the request in flight.
    pub fn connection_lost<O: FnMut(Action)>(&mut self, out: &mut O) {
        for opt in 0..=255u8 {
            for side in [Side::Local, Side::Remote] {
                self.fail(opt, side, Completion::ConnectionLost, out);
            }
        }
    }

    fn fail<O: FnMut(Action)>(&mut self, opt: u8, side: Side, result: Completion, out: &mut O) {
        use OptionState::*;
        let (back, first, queued) = match self.state(opt, side) {
            No | Yes => return,
            WantNo => (Yes, false, false),
            WantNoOpposite => (Yes, false, true),
            WantYes => (No, true, false),
            WantYesOpposite => (No, true, true),
        };
        self.set(opt, side, back);
        if !std::mem::take(&mut self.timed_out[opt as usize][side.index()]) {
            out(Action::Completed {
                opt,
                side,
                enable: first,
                result,
            });
        }
        if queued {
            out(Action::Completed {
                opt,
                side,
                enable: !first,
                result,
            });
        }
    }
}
