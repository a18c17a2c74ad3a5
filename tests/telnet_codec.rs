//! The telnet codec through the public API: Twisted's telnet parser checklist (SEMANTICS
//! §4), each input fed whole, split at every point, at every pair of points (short inputs)
//! and byte by byte, with the exact event sequence asserted (adjacent data merged, since
//! where data is cut depends on the chunks); a byte-at-a-time reference model as an oracle
//! at random splits; and the encoders.
//!
//! What needs the codec's private parts (the word-at-a-time scanners, the subnegotiation
//! buffer's capacity) is tested in `src/telnet/codec_tests.rs`.

#[path = "telnet_common/rng.rs"]
mod rng;

use marline::telnet::cmd::*;
use marline::telnet::codec::{
    encode_command, encode_negotiation, encode_subnegotiation, escape_binary, escape_data, escape_data_sequence, Event,
    Parser, DEFAULT_MAX_SUBNEGOTIATION,
};
use marline::telnet::opt;
use rng::Rng;

/// An owned event, with adjacent data merged by [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Cmd(u8),
    Will(u8),
    Wont(u8),
    Do(u8),
    Dont(u8),
    Sb(u8, Vec<u8>),
    Unhandled(u8),
    Overflow(u8),
}

fn d(s: &[u8]) -> Ev {
    Ev::Data(s.to_vec())
}

fn sb(o: u8, s: &[u8]) -> Ev {
    Ev::Sb(o, s.to_vec())
}

fn push(out: &mut Vec<Ev>, e: Event<'_>) {
    match e {
        Event::Data(s) => {
            assert!(!s.is_empty(), "empty Data event");
            match out.last_mut() {
                Some(Ev::Data(prev)) => prev.extend_from_slice(s),
                _ => out.push(Ev::Data(s.to_vec())),
            }
        }
        Event::Command(c) => out.push(Ev::Cmd(c)),
        Event::Will(o) => out.push(Ev::Will(o)),
        Event::Wont(o) => out.push(Ev::Wont(o)),
        Event::Do(o) => out.push(Ev::Do(o)),
        Event::Dont(o) => out.push(Ev::Dont(o)),
        Event::Subnegotiation(o, p) => out.push(Ev::Sb(o, p.to_vec())),
        Event::Unhandled(c) => out.push(Ev::Unhandled(c)),
        Event::SubnegotiationOverflow(o) => out.push(Ev::Overflow(o)),
    }
}

/// Feed `chunks` to `p`, merging adjacent data.
fn run(p: &mut Parser, chunks: &[&[u8]]) -> Vec<Ev> {
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, &mut |e| push(&mut out, e));
    }
    out
}

/// Assert `input` parses to `expected` whole, split at every point, split at every pair of
/// points (short inputs), and byte by byte.
fn check_with(max: usize, input: &[u8], expected: &[Ev]) {
    let got = run(&mut Parser::new(max), &[input]);
    assert_eq!(got, expected, "whole input {input:02x?}");
    for k in 0..=input.len() {
        let got = run(&mut Parser::new(max), &[&input[..k], &input[k..]]);
        assert_eq!(got, expected, "split at {k}: {input:02x?}");
    }
    if input.len() <= 40 {
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let chunks = [&input[..a], &input[a..b], &input[b..]];
                let got = run(&mut Parser::new(max), &chunks);
                assert_eq!(got, expected, "split at {a},{b}: {input:02x?}");
            }
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let got = run(&mut Parser::new(max), &bytes);
    assert_eq!(got, expected, "byte by byte: {input:02x?}");
}

fn check(input: &[u8], expected: &[Ev]) {
    check_with(DEFAULT_MAX_SUBNEGOTIATION, input, expected)
}

#[test]
fn regular_bytes_are_one_borrowed_data_event() {
    let input = b"here are some bytes la la la la la la";
    let mut p = Parser::default();
    let mut n = 0;
    p.feed(input, &mut |e| {
        n += 1;
        assert_eq!(e, Event::Data(input));
        if let Event::Data(s) = e {
            assert!(std::ptr::eq(s, &input[..]), "borrowed from the input");
        }
    });
    assert_eq!(n, 1, "plain data is one event");
    check(input, &[d(input)]);
}

