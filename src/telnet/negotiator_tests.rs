//! Unit tests for the negotiator: Twisted's negotiation checklist, every RFC 1143
//! transition, and two negotiators wired together quiescing under random requests.

use super::*;
use crate::telnet::cmd::SB;
use std::collections::VecDeque;

use Action::{Completed, Disabled, Enabled, Send};
use Completion as C;
use OptionState as S;

const O: u8 = 0x12;

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

fn with_state(side: Side, st: OptionState) -> Negotiator {
    let mut n = Negotiator::new();
    n.set(O, side, st);
    n
}

#[test]
fn refuse_will_and_do_by_default() {
    let mut n = Negotiator::new();
    assert_eq!(recv(&mut n, Verb::Will, O, false), [Send([IAC, DONT, O])]);
    assert_eq!(recv(&mut n, Verb::Do, O, false), [Send([IAC, WONT, O])]);
    assert_eq!(n.state(O, Side::Remote), S::No);
    assert_eq!(n.state(O, Side::Local), S::No);
}

#[test]
fn accept_will_and_do() {
    let mut n = Negotiator::new();
    let mut asked = Vec::new();
    let mut out = Vec::new();
    n.receive(
        Verb::Do,
        O,
        &mut |s, o| {
            asked.push((s, o));
            true
        },
        &mut |a| out.push(a),
    );
    n.receive(
        Verb::Will,
        O,
        &mut |s, o| {
            asked.push((s, o));
            true
        },
        &mut |a| out.push(a),
    );
    assert_eq!(asked, [(Side::Local, O), (Side::Remote, O)]);
    assert_eq!(
        out,
        [
            Send([IAC, WILL, O]),
            Enabled {
                opt: O,
                side: Side::Local
            },
            Send([IAC, DO, O]),
            Enabled {
                opt: O,
                side: Side::Remote
            },
        ]
    );
    assert!(n.is_enabled(O, Side::Local) && n.is_enabled(O, Side::Remote));
}

#[test]
fn accept_wont_and_dont() {
    let mut n = Negotiator::new();
    n.set(O, Side::Remote, S::Yes);
    n.set(O, Side::Local, S::Yes);
    assert_eq!(
        recv(&mut n, Verb::Wont, O, false),
        [
            Send([IAC, DONT, O]),
            Disabled {
                opt: O,
                side: Side::Remote
            }
        ]
    );
    assert_eq!(
        recv(&mut n, Verb::Dont, O, false),
        [
            Send([IAC, WONT, O]),
            Disabled {
                opt: O,
                side: Side::Local
            }
        ]
    );
    assert_eq!(n.state(O, Side::Remote), S::No);
    assert_eq!(n.state(O, Side::Local), S::No);
}

#[test]
fn ignore_redundant_commands() {
    let mut n = Negotiator::new();
    n.set(0x12, Side::Local, S::Yes);
    n.set(0x13, Side::Remote, S::Yes);
    let mut out = Vec::new();
    let mut asked = 0;
    for (verb, opt) in [
        (Verb::Do, 0x12),
        (Verb::Will, 0x13),
        (Verb::Dont, 0x14),
        (Verb::Wont, 0x14),
        (Verb::Dont, 0x13),
        (Verb::Wont, 0x12),
    ] {
        n.receive(
            verb,
            opt,
            &mut |_, _| {
                asked += 1;
                true
            },
            &mut |a| out.push(a),
        );
    }
    assert_eq!(out, []);
    assert_eq!(asked, 0);
}

#[test]
fn enable_request_accepted_and_refused() {
    for side in [Side::Local, Side::Remote] {
        let (ask, yes, no) = match side {
            Side::Local => (WILL, Verb::Do, Verb::Dont),
            Side::Remote => (DO, Verb::Will, Verb::Wont),
        };
        let mut n = Negotiator::new();
        assert_eq!(
            n.request(O, side, true),
            Ok(RequestOutcome::Send([IAC, ask, O]))
        );
        assert_eq!(n.state(O, side), S::WantYes);
        assert!(!n.is_enabled(O, side));
        assert_eq!(
            recv(&mut n, yes, O, false),
            [Enabled { opt: O, side }, done(side, true, C::Ok)]
        );
        assert_eq!(n.state(O, side), S::Yes);

        let mut n = Negotiator::new();
        n.request(O, side, true).unwrap();
        assert_eq!(recv(&mut n, no, O, true), [done(side, true, C::Refused)]);
        assert_eq!(n.state(O, side), S::No);
        // The refusal is not answered, and a repeat is ignored.
        assert_eq!(recv(&mut n, no, O, true), []);
    }
}

