//! The RFC 1143 negotiator through the public API: Twisted's negotiation checklist
//! (SEMANTICS §4) with exact bytes and exact action order, every RFC 1143 transition (each
//! state reached through requests and answers, not set directly), and two negotiators wired
//! to each other under random requests always quiescing.

#[path = "telnet_common/rng.rs"]
mod rng;

use std::collections::VecDeque;

use marline::telnet::cmd::{DO, DONT, IAC, SB, WILL, WONT};
use marline::telnet::negotiator::{
    Action, Completion, Negotiator, OptionState, RequestError, RequestOutcome, Side, Verb,
};
use rng::Rng;

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

/// The verbs for `side`: (peer enables, peer disables, we ask to enable, we ask to disable).
fn verbs(side: Side) -> (Verb, Verb, u8, u8) {
    match side {
        Side::Local => (Verb::Do, Verb::Dont, WILL, WONT),
        Side::Remote => (Verb::Will, Verb::Wont, DO, DONT),
    }
}

/// Bring `opt`/`side` of `n` (which must be NO) to `st` through the public API: the peer's
/// offer accepted for YES, then our own requests for the WANT states.
fn put(n: &mut Negotiator, opt: u8, side: Side, st: OptionState) {
    assert_eq!(n.state(opt, side), S::No);
    let requests: &[bool] = match st {
        S::No | S::Yes => &[],
        S::WantNo => &[false],
        S::WantNoOpposite => &[false, true],
        S::WantYes => &[true],
        S::WantYesOpposite => &[true, false],
    };
    if st.is_enabled() {
        recv(n, verbs(side).0, opt, true);
    }
    for &enable in requests {
        n.request(opt, side, enable).unwrap();
    }
    assert_eq!(n.state(opt, side), st);
}

fn with_state(side: Side, st: OptionState) -> Negotiator {
    let mut n = Negotiator::new();
    put(&mut n, O, side, st);
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
    for order in [[Side::Local, Side::Remote], [Side::Remote, Side::Local]] {
        let mut n = Negotiator::new();
        for side in order {
            let (offer, _, answer, _) = verbs(side);
            let mut asked = Vec::new();
            let mut out = Vec::new();
            n.receive(
                offer,
                O,
                &mut |s, o| {
                    asked.push((s, o));
                    true
                },
                &mut |a| out.push(a),
            );
            assert_eq!(asked, [(side, O)], "the policy is asked once, for {side:?}");
            assert_eq!(out, [Send([IAC, answer, O]), Enabled { opt: O, side }]);
        }
        assert!(n.is_enabled(O, Side::Local) && n.is_enabled(O, Side::Remote));
    }
}

#[test]
fn accept_wont_and_dont() {
    for policy in [false, true] {
        let mut n = Negotiator::new();
        put(&mut n, O, Side::Remote, S::Yes);
        put(&mut n, O, Side::Local, S::Yes);
        for side in [Side::Remote, Side::Local] {
            let (_, off, _, no) = verbs(side);
            assert_eq!(
                recv(&mut n, off, O, policy),
                [Send([IAC, no, O]), Disabled { opt: O, side }]
            );
        }
        assert_eq!(n.state(O, Side::Remote), S::No);
        assert_eq!(n.state(O, Side::Local), S::No);
    }
}

