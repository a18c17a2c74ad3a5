//! The RFC 1143 negotiator through the public API: Twisted's negotiation checklist
//! (SEMANTICS §4) with exact bytes and exact action order, and two negotiators wired to
//! each other under random requests always quiescing.

use std::collections::VecDeque;

use marline::telnet::cmd::{DO, DONT, IAC, WILL, WONT};
use marline::telnet::negotiator::{
    Action, Completion, Negotiator, OptionState, RequestError, RequestOutcome, Side, Verb,
};

use Action::{Completed, Disabled, Enabled, Send};

const O: u8 = b'$';

fn recv(n: &mut Negotiator, verb: Verb, opt: u8, policy: bool) -> Vec<Action> {
    let mut out = Vec::new();
    n.receive(verb, opt, &mut |_, _| policy, &mut |a| out.push(a));
    out
}

fn done(side: Side, enable: bool, result: Completion) -> Action {
    Completed {
        opt: O,
        side,
        enable,
        result,
    }
}

/// A negotiator with `O` enabled on `side`, reached through the public API.
fn enabled(side: Side) -> Negotiator {
    let mut n = Negotiator::new();
    let verb = if side == Side::Local {
        Verb::Do
    } else {
        Verb::Will
    };
    recv(&mut n, verb, O, true);
    assert_eq!(n.state(O, side), OptionState::Yes);
    n
}

#[test]
fn refuse_will_and_do() {
    let mut n = Negotiator::new();
    assert_eq!(recv(&mut n, Verb::Will, O, false), [Send([IAC, DONT, O])]);
    assert_eq!(recv(&mut n, Verb::Do, O, false), [Send([IAC, WONT, O])]);
}

#[test]
fn accept_will_and_do() {
    let mut n = Negotiator::new();
    assert_eq!(
        recv(&mut n, Verb::Will, O, true),
        [
            Send([IAC, DO, O]),
            Enabled {
                opt: O,
                side: Side::Remote
            }
        ]
    );
    assert_eq!(
        recv(&mut n, Verb::Do, O, true),
        [
            Send([IAC, WILL, O]),
            Enabled {
                opt: O,
                side: Side::Local
            }
        ]
    );
}

#[test]
fn accept_wont_and_dont() {
    let mut n = enabled(Side::Remote);
    assert_eq!(
        recv(&mut n, Verb::Wont, O, true),
        [
            Send([IAC, DONT, O]),
            Disabled {
                opt: O,
                side: Side::Remote
            }
        ]
    );
    let mut n = enabled(Side::Local);
    assert_eq!(
        recv(&mut n, Verb::Dont, O, true),
        [
            Send([IAC, WONT, O]),
            Disabled {
                opt: O,
                side: Side::Local
            }
        ]
    );
}

#[test]
fn ignore_redundant_commands() {
    let mut n = enabled(Side::Local);
    recv(&mut n, Verb::Will, O, true);
    assert_eq!(recv(&mut n, Verb::Do, O, true), []);
    assert_eq!(recv(&mut n, Verb::Will, O, true), []);
    assert_eq!(recv(&mut n, Verb::Dont, 7, true), []);
    assert_eq!(recv(&mut n, Verb::Wont, 7, true), []);
}

#[test]
fn enable_request_accepted_and_refused() {
    let mut n = Negotiator::new();
    assert_eq!(
        n.request(O, Side::Remote, true),
        Ok(RequestOutcome::Send([IAC, DO, O]))
    );
    assert_eq!(
        recv(&mut n, Verb::Will, O, false),
        [
            Enabled {
                opt: O,
                side: Side::Remote
            },
            done(Side::Remote, true, Completion::Ok)
        ]
    );
    let mut n = Negotiator::new();
    n.request(O, Side::Remote, true).unwrap();
    assert_eq!(
        recv(&mut n, Verb::Wont, O, true),
        [done(Side::Remote, true, Completion::Refused)]
    );
}