#[test]
fn long_plain_chunks_are_one_event_each() {
    let input: Vec<u8> = (0..10_000u32).map(|i| (i % 200) as u8 + 20).collect();
    let mut p = Parser::default();
    for chunk in input.chunks(1000) {
        let mut events = Vec::new();
        p.feed(chunk, &mut |e| events.push(format!("{e:?}")));
        assert_eq!(events.len(), 1);
    }
}

#[test]
fn newline_table() {
    // Twisted's testNewlineHandling (one line a chunk), plus the other cases of the table.
    let lines: [&[u8]; 4] = [
        b"here is the first line\r\n",
        b"here is the second line\r\0",
        b"here is the third line\r\n",
        b"here is the last line\r\0",
    ];
    let got = run(&mut Parser::default(), &lines);
    let want = b"here is the first line\nhere is the second line\rhere is the third line\nhere is the last line\r";
    assert_eq!(got, vec![d(want)]);
    check(
        b"first\r\nsecond\r\0third\r\nlast\r\0",
        &[d(b"first\nsecond\rthird\nlast\r")],
    );
    check(b"a\r\nb", &[d(b"a\nb")]);
    check(b"a\r\0b", &[d(b"a\rb")]);
    check(b"a\rb", &[d(b"a\rb")]);
    check(b"\r\r\n", &[d(b"\r\r\n")]);
    check(b"\r\r\0", &[d(b"\r\r\0")]);
    check(b"\r\n\r\n", &[d(b"\n\n")]);
    check(b"\r\0\r\0", &[d(b"\r\r")]);
    check(b"\r\xff\xff", &[d(b"\r\xff")]);
    check(b"x\r\xff\xf1\n", &[d(b"x\r"), Ev::Cmd(NOP), d(b"\n")]);
    check(b"a\r\xff\xf1b", &[d(b"a\r"), Ev::Cmd(NOP), d(b"b")]);
    check(b"\r\xff\xfb\x01\r\n", &[d(b"\r"), Ev::Will(1), d(b"\n")]);
    // A CR at the very end waits for a byte that never comes.
    check(b"abc\r", &[d(b"abc")]);
    check(b"line\r", &[d(b"line")]);
}

#[test]
fn cr_at_chunk_end_waits_for_next_chunk() {
    for next in [&b"\n"[..], b"\ndef"] {
        let mut p = Parser::default();
        assert_eq!(run(&mut p, &[b"abc\r"]), [d(b"abc")]);
        assert_eq!(run(&mut p, &[next]), [d(next)]);
        assert_eq!(run(&mut p, &[b"\r"]), []);
        assert_eq!(run(&mut p, &[b"\0"]), [d(b"\r")]);
    }
}

/// Feed one chunk; the events exactly as delivered (adjacent data not merged).
fn exact(p: &mut Parser, chunk: &[u8]) -> Vec<Ev> {
    let mut out = Vec::new();
    p.feed(chunk, &mut |e| match e {
        Event::Data(s) => out.push(Ev::Data(s.to_vec())),
        e => push(&mut out, e),
    });
    out
}

#[test]
fn each_run_of_data_is_one_event_whatever_escapes_it_holds() {
    // Twisted's TelnetTests._deliver checks (test_oneApplicationDataByte,
    // test_twoApplicationDataBytes, test_threeApplicationDataBytes, test_escapedControl,
    // test_carriageReturn, test_applicationDataBeforeSimpleCommand,
    // test_applicationDataBeforeCommand, test_applicationDataBeforeSubnegotiation): each
    // chunk delivers its data between two other events as one "bytes" event.
    let mut p = Parser::default();
    assert_eq!(exact(&mut p, b"a"), [d(b"a")]);
    assert_eq!(exact(&mut p, b"bc"), [d(b"bc")]);
    assert_eq!(exact(&mut p, b"def\xff"), [d(b"def")]);
    assert_eq!(exact(&mut p, b"\xff"), [d(b"\xff")]); // the IAC above, escaped
    assert_eq!(exact(&mut p, b"\xff"), []);
    assert_eq!(exact(&mut p, b"\xffg"), [d(b"\xffg")]);
    let rows: [(&[u8], &[u8]); 5] = [
        (b"\n", b"\n"),
        (b"\0", b"\r"),
        (b"a", b"\ra"),
        (b"\xff\xffx", b"\r\xffx"),
        (b"\ra", b"\r\ra"),
    ];
    for (next, want) in rows {
        assert_eq!(exact(&mut p, b"\r"), []);
        assert_eq!(exact(&mut p, next), [d(want)], "CR then {next:02x?}");
    }
    assert_eq!(exact(&mut p, b"\r\n"), [d(b"\n")]);
    assert_eq!(exact(&mut p, b"\r\0"), [d(b"\r")]);
    assert_eq!(exact(&mut p, b"x\xff\xf1"), [d(b"x"), Ev::Cmd(NOP)]);
    assert_eq!(exact(&mut p, b"y\xff\xfb\x00"), [d(b"y"), Ev::Will(0)]);
    assert_eq!(exact(&mut p, b"z\xff\xfaQx\xff\xf0"), [d(b"z"), sb(b'Q', b"x")]);
    // Escapes of every kind inside one run, and runs cut only by the other events.
    assert_eq!(
        exact(&mut p, b"a\xff\xffb\r\nc\r\0d\r\xff\xffe\xff\xf1f\r\ng\xff\xfd\x01\xff\xff"),
        [d(b"a\xffb\nc\rd\r\xffe"), Ev::Cmd(NOP), d(b"f\ng"), Ev::Do(1), d(b"\xff")]
    );
}