#[test]
fn ignore_redundant_commands() {
    let mut n = Negotiator::new();
    put(&mut n, 0x12, Side::Local, S::Yes);
    put(&mut n, 0x13, Side::Remote, S::Yes);
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
        let (yes, no, ask, _) = verbs(side);
        let mut n = Negotiator::new();
        assert_eq!(
            n.request(O, side, true),
            Ok(RequestOutcome::Send([IAC, ask, O]))
        );
        assert_eq!(n.state(O, side), S::WantYes);
        assert!(!n.is_enabled(O, side));
        // The completion first, then the state change: Twisted's will_no_true / do_no_true
        // fire the Deferred, then call enableRemote / enableLocal.
        assert_eq!(
            recv(&mut n, yes, O, false),
            [done(side, true, C::Ok), Enabled { opt: O, side }]
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
        let (_, no, _, ask) = verbs(side);
        let mut n = with_state(side, S::Yes);
        assert_eq!(
            n.request(O, side, false),
            Ok(RequestOutcome::Send([IAC, ask, O]))
        );
        assert!(n.is_enabled(O, side), "WANTNO still counts as enabled");
        assert_eq!(
            recv(&mut n, no, O, false),
            [done(side, false, C::Ok), Disabled { opt: O, side }]
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
        put(&mut n, O, side, S::Yes);
        assert_eq!(n.request(O, side, true), Err(RequestError::AlreadyEnabled));
    }
    assert_eq!(
        RequestError::AlreadyEnabled.to_string(),
        "option already enabled"
    );
}

#[test]
fn negotiation_queueing_and_blocking() {
    // Twisted's test_negotiationBlocksFurtherNegotiation, with RFC 1143's queue: a second
    // request in the same direction as the one in flight fails, one in the opposite
    // direction is queued, a third fails; the queued one goes out when the first completes.
    // Both sides, a disable first (from YES) and an enable first (from NO).
    for side in [Side::Remote, Side::Local] {
        let (pos, neg, yes, no) = verbs(side);
        let ask = |enable: bool| if enable { yes } else { no };
        let answer = |enable: bool| if enable { pos } else { neg };
        let changed = |enable: bool| {
            if enable {
                Enabled { opt: O, side }
            } else {
                Disabled { opt: O, side }
            }
        };
        let other = match side {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        };
        for first in [false, true] {
            let what = format!("{side:?}, enable {first} first");
            let mut n = with_state(side, if first { S::No } else { S::Yes });
            assert_eq!(
                n.request(O, side, first),
                Ok(RequestOutcome::Send([IAC, ask(first), O])),
                "{what}"
            );
            assert_eq!(
                n.request(O, side, first),
                Err(RequestError::AlreadyNegotiating),
                "{what}: same direction, refused, not queued"
            );
            assert_eq!(
                n.request(O, side, !first),
                Ok(RequestOutcome::Queued),
                "{what}"
            );
            let queued = if first {
                S::WantYesOpposite
            } else {
                S::WantNoOpposite
            };
            assert_eq!(n.state(O, side), queued, "{what}");
            for enable in [first, !first] {
                assert_eq!(
                    n.request(O, side, enable),
                    Err(RequestError::AlreadyNegotiating),
                    "{what}: a third request"
                );
            }
            // The other side is independent.
            assert!(n.request(O, other, true).is_ok(), "{what}");
            assert_eq!(
                recv(&mut n, answer(first), O, false),
                [
                    Send([IAC, ask(!first), O]),
                    done(side, first, C::Ok),
                    changed(first)
                ],
                "{what}"
            );
            let sent = if first { S::WantNo } else { S::WantYes };
            assert_eq!(n.state(O, side), sent, "{what}");
            assert_eq!(
                recv(&mut n, answer(!first), O, false),
                [done(side, !first, C::Ok), changed(!first)],
                "{what}"
            );
            let end = if first { S::No } else { S::Yes };
            assert_eq!(n.state(O, side), end, "{what}");
        }
    }
}

#[test]
fn every_transition_of_rfc1143() {
    // (state, peer's verb, expected next state, expected actions), both sides with their
    // verbs, under a refusing and an accepting policy (asked only for an offer in NO).
    for side in [Side::Remote, Side::Local] {
        let (pos, neg, yes, no) = verbs(side);
        let en = Enabled { opt: O, side };
        let dis = Disabled { opt: O, side };
        for policy in [false, true] {
            let offer = if policy {
                (S::Yes, vec![Send([IAC, yes, O]), en])
            } else {
                (S::No, vec![Send([IAC, no, O])])
            };
            let cases: Vec<(S, Verb, S, Vec<Action>)> = vec![
                (S::No, pos, offer.0, offer.1),
                (S::No, neg, S::No, vec![]),
                (S::Yes, pos, S::Yes, vec![]),
                (S::Yes, neg, S::No, vec![Send([IAC, no, O]), dis]),
                // Contradictory: our disable answered by an enable; the disable stands.
                (S::WantNo, pos, S::No, vec![done(side, false, C::Ok), dis]),
                (S::WantNo, neg, S::No, vec![done(side, false, C::Ok), dis]),
                // ... and with an enable queued behind it, which that answer satisfies.
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
                    vec![Send([IAC, yes, O]), done(side, false, C::Ok), dis],
                ),
                (S::WantYes, pos, S::Yes, vec![done(side, true, C::Ok), en]),
                (S::WantYes, neg, S::No, vec![done(side, true, C::Refused)]),
                (
                    S::WantYesOpposite,
                    pos,
                    S::WantNo,
                    vec![Send([IAC, no, O]), done(side, true, C::Ok), en],
                ),
                (
                    S::WantYesOpposite,
                    neg,
                    S::No,
                    vec![done(side, true, C::Refused), done(side, false, C::Ok)],
                ),
            ];
            for (st, verb, next, actions) in cases {
                let what = format!("{side:?} {st:?} {verb:?} policy {policy}");
                let mut n = with_state(side, st);
                assert_eq!(recv(&mut n, verb, O, policy), actions, "{what}");
                assert_eq!(n.state(O, side), next, "{what}");
                let other = match side {
                    Side::Local => Side::Remote,
                    Side::Remote => Side::Local,
                };
                assert_eq!(n.state(O, other), S::No, "{what}");
            }
        }
    }
}