#[test]
fn disable_request_accepted() {
    for side in [Side::Local, Side::Remote] {
        let (ask, no) = match side {
            Side::Local => (WONT, Verb::Dont),
            Side::Remote => (DONT, Verb::Wont),
        };
        let mut n = with_state(side, S::Yes);
        assert_eq!(
            n.request(O, side, false),
            Ok(RequestOutcome::Send([IAC, ask, O]))
        );
        assert!(n.is_enabled(O, side), "WANTNO still counts as enabled");
        assert_eq!(
            recv(&mut n, no, O, false),
            [Disabled { opt: O, side }, done(side, false, C::Ok)]
        );
        assert_eq!(n.state(O, side), S::No);
    }
}

#[test]
fn superfluous_enable_and_disable() {
    let mut n = Negotiator::new();
    for side in [Side::Local, Side::Remote] {
        assert_eq!(
            n.request(O, side, false),
            Err(RequestError::AlreadyDisabled)
        );
        n.set(O, side, S::Yes);
        assert_eq!(n.request(O, side, true), Err(RequestError::AlreadyEnabled));
    }
    assert_eq!(
        RequestError::AlreadyEnabled.to_string(),
        "option already enabled"
    );
}

#[test]
fn negotiation_queueing_and_blocking() {
    // Twisted's test_negotiationBlocksFurtherNegotiation, with RFC 1143's queue: the
    // second (opposite) request is queued, the third fails.
    let mut n = with_state(Side::Remote, S::Yes);
    assert_eq!(
        n.request(O, Side::Remote, false),
        Ok(RequestOutcome::Send([IAC, DONT, O]))
    );
    assert_eq!(n.request(O, Side::Remote, true), Ok(RequestOutcome::Queued));
    assert_eq!(n.state(O, Side::Remote), S::WantNoOpposite);
    assert_eq!(
        n.request(O, Side::Remote, false),
        Err(RequestError::AlreadyNegotiating)
    );
    assert_eq!(
        n.request(O, Side::Remote, true),
        Err(RequestError::AlreadyNegotiating)
    );
    // The other side is independent.
    assert!(n.request(O, Side::Local, true).is_ok());
    assert_eq!(
        recv(&mut n, Verb::Wont, O, false),
        [
            Send([IAC, DO, O]),
            Disabled {
                opt: O,
                side: Side::Remote
            },
            done(Side::Remote, false, C::Ok)
        ]
    );
    assert_eq!(n.state(O, Side::Remote), S::WantYes);
    assert_eq!(
        recv(&mut n, Verb::Will, O, false),
        [
            Enabled {
                opt: O,
                side: Side::Remote
            },
            done(Side::Remote, true, C::Ok)
        ]
    );
    assert_eq!(n.state(O, Side::Remote), S::Yes);

    // Same direction as the one in flight: refused, not queued.
    let mut n = Negotiator::new();
    n.request(O, Side::Local, true).unwrap();
    assert_eq!(
        n.request(O, Side::Local, true),
        Err(RequestError::AlreadyNegotiating)
    );
    assert_eq!(n.request(O, Side::Local, false), Ok(RequestOutcome::Queued));
    assert_eq!(
        n.request(O, Side::Local, true),
        Err(RequestError::AlreadyNegotiating)
    );
    assert_eq!(
        n.request(O, Side::Local, false),
        Err(RequestError::AlreadyNegotiating)
    );
    assert_eq!(
        recv(&mut n, Verb::Do, O, false),
        [
            Send([IAC, WONT, O]),
            Enabled {
                opt: O,
                side: Side::Local
            },
            done(Side::Local, true, C::Ok)
        ]
    );
    assert_eq!(n.state(O, Side::Local), S::WantNo);
    assert_eq!(
        recv(&mut n, Verb::Dont, O, false),
        [
            Disabled {
                opt: O,
                side: Side::Local
            },
            done(Side::Local, false, C::Ok)
        ]
    );
}