#[test]
fn dense_escapes_cost_one_event_per_chunk() {
    // Issue 12: 1 MiB of IAC IAC gave 524,288 one-byte data events. Every 64 KiB chunk
    // of 0xFF-dense, CR-NUL-dense or CR-LF-dense data is one event now.
    for (wire, data) in [(&b"\xff\xff"[..], &b"\xff"[..]), (b"x\r\0", b"x\r"), (b"x\r\n", b"x\n")] {
        let input = wire.repeat((1 << 20) / wire.len());
        let mut p = Parser::default();
        for chunk in input.chunks(64 * 1024 / wire.len() * wire.len()) {
            let got = exact(&mut p, chunk);
            assert_eq!(got.len(), 1, "one event for the chunk of {wire:02x?}");
            let Ev::Data(got) = &got[0] else { panic!("{got:?}") };
            assert_eq!(got.len(), chunk.len() / wire.len() * data.len());
            assert!(got.chunks(data.len()).all(|c| c == data));
        }
    }
}

#[test]
fn feed_until_will_or_wont_stops_just_after_each() {
    let input = b"a\r\n\xff\xfb\x00b\xff\xfd\x01c\xff\xfc\x00\r\0d";
    let mut p = Parser::default();
    let mut stops = Vec::new();
    let mut got = Vec::new();
    let mut at = 0;
    while at < input.len() {
        at += p.feed_until_will_or_wont(&input[at..], &mut |e| push(&mut got, e));
        stops.push(at);
    }
    assert_eq!(stops, [6, 14, input.len()]);
    assert_eq!(got, [d(b"a\n"), Ev::Will(0), d(b"b"), Ev::Do(1), d(b"c"), Ev::Wont(0), d(b"\rd")]);
    // Split inside the WILL: the call that completes it stops after its last byte.
    let mut p = Parser::default();
    let mut got = Vec::new();
    assert_eq!(p.feed_until_will_or_wont(b"x\xff\xfb", &mut |e| push(&mut got, e)), 3);
    assert_eq!(p.feed_until_will_or_wont(b"\x00\r\n", &mut |e| push(&mut got, e)), 1);
    assert_eq!(got, [d(b"x"), Ev::Will(0)]);
}

#[test]
fn iac_escape() {
    check(
        b"here are some bytes\xff\xff with an embedded IAC",
        &[d(b"here are some bytes\xff with an embedded IAC")],
    );
    check(b"\xff\xff", &[d(b"\xff")]);
    check(b"\xff\xff\xff\xff", &[d(b"\xff\xff")]);
    check(b"\xff\xff\xff\xf1", &[d(b"\xff"), Ev::Cmd(NOP)]);
    // Split between the two IACs, exactly.
    let got = run(&mut Parser::default(), &[b"abc\xff", b"\xffdef"]);
    assert_eq!(got, [d(b"abc\xffdef")]);
}

#[test]
fn each_simple_command() {
    for c in [NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, EOR] {
        let input = [&b"before"[..], &[IAC, c], b"after"].concat();
        check(&input, &[d(b"before"), Ev::Cmd(c), d(b"after")]);
        check(&[IAC, c], &[Ev::Cmd(c)]);
    }
}