#[test]
fn lost_connection_fails_every_pending_request() {
    let lost = |opt, side, enable| Completed {
        opt,
        side,
        enable,
        result: C::ConnectionLost,
    };
    // (states to set up, the completions in order, states afterwards)
    let scenarios = [
        (
            vec![
                (1, Side::Local, S::WantYes),
                (1, Side::Remote, S::WantYesOpposite),
                (7, Side::Local, S::WantNoOpposite),
                (9, Side::Remote, S::Yes),
            ],
            vec![
                lost(1, Side::Local, true),
                lost(1, Side::Remote, true),
                lost(1, Side::Remote, false),
                lost(7, Side::Local, false),
                lost(7, Side::Local, true),
            ],
            vec![
                (1, Side::Local, S::No),
                (7, Side::Local, S::Yes),
                (9, Side::Remote, S::Yes),
            ],
        ),
        (
            vec![
                (1, Side::Local, S::WantYesOpposite),
                (3, Side::Remote, S::WantYes),
            ],
            vec![
                lost(1, Side::Local, true),
                lost(1, Side::Local, false),
                lost(3, Side::Remote, true),
            ],
            vec![],
        ),
    ];
    for (setup, want, after) in scenarios {
        let mut n = Negotiator::new();
        for (opt, side, st) in setup {
            put(&mut n, opt, side, st);
        }
        let mut out = Vec::new();
        n.connection_lost(&mut |a| out.push(a));
        assert_eq!(out, want);
        for (opt, side, st) in after {
            assert_eq!(n.state(opt, side), st, "{opt} {side:?}");
        }
        out.clear();
        n.connection_lost(&mut |a| out.push(a));
        assert_eq!(out, [], "completions fire once");
    }
}

#[test]
fn time_out_fails_pending_requests_and_late_answers_are_handled() {
    let mut n = Negotiator::new();
    n.request(O, Side::Local, true).unwrap();
    let mut out = Vec::new();
    n.time_out(O, Side::Local, &mut |a| out.push(a));
    assert_eq!(out, [done(Side::Local, true, C::TimedOut)]);
    assert_eq!(n.state(O, Side::Local), S::WantYes, "still waiting for the answer on the wire");
    out.clear();
    n.time_out(O, Side::Local, &mut |a| out.push(a));
    assert_eq!(out, [], "nothing pending any more");
    assert_eq!(n.request(O, Side::Local, true), Err(RequestError::AlreadyNegotiating));
    // The late answer changes the state, completes nothing and is not answered.
    assert_eq!(recv(&mut n, Verb::Do, O, false), [Action::Enabled { opt: O, side: Side::Local }]);
    assert_eq!(n.state(O, Side::Local), S::Yes);

    // The one in flight first, then the queued one; the other side is not touched.
    let mut n = Negotiator::new();
    n.request(O, Side::Remote, true).unwrap();
    n.request(O, Side::Remote, false).unwrap();
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
    assert_eq!(n.state(O, Side::Remote), S::WantYes, "the queued request is dropped");
    // A late refusal: back to NO, nothing sent, nothing completed again.
    assert_eq!(recv(&mut n, Verb::Wont, O, false), []);
    assert_eq!(n.state(O, Side::Remote), S::No);
    // From then on a WILL is a fresh offer, put to the policy.
    assert_eq!(recv(&mut n, Verb::Will, O, false), [Send([IAC, DONT, O])]);

    // A connection lost after a timeout does not complete the request twice.
    let mut n = Negotiator::new();
    n.request(O, Side::Local, true).unwrap();
    n.time_out(O, Side::Local, &mut |_| {});
    out.clear();
    n.connection_lost(&mut |a| out.push(a));
    assert_eq!(out, []);
    assert_eq!(n.state(O, Side::Local), S::No);
}