#[test]
fn every_transition_of_rfc1143() {
    // (state, positive answer?, expected next state, expected actions) for the Remote side;
    // the Local side is checked with the mirrored verbs.
    let sides = [
        (Side::Remote, Verb::Will, Verb::Wont, DO, DONT),
        (Side::Local, Verb::Do, Verb::Dont, WILL, WONT),
    ];
    for (side, pos, neg, yes, no) in sides {
        let en = Enabled { opt: O, side };
        let dis = Disabled { opt: O, side };
        let cases: Vec<(S, Verb, S, Vec<Action>)> = vec![
            (S::No, pos, S::No, vec![Send([IAC, no, O])]),
            (S::No, neg, S::No, vec![]),
            (S::Yes, pos, S::Yes, vec![]),
            (S::Yes, neg, S::No, vec![Send([IAC, no, O]), dis]),
            (S::WantNo, pos, S::No, vec![dis, done(side, false, C::Ok)]),
            (S::WantNo, neg, S::No, vec![dis, done(side, false, C::Ok)]),
            (
                S::WantNoOpposite,
                pos,
                S::Yes,
                vec![done(side, false, C::Refused), done(side, true, C::Ok)],
            ),
            (
                S::WantNoOpposite,
                neg,
                S::WantYes,
                vec![Send([IAC, yes, O]), dis, done(side, false, C::Ok)],
            ),
            (S::WantYes, pos, S::Yes, vec![en, done(side, true, C::Ok)]),
            (S::WantYes, neg, S::No, vec![done(side, true, C::Refused)]),
            (
                S::WantYesOpposite,
                pos,
                S::WantNo,
                vec![Send([IAC, no, O]), en, done(side, true, C::Ok)],
            ),
            (
                S::WantYesOpposite,
                neg,
                S::No,
                vec![done(side, true, C::Refused), done(side, false, C::Ok)],
            ),
        ];
        for (st, verb, next, actions) in cases {
            let mut n = with_state(side, st);
            assert_eq!(
                recv(&mut n, verb, O, false),
                actions,
                "{side:?} {st:?} {verb:?}"
            );
            assert_eq!(n.state(O, side), next, "{side:?} {st:?} {verb:?}");
            let other = match side {
                Side::Local => Side::Remote,
                Side::Remote => Side::Local,
            };
            assert_eq!(n.state(O, other), S::No);
        }
    }
}

#[test]
fn lost_connection_fails_every_pending_request() {
    let mut n = Negotiator::new();
    n.request(1, Side::Local, true).unwrap();
    n.request(1, Side::Remote, true).unwrap();
    n.request(1, Side::Remote, false).unwrap();
    n.set(7, Side::Local, S::Yes);
    n.request(7, Side::Local, false).unwrap();
    n.request(7, Side::Local, true).unwrap();
    n.set(9, Side::Remote, S::Yes);
    let mut out = Vec::new();
    n.connection_lost(&mut |a| out.push(a));
    let lost = |opt, side, enable| Completed {
        opt,
        side,
        enable,
        result: C::ConnectionLost,
    };
    assert_eq!(
        out,
        [
            lost(1, Side::Local, true),
            lost(1, Side::Remote, true),
            lost(1, Side::Remote, false),
            lost(7, Side::Local, false),
            lost(7, Side::Local, true),
        ]
    );
    assert_eq!(n.state(1, Side::Local), S::No);
    assert_eq!(n.state(7, Side::Local), S::Yes);
    assert_eq!(n.state(9, Side::Remote), S::Yes);
    out.clear();
    n.connection_lost(&mut |a| out.push(a));
    assert_eq!(out, [], "completions fire once");
}

#[test]
fn time_out_fails_pending_requests_and_late_answers_are_handled() {
    let mut n = Negotiator::new();
    n.request(O, Side::Remote, true).unwrap();
    n.request(O, Side::Remote, false).unwrap();
    let mut out = Vec::new();
    n.time_out(O, Side::Local, &mut |a| out.push(a));
    assert_eq!(out, []);
    n.time_out(O, Side::Remote, &mut |a| out.push(a));
    assert_eq!(
        out,
        [
            done(Side::Remote, true, C::TimedOut),
            done(Side::Remote, false, C::TimedOut)
        ]
    );
    assert_eq!(n.state(O, Side::Remote), S::No);
    // A late WILL is now a fresh offer, put to the policy.
    assert_eq!(recv(&mut n, Verb::Will, O, false), [Send([IAC, DONT, O])]);
}