#[test]
fn negotiation_commands() {
    check(
        b"\xff\xfb\x01\xff\xfc\x03\xff\xfd\x18\xff\xfe\x1f",
        &[
            Ev::Will(opt::ECHO),
            Ev::Wont(opt::SGA),
            Ev::Do(opt::TTYPE),
            Ev::Dont(opt::NAWS),
        ],
    );
    check(
        b"a\xff\xfb\x01b\xff\xfc\x03\xff\xfd\x18\xff\xfe\x1fc",
        &[
            d(b"a"),
            Ev::Will(1),
            d(b"b"),
            Ev::Wont(3),
            Ev::Do(24),
            Ev::Dont(31),
            d(b"c"),
        ],
    );
    // The option byte is taken literally, even IAC or CR.
    check(b"\xff\xfb\xff\xff\xfd\r", &[Ev::Will(255), Ev::Do(13)]);
}

#[test]
fn subnegotiation() {
    check(
        b"\xff\xfa\x12hello world\xff\xf0",
        &[sb(0x12, b"hello world")],
    );
    check(
        b"x\xff\xfa\x12hello world\xff\xf0y",
        &[d(b"x"), sb(0x12, b"hello world"), d(b"y")],
    );
    check(b"\xff\xfa\x18\xff\xf0", &[sb(0x18, b"")]);
    // An SE byte not after IAC is payload.
    check(
        b"\xff\xfa\x12hello\xf0world\xff\xf0",
        &[sb(0x12, b"hello\xf0world")],
    );
    check(b"\xff\xfa\xf0\xf0\xff\xf0", &[sb(0xf0, b"\xf0")]);
    // IAC IAC is unescaped; CR LF and CR NUL are left raw.
    check(
        b"x\xff\xfa\x18a\xff\xffb\xff\xf0y",
        &[d(b"x"), sb(24, b"a\xffb"), d(b"y")],
    );
    check(
        b"\xff\xfa\x18a\xff\xffb\r\n\r\0\xff\xff\xff\xf0",
        &[sb(0x18, b"a\xffb\r\n\r\0\xff")],
    );
}

#[test]
fn subnegotiation_fast_path_borrows_input() {
    let input = b"\xff\xfa\x18\x00xterm\xff\xf0";
    let mut p = Parser::default();
    let mut seen = false;
    p.feed(input, &mut |e| match e {
        Event::Subnegotiation(24, payload) => {
            assert_eq!(payload, b"\x00xterm");
            assert!(std::ptr::eq(payload.as_ptr(), input[3..].as_ptr()));
            seen = true;
        }
        other => panic!("unexpected {other:?}"),
    });
    assert!(seen);
}

#[test]
fn subnegotiation_cut_short_by_a_command() {
    // libtelnet's recovery: deliver what was collected, then process the IAC sequence.
    check(
        b"\xff\xfa\x1fab\xff\xfb\x01c",
        &[sb(0x1f, b"ab"), Ev::Will(1), d(b"c")],
    );
    check(
        b"\xff\xfa\x1fab\xff\xfb\x01cd",
        &[sb(0x1f, b"ab"), Ev::Will(1), d(b"cd")],
    );
    check(
        b"\xff\xfa\x1fab\xff\xf1cd",
        &[sb(0x1f, b"ab"), Ev::Cmd(NOP), d(b"cd")],
    );
    check(
        b"\xff\xfa\x1fab\xff\xfa\x18x\xff\xf0",
        &[sb(0x1f, b"ab"), sb(0x18, b"x")],
    );
    check(b"\xff\xfa\x1f\xff\x00", &[sb(0x1f, b""), Ev::Unhandled(0)]);
}