#[test]
fn verb_bytes_round_trip() {
    for v in [Verb::Will, Verb::Wont, Verb::Do, Verb::Dont] {
        assert_eq!(Verb::from_byte(v.to_byte()), Some(v));
    }
    assert_eq!(Verb::from_byte(SB), None);
}

/// How a run of [`two_peers_quiesce`] draws its random choices.
struct Sim {
    /// Seeds of the generator for the steps and of the one for both ends' policies.
    seeds: (u64, u64),
    steps: usize,
    /// Requests and timeouts pick options `0..options`.
    options: u64,
    /// Each step draws `below(kinds)`: under `requests` a request, `time_out` (if any) a
    /// timeout, anything else a delivery (if there is something to deliver).
    kinds: u64,
    requests: u64,
    time_out: Option<u64>,
    /// Whether an end accepts an offer.
    accept: fn(&mut Rng) -> bool,
    /// After the steps: deliver in random order (else peer 0's inbox first).
    random_drain: bool,
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
/// delivery interleaving and (if `sim` says so) timeouts: once requests stop, the wires
/// drain in bounded rounds, every request has completed exactly once, and both ends agree.
fn two_peers_quiesce(sim: &Sim) {
    let seed = sim.seeds.0;
    let mut rng = Rng(sim.seeds.0);
    let mut policy_rng = Rng(sim.seeds.1);
    let mut peers = [0, 1].map(|_| Peer {
        neg: Negotiator::new(),
        pending: Vec::new(),
        completions: 0,
    });
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
            &mut |_, _| (sim.accept)(policy_rng),
            &mut |a| out.push(a),
        );
        peers[to].apply(out, &mut wires[to]);
    };
    let pick_side = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            Side::Local
        } else {
            Side::Remote
        }
    };
    for _ in 0..sim.steps {
        let who = rng.below(2) as usize;
        let kind = rng.below(sim.kinds);
        if kind < sim.requests {
            let opt = rng.below(sim.options) as u8;
            let side = pick_side(&mut rng);
            let enable = rng.below(2) == 0;
            let p = &mut peers[who];
            if let Ok(outcome) = p.neg.request(opt, side, enable) {
                requests += 1;
                p.pending.push((opt, side, enable));
                if let RequestOutcome::Send(b) = outcome {
                    wires[who].push_back(b);
                }
            }
        } else if Some(kind) == sim.time_out {
            let opt = rng.below(sim.options) as u8;
            let side = pick_side(&mut rng);
            let mut out = Vec::new();
            peers[who].neg.time_out(opt, side, &mut |a| out.push(a));
            peers[who].apply(out, &mut wires[who]);
        } else if !wires[1 - who].is_empty() {
            deliver(&mut peers, &mut wires, who, &mut policy_rng);
        }
    }
    let mut rounds = 0;
    let limit = 4 * (wires[0].len() + wires[1].len()) + 32;
    while !wires[0].is_empty() || !wires[1].is_empty() {
        rounds += 1;
        assert!(rounds <= limit, "negotiation did not quiesce (seed {seed})");
        let to = if wires[1].is_empty() {
            1
        } else if wires[0].is_empty() || !sim.random_drain {
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
    for opt in 0..sim.options as u8 {
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
    // With timeouts, even odds for the policy, random drain order.
    for seed in 1..300u64 {
        let s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        two_peers_quiesce(&Sim {
            seeds: (s, s ^ 0xdead_beef),
            steps: 400,
            options: 3,
            kinds: 10,
            requests: 4,
            time_out: Some(4),
            accept: |r| r.below(2) == 0,
            random_drain: true,
        });
    }
    // Without timeouts, accepting two offers in three, one more option, fixed drain order.
    for seed in 1..200u64 {
        two_peers_quiesce(&Sim {
            seeds: (seed.wrapping_mul(0x2545_f491_4f6c_dd1d), seed),
            steps: 300,
            options: 4,
            kinds: 3,
            requests: 1,
            time_out: None,
            accept: |r| r.below(3) != 0,
            random_drain: false,
        });
    }
}