#[test]
fn verb_bytes_round_trip() {
    for v in [Verb::Will, Verb::Wont, Verb::Do, Verb::Dont] {
        assert_eq!(Verb::from_byte(v.to_byte()), Some(v));
    }
    assert_eq!(Verb::from_byte(SB), None);
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One end of a simulated connection.
struct Peer {
    neg: Negotiator,
    /// Requests accepted and not yet completed: (opt, side, enable).
    pending: Vec<(u8, Side, bool)>,
    completions: usize,
}

impl Peer {
    fn apply(&mut self, actions: Vec<Action>, wire: &mut VecDeque<[u8; 3]>) {
        for a in actions {
            match a {
                Send(b) => wire.push_back(b),
                Completed {
                    opt, side, enable, ..
                } => {
                    let i = self
                        .pending
                        .iter()
                        .position(|&p| p == (opt, side, enable))
                        .unwrap_or_else(|| panic!("completion without request: {a:?}"));
                    self.pending.remove(i);
                    self.completions += 1;
                }
                Enabled { .. } | Disabled { .. } => {}
            }
        }
    }
}

/// Two negotiators wired to each other, random requests, random accept policies, random
/// delivery interleaving and occasional timeouts: once requests stop, the wires drain in
/// bounded rounds, every request has completed exactly once, and both ends agree.
pub(super) fn two_peers_quiesce(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut policy_rng = Rng(seed ^ 0xdead_beef);
    let mut peers = [
        Peer {
            neg: Negotiator::new(),
            pending: Vec::new(),
            completions: 0,
        },
        Peer {
            neg: Negotiator::new(),
            pending: Vec::new(),
            completions: 0,
        },
    ];
    // wires[i] carries what peer i sent.
    let mut wires = [VecDeque::new(), VecDeque::new()];
    let mut requests = 0;
    let deliver = |peers: &mut [Peer; 2],
                   wires: &mut [VecDeque<[u8; 3]>; 2],
                   to: usize,
                   policy_rng: &mut Rng| {
        let msg = wires[1 - to].pop_front().unwrap();
        assert_eq!(msg[0], IAC);
        let verb = Verb::from_byte(msg[1]).expect("a negotiation verb");
        let mut out = Vec::new();
        peers[to].neg.receive(
            verb,
            msg[2],
            &mut |_, _| policy_rng.below(2) == 0,
            &mut |a| out.push(a),
        );
        peers[to].apply(out, &mut wires[to]);
    };
    for _ in 0..steps {
        let who = rng.below(2) as usize;
        match rng.below(10) {
            0..=3 => {
                let opt = rng.below(3) as u8;
                let side = if rng.below(2) == 0 {
                    Side::Local
                } else {
                    Side::Remote
                };
                let enable = rng.below(2) == 0;
                let p = &mut peers[who];
                if let Ok(outcome) = p.neg.request(opt, side, enable) {
                    requests += 1;
                    p.pending.push((opt, side, enable));
                    if let RequestOutcome::Send(b) = outcome {
                        wires[who].push_back(b);
                    }
                }
            }
            4 => {
                let opt = rng.below(3) as u8;
                let side = if rng.below(2) == 0 {
                    Side::Local
                } else {
                    Side::Remote
                };
                let mut out = Vec::new();
                peers[who].neg.time_out(opt, side, &mut |a| out.push(a));
                peers[who].apply(out, &mut wires[who]);
            }
            _ => {
                if !wires[1 - who].is_empty() {
                    deliver(&mut peers, &mut wires, who, &mut policy_rng);
                }
            }
        }
    }
    let mut rounds = 0;
    let limit = 4 * (wires[0].len() + wires[1].len()) + 32;
    while !wires[0].is_empty() || !wires[1].is_empty() {
        rounds += 1;
        assert!(rounds <= limit, "negotiation did not quiesce (seed {seed})");
        let to = if wires[1].is_empty() {
            1
        } else if wires[0].is_empty() {
            0
        } else {
            rng.below(2) as usize
        };
        deliver(&mut peers, &mut wires, to, &mut policy_rng);
    }
    for (i, p) in peers.iter().enumerate() {
        assert!(
            p.pending.is_empty(),
            "peer {i} has uncompleted requests {:?} (seed {seed})",
            p.pending
        );
    }
    assert_eq!(peers[0].completions + peers[1].completions, requests);
    for opt in 0..3u8 {
        for (a, b) in [(0, 1), (1, 0)] {
            let local = peers[a].neg.state(opt, Side::Local);
            let remote = peers[b].neg.state(opt, Side::Remote);
            assert!(
                !local.is_negotiating() && !remote.is_negotiating(),
                "seed {seed}"
            );
            assert_eq!(
                local, remote,
                "opt {opt}: peer {a} local vs peer {b} remote (seed {seed})"
            );
        }
    }
}

#[test]
fn two_negotiators_always_quiesce() {
    for seed in 1..300u64 {
        two_peers_quiesce(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, 400);
    }
}