#[test]
fn overflow_bound() {
    let rows: [(usize, &[u8], Vec<Ev>); 10] = [
        (
            4,
            b"\xff\xfa\x01abcd\xff\xf0z",
            vec![sb(1, b"abcd"), d(b"z")],
        ),
        (
            4,
            b"\xff\xfa\x01abcde\xff\xf0z",
            vec![Ev::Overflow(1), d(b"z")],
        ),
        (
            5,
            b"\xff\xfa\x01hello\xff\xf0!",
            vec![sb(1, b"hello"), d(b"!")],
        ),
        (
            5,
            b"\xff\xfa\x01hello!\xff\xf0!",
            vec![Ev::Overflow(1), d(b"!")],
        ),
        // The bound counts unescaped bytes.
        (
            4,
            b"\xff\xfa\x01abc\xff\xff\xff\xf0",
            vec![sb(1, b"abc\xff")],
        ),
        (
            4,
            b"\xff\xfa\x01abcd\xff\xff\xff\xf0",
            vec![Ev::Overflow(1)],
        ),
        // Reported once, however much more comes; a command inside still works.
        (
            2,
            b"\xff\xfa\x05abcdefgh\xff\xff\xff\xfb\x01x",
            vec![Ev::Overflow(5), Ev::Will(1), d(b"x")],
        ),
        (0, b"\xff\xfa\x05\xff\xf0", vec![sb(5, b"")]),
        (0, b"\xff\xfa\x05a\xff\xf0", vec![Ev::Overflow(5)]),
        // The next subnegotiation starts afresh.
        (
            3,
            b"\xff\xfa\x05abcd\xff\xf0\xff\xfa\x06abc\xff\xf0",
            vec![Ev::Overflow(5), sb(6, b"abc")],
        ),
    ];
    for (max, input, want) in &rows {
        check_with(*max, input, want);
    }
    // The default bound, exactly: 4096 bytes pass, 4097 overflow.
    for (o, fill, len, want) in [
        (opt::TTYPE, b'a', 4096, sb(opt::TTYPE, &[b'a'; 4096])),
        (opt::NEW_ENVIRON, b'v', 4097, Ev::Overflow(opt::NEW_ENVIRON)),
    ] {
        let mut input = vec![IAC, SB, o];
        input.resize(3 + len, fill);
        input.extend([IAC, SE]);
        assert_eq!(
            run(&mut Parser::default(), &[&input]),
            [want],
            "{len} bytes"
        );
    }
}

#[test]
fn garbage_after_iac_is_unhandled() {
    for b in 0..=255u8 {
        let input = [b'a', IAC, b, b'c'];
        let got = run(&mut Parser::default(), &[&input]);
        let want = match b {
            IAC => vec![d(b"a\xffc")],
            WILL => vec![d(b"a"), Ev::Will(b'c')],
            WONT => vec![d(b"a"), Ev::Wont(b'c')],
            DO => vec![d(b"a"), Ev::Do(b'c')],
            DONT => vec![d(b"a"), Ev::Dont(b'c')],
            SB => vec![d(b"a")],
            EOR | NOP..=GA => vec![d(b"a"), Ev::Cmd(b), d(b"c")],
            _ => vec![d(b"a"), Ev::Unhandled(b), d(b"c")],
        };
        assert_eq!(got, want, "IAC {b}");
    }
    check(b"\xff\xf0", &[Ev::Unhandled(SE)]);
    check(
        b"x\xff\x05y\xff\xf0",
        &[d(b"x"), Ev::Unhandled(5), d(b"y"), Ev::Unhandled(SE)],
    );
    check(
        b"a\xff\x00b\xff\xf0c\xff\xeed",
        &[
            d(b"a"),
            Ev::Unhandled(0),
            d(b"b"),
            Ev::Unhandled(SE),
            d(b"c"),
            Ev::Unhandled(238),
            d(b"d"),
        ],
    );
}

#[test]
fn synch_discards_data_but_not_commands_until_dm() {
    let input = b"abc\xff\xfb\x01d\r\nef\xff\xfa\x18x\xff\xf0g\xff\xf2hij\r";
    let want = [Ev::Will(1), sb(24, b"x"), Ev::Cmd(DM), d(b"hij")];
    for k in 0..=input.len() {
        let mut p = Parser::default();
        p.set_synch(true);
        assert!(p.synch());
        let got = run(&mut p, &[&input[..k], &input[k..]]);
        assert_eq!(got, want, "split {k}");
        assert!(!p.synch());
    }
    let mut p = Parser::default();
    p.set_synch(true);
    let got = run(&mut p, &[b"junk\xff\xfd\x01more\xff\xf2", b"kept"]);
    assert_eq!(got, [Ev::Do(1), Ev::Cmd(DM), d(b"kept")]);
    assert!(!p.synch());
    // A DM without synch is just reported.
    check(b"a\xff\xf2b", &[d(b"a"), Ev::Cmd(DM), d(b"b")]);
}