#[test]
fn enable_offer_accepted_and_refused() {
    let mut n = Negotiator::new();
    assert_eq!(
        n.request(O, Side::Local, true),
        Ok(RequestOutcome::Send([IAC, WILL, O]))
    );
    assert_eq!(
        recv(&mut n, Verb::Do, O, false),
        [
            Enabled {
                opt: O,
                side: Side::Local
            },
            done(Side::Local, true, Completion::Ok)
        ]
    );
    let mut n = Negotiator::new();
    n.request(O, Side::Local, true).unwrap();
    assert_eq!(
        recv(&mut n, Verb::Dont, O, true),
        [done(Side::Local, true, Completion::Refused)]
    );
    assert_eq!(n.state(O, Side::Local), OptionState::No);
}

#[test]
fn disable_request_accepted() {
    let mut n = enabled(Side::Local);
    assert_eq!(
        n.request(O, Side::Local, false),
        Ok(RequestOutcome::Send([IAC, WONT, O]))
    );
    assert_eq!(
        recv(&mut n, Verb::Dont, O, true),
        [
            Disabled {
                opt: O,
                side: Side::Local
            },
            done(Side::Local, false, Completion::Ok)
        ]
    );
}

#[test]
fn superfluous_enable_and_disable() {
    let mut n = Negotiator::new();
    assert_eq!(
        n.request(O, Side::Local, false),
        Err(RequestError::AlreadyDisabled)
    );
    assert_eq!(
        n.request(O, Side::Remote, false),
        Err(RequestError::AlreadyDisabled)
    );
    let mut n = enabled(Side::Remote);
    assert_eq!(
        n.request(O, Side::Remote, true),
        Err(RequestError::AlreadyEnabled)
    );
}

#[test]
fn negotiation_blocks_further_negotiation() {
    let mut n = enabled(Side::Remote);
    assert_eq!(
        n.request(O, Side::Remote, false),
        Ok(RequestOutcome::Send([IAC, DONT, O]))
    );
    assert_eq!(n.request(O, Side::Remote, true), Ok(RequestOutcome::Queued));
    assert_eq!(
        n.request(O, Side::Remote, false),
        Err(RequestError::AlreadyNegotiating)
    );
    assert_eq!(
        n.request(O, Side::Remote, true),
        Err(RequestError::AlreadyNegotiating)
    );
    assert_eq!(
        recv(&mut n, Verb::Wont, O, false),
        [
            Send([IAC, DO, O]),
            Disabled {
                opt: O,
                side: Side::Remote
            },
            done(Side::Remote, false, Completion::Ok)
        ]
    );
    assert_eq!(
        recv(&mut n, Verb::Will, O, false),
        [
            Enabled {
                opt: O,
                side: Side::Remote
            },
            done(Side::Remote, true, Completion::Ok)
        ]
    );
    let mut n = Negotiator::new();
    n.request(O, Side::Local, true).unwrap();
    assert_eq!(
        n.request(O, Side::Local, true),
        Err(RequestError::AlreadyNegotiating)
    );
}

#[test]
fn contradictory_answers_do_not_panic() {
    // Our DONT answered by WILL (RFC 1143: the DONT stands).
    let mut n = enabled(Side::Remote);
    n.request(O, Side::Remote, false).unwrap();
    assert_eq!(
        recv(&mut n, Verb::Will, O, true),
        [
            Disabled {
                opt: O,
                side: Side::Remote
            },
            done(Side::Remote, false, Completion::Ok)
        ]
    );
    // ... and with an enable queued behind it.
    let mut n = enabled(Side::Remote);
    n.request(O, Side::Remote, false).unwrap();
    n.request(O, Side::Remote, true).unwrap();
    assert_eq!(
        recv(&mut n, Verb::Will, O, true),
        [
            done(Side::Remote, false, Completion::Refused),
            done(Side::Remote, true, Completion::Ok)
        ]
    );
    assert_eq!(n.state(O, Side::Remote), OptionState::Yes);
}

#[test]
fn lost_connection_fails_every_pending_request() {
    let mut n = Negotiator::new();
    n.request(1, Side::Local, true).unwrap();
    n.request(1, Side::Local, false).unwrap();
    n.request(3, Side::Remote, true).unwrap();
    let mut out = Vec::new();
    n.connection_lost(&mut |a| out.push(a));
    let lost = |opt, side, enable| Completed {
        opt,
        side,
        enable,
        result: Completion::ConnectionLost,
    };
    assert_eq!(
        out,
        [
            lost(1, Side::Local, true),
            lost(1, Side::Local, false),
            lost(3, Side::Remote, true)
        ]
    );
    out.clear();
    n.connection_lost(&mut |a| out.push(a));
    assert_eq!(out, []);
}

#[test]
fn time_out_fails_the_pending_request() {
    let mut n = Negotiator::new();
    n.request(O, Side::Local, true).unwrap();
    let mut out = Vec::new();
    n.time_out(O, Side::Local, &mut |a| out.push(a));
    assert_eq!(out, [done(Side::Local, true, Completion::TimedOut)]);
    assert_eq!(n.state(O, Side::Local), OptionState::No);
    out.clear();
    n.time_out(O, Side::Local, &mut |a| out.push(a));
    assert_eq!(out, []);
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn two_negotiators_wired_together_quiesce() {
    for seed in 1..200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut negs = [Negotiator::new(), Negotiator::new()];
        let mut pending: [Vec<(u8, Side, bool)>; 2] = [Vec::new(), Vec::new()];
        let mut wires: [VecDeque<[u8; 3]>; 2] = [VecDeque::new(), VecDeque::new()];
        let mut policy = Rng(seed);
        let mut step = |negs: &mut [Negotiator; 2],
                        pending: &mut [Vec<(u8, Side, bool)>; 2],
                        wires: &mut [VecDeque<[u8; 3]>; 2],
                        to: usize| {
            let [iac, verb, opt] = wires[1 - to].pop_front().unwrap();
            assert_eq!(iac, IAC);
            let mut out = Vec::new();
            negs[to].receive(
                Verb::from_byte(verb).unwrap(),
                opt,
                &mut |_, _| policy.below(3) != 0,
                &mut |a| out.push(a),
            );
            for a in out {
                match a {
                    Send(b) => wires[to].push_back(b),
                    Completed {
                        opt, side, enable, ..
                    } => {
                        let i = pending[to]
                            .iter()
                            .position(|&p| p == (opt, side, enable))
                            .expect("completion matches a pending request");
                        pending[to].remove(i);
                    }
                    _ => {}
                }
            }
        };
        for _ in 0..300 {
            let who = rng.below(2) as usize;
            if rng.below(3) == 0 {
                let (opt, side, enable) = (
                    rng.below(4) as u8,
                    if rng.below(2) == 0 {
                        Side::Local
                    } else {
                        Side::Remote
                    },
                    rng.below(2) == 0,
                );
                if let Ok(outcome) = negs[who].request(opt, side, enable) {
                    pending[who].push((opt, side, enable));
                    if let RequestOutcome::Send(b) = outcome {
                        wires[who].push_back(b);
                    }
                }
            } else if !wires[1 - who].is_empty() {
                step(&mut negs, &mut pending, &mut wires, who);
            }
        }
        let limit = 4 * (wires[0].len() + wires[1].len()) + 32;
        let mut rounds = 0;
        while let Some(to) = (0..2).find(|&to| !wires[1 - to].is_empty()) {
            rounds += 1;
            assert!(rounds <= limit, "seed {seed}: no quiescence");
            step(&mut negs, &mut pending, &mut wires, to);
        }
        assert!(
            pending[0].is_empty() && pending[1].is_empty(),
            "seed {seed}: {pending:?}"
        );
        for opt in 0..4u8 {
            assert_eq!(
                negs[0].state(opt, Side::Local),
                negs[1].state(opt, Side::Remote),
                "seed {seed}"
            );
            assert_eq!(
                negs[0].state(opt, Side::Remote),
                negs[1].state(opt, Side::Local),
                "seed {seed}"
            );
        }
    }
}