#[test]
fn binary_mode_passes_cr_through() {
    let mut p = Parser::default();
    p.set_binary(true);
    assert!(p.binary());
    let got = run(&mut p, &[b"a\r\nb\r\0c\r", b"\xff\xff"]);
    assert_eq!(got, vec![d(b"a\r\nb\r\0c\r\xff")]);
}

/// A byte-at-a-time parser written independently of the fast one, as an oracle.
fn reference(input: &[u8], max: usize) -> Vec<Ev> {
    #[derive(PartialEq)]
    enum S {
        Data,
        Cr,
        Iac,
        Verb(u8),
        SbOpt,
        Sb,
        SbIac,
    }
    let mut out = Vec::new();
    let mut data = Vec::new();
    let (mut s, mut opt, mut buf, mut over) = (S::Data, 0u8, Vec::new(), false);
    let flush = |data: &mut Vec<u8>, out: &mut Vec<Ev>| {
        if !data.is_empty() {
            out.push(Ev::Data(std::mem::take(data)));
        }
    };
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        i += 1;
        match s {
            S::Data if b == IAC => s = S::Iac,
            S::Data if b == b'\r' => s = S::Cr,
            S::Data => data.push(b),
            S::Cr => {
                s = S::Data;
                match b {
                    b'\n' => data.push(b'\n'),
                    0 => data.push(b'\r'),
                    IAC => {
                        data.push(b'\r');
                        s = S::Iac;
                    }
                    _ => data.extend([b'\r', b]),
                }
            }
            S::Iac => {
                s = S::Data;
                match b {
                    IAC => data.push(IAC),
                    WILL | WONT | DO | DONT => s = S::Verb(b),
                    SB => s = S::SbOpt,
                    _ => {
                        flush(&mut data, &mut out);
                        out.push(if is_simple(b) {
                            Ev::Cmd(b)
                        } else {
                            Ev::Unhandled(b)
                        });
                    }
                }
            }
            S::Verb(v) => {
                flush(&mut data, &mut out);
                out.push(match v {
                    WILL => Ev::Will(b),
                    WONT => Ev::Wont(b),
                    DO => Ev::Do(b),
                    _ => Ev::Dont(b),
                });
                s = S::Data;
            }
            S::SbOpt => {
                flush(&mut data, &mut out);
                opt = b;
                buf.clear();
                over = false;
                s = S::Sb;
            }
            S::Sb | S::SbIac => {
                let byte = if s == S::Sb {
                    if b == IAC {
                        s = S::SbIac;
                        continue;
                    }
                    b
                } else if b == IAC {
                    s = S::Sb;
                    IAC
                } else {
                    if !over {
                        out.push(Ev::Sb(opt, std::mem::take(&mut buf)));
                    }
                    if b == SE {
                        s = S::Data;
                    } else {
                        s = S::Iac;
                        i -= 1;
                    }
                    continue;
                };
                if !over {
                    buf.push(byte);
                    if buf.len() > max {
                        over = true;
                        out.push(Ev::Overflow(opt));
                    }
                }
            }
        }
    }
    flush(&mut data, &mut out);
    out
}

#[test]
fn random_streams_match_reference_at_random_splits() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet = [
        IAC, IAC, SB, SE, WILL, DO, NOP, DM, b'\r', b'\n', 0, b'a', 5, 24,
    ];
    for round in 0..3000 {
        let len = (rng.next() % 64) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                if rng.next() & 3 == 0 {
                    rng.next() as u8
                } else {
                    alphabet[(rng.next() % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        let max = (rng.next() % 12) as usize;
        let want = reference(&input, max);
        let mut chunks = Vec::new();
        let mut rest = &input[..];
        while !rest.is_empty() {
            let k = 1 + (rng.next() as usize % rest.len().min(9));
            chunks.push(&rest[..k]);
            rest = &rest[k..];
        }
        let got = run(&mut Parser::new(max), &chunks);
        assert_eq!(
            got, want,
            "round {round}: {input:02x?} chunks {chunks:02x?}"
        );
    }
}

#[test]
fn escape_data_rules() {
    let rows: [(&[u8], &[u8]); 5] = [
        (b"a\xffb\nc\rd\r\n", b"a\xff\xffb\r\nc\r\0d\r\n"),
        (b"a\xffb\nc\rd\r\n\r", b"a\xff\xffb\r\nc\r\0d\r\n\r\0"),
        (b"", b""),
        (b"plain", b"plain"),
        (b"\r\r\n\n\xff\xff", b"\r\0\r\n\r\n\xff\xff\xff\xff"),
    ];
    for (data, wire) in rows {
        let mut out = Vec::new();
        escape_data(data, &mut out);
        assert_eq!(out, wire, "{data:02x?}");
    }
}

#[test]
fn a_write_is_translated_on_its_own_and_a_sequence_as_one_write() {
    // The rule for a write ending in CR (issue 13): each write is encoded by itself, so a
    // CR ending one write is a bare CR (CR NUL) and an LF starting the next is a newline
    // (CR LF); the reader gets back CR then newline, what was written. The buffers of one
    // write_sequence are one write.
    let mut wire = Vec::new();
    escape_data(b"a\r", &mut wire);
    escape_data(b"\nb", &mut wire);
    assert_eq!(wire, b"a\r\0\r\nb");
    assert_eq!(run(&mut Parser::default(), &[&wire]), [d(b"a\r\nb")]);
    let rows: [(&[&[u8]], &[u8]); 7] = [
        (&[b"a\r", b"\nb"], b"a\r\nb"),
        (&[b"a\r", b"", b"\nb"], b"a\r\nb"),
        (&[b"a\r", b"b"], b"a\r\0b"),
        (&[b"a\r", b"\r", b"\n"], b"a\r\0\r\n"),
        (&[b"\r"], b"\r\0"),
        (&[b"\r", b""], b"\r\0"),
        (&[b"\xff\r", b"\xff\n"], b"\xff\xff\r\0\xff\xff\r\n"),
    ];
    for (pieces, want) in rows {
        let mut out = Vec::new();
        escape_data_sequence(pieces.iter().copied(), &mut out);
        assert_eq!(out, want, "{pieces:02x?}");
        let mut whole = Vec::new();
        escape_data(&pieces.concat(), &mut whole);
        assert_eq!(out, whole, "a sequence is its concatenation");
    }
}

#[test]
fn escape_then_parse_round_trips() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = (rng.next() % 30) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| [b'\r', b'\n', IAC, 0, b'x'][(rng.next() % 5) as usize])
            .collect();
        let mut wire = Vec::new();
        escape_data(&data, &mut wire);
        let mut want = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                want.push(b'\n');
                i += 2;
            } else {
                want.push(data[i]);
                i += 1;
            }
        }
        let got = run(&mut Parser::default(), &[&wire]);
        let want = if want.is_empty() {
            vec![]
        } else {
            vec![Ev::Data(want)]
        };
        assert_eq!(got, want, "{data:02x?}");
    }
}

#[test]
fn encoders() {
    // request_negotiation: IAC SB opt escaped-bytes IAC SE (RFC 855).
    let mut out = Vec::new();
    encode_subnegotiation(1, &[1, 2, 3], &mut out);
    assert_eq!(out, [0xff, 0xfa, 0x01, 0x01, 0x02, 0x03, 0xff, 0xf0]);
    out.clear();
    encode_subnegotiation(1, &[0xff], &mut out);
    assert_eq!(out, [0xff, 0xfa, 0x01, 0xff, 0xff, 0xff, 0xf0]);
    out.clear();
    encode_subnegotiation(24, b"\r\n", &mut out);
    assert_eq!(out, [0xff, 0xfa, 24, b'\r', b'\n', 0xff, 0xf0]);
    out.clear();
    encode_negotiation(WILL, 3, &mut out);
    encode_negotiation(DONT, 255, &mut out);
    encode_command(DM, &mut out);
    encode_command(GA, &mut out);
    assert_eq!(
        out,
        [0xff, 0xfb, 3, 0xff, 0xfe, 0xff, 0xff, 0xf2, 0xff, 0xf9]
    );
    out.clear();
    encode_negotiation(DO, opt::LINEMODE, &mut out);
    encode_command(AYT, &mut out);
    assert_eq!(out, [0xff, 0xfd, 34, 0xff, 0xf6]);
    out.clear();
    escape_binary(b"\r\n\xff\xffa", &mut out);
    assert_eq!(out, b"\r\n\xff\xff\xff\xffa");
}
