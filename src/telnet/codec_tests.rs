//! Unit tests for the codec: Twisted's telnet checklist, every split point, a byte-at-a-time
//! reference model, and the encoders.

use super::*;
use crate::telnet::cmd::*;

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

fn push(out: &mut Vec<Ev>, e: Event<'_>) {
    match e {
        Event::Data(s) => {
            assert!(!s.is_empty(), "empty Data event");
            if let Some(Ev::Data(prev)) = out.last_mut() {
                prev.extend_from_slice(s);
            } else {
                out.push(Ev::Data(s.to_vec()));
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
                let got = run(
                    &mut Parser::new(max),
                    &[&input[..a], &input[a..b], &input[b..]],
                );
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

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn regular_bytes_are_one_borrowed_data_event() {
    let input = b"here are some bytes la la la la la la";
    let mut p = Parser::default();
    let mut n = 0;
    p.feed(input, &mut |e| {
        n += 1;
        match e {
            Event::Data(s) => assert!(std::ptr::eq(s, &input[..])),
            other => panic!("unexpected {other:?}"),
        }
    });
    assert_eq!(n, 1);
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
    // Twisted's testNewlineHandling, plus the other cases of the table.
    let lines: [&[u8]; 4] = [
        b"here is the first line\r\n",
        b"here is the second line\r\0",
        b"here is the third line\r\n",
        b"here is the last line\r\0",
    ];
    let mut p = Parser::default();
    let got = run(&mut p, &lines);
    let want = b"here is the first line\nhere is the second line\rhere is the third line\nhere is the last line\r";
    assert_eq!(got, vec![d(want)]);
    check(b"a\r\nb", &[d(b"a\nb")]);
    check(b"a\r\0b", &[d(b"a\rb")]);
    check(b"a\rb", &[d(b"a\rb")]);
    check(b"\r\r\n", &[d(b"\r\r\n")]);
    check(b"\r\r\0", &[d(b"\r\r\0")]);
    check(b"\r\n\r\n", &[d(b"\n\n")]);
    check(b"\r\0\r\0", &[d(b"\r\r")]);
    check(b"\r\xff\xff", &[d(b"\r\xff")]);
    check(b"x\r\xff\xf1\n", &[d(b"x\r"), Ev::Cmd(NOP), d(b"\n")]);
    check(b"\r\xff\xfb\x01\r\n", &[d(b"\r"), Ev::Will(1), d(b"\n")]);
    // A CR at the very end waits for a byte that never comes.
    check(b"abc\r", &[d(b"abc")]);
}

#[test]
fn cr_at_chunk_end_waits_for_next_chunk() {
    let mut p = Parser::default();
    let mut got = Vec::new();
    p.feed(b"abc\r", &mut |e| push(&mut got, e));
    assert_eq!(got, vec![d(b"abc")]);
    got.clear();
    p.feed(b"\n", &mut |e| push(&mut got, e));
    assert_eq!(got, vec![d(b"\n")]);
    got.clear();
    p.feed(b"\r", &mut |e| push(&mut got, e));
    assert!(got.is_empty());
    p.feed(b"\0", &mut |e| push(&mut got, e));
    assert_eq!(got, vec![d(b"\r")]);
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
}

#[test]
fn iac_escape_split_across_chunks() {
    let mut p = Parser::default();
    let got = run(&mut p, &[b"abc\xff", b"\xffdef"]);
    assert_eq!(got, vec![d(b"abc\xffdef")]);
}

#[test]
fn each_simple_command() {
    for c in [NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, EOR] {
        let input = cat(&[b"before", &[IAC, c], b"after"]);
        check(&input, &[d(b"before"), Ev::Cmd(c), d(b"after")]);
        check(&[IAC, c], &[Ev::Cmd(c)]);
    }
}

#[test]
fn negotiation_commands() {
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
        &[Ev::Sb(0x12, b"hello world".to_vec())],
    );
    check(
        b"x\xff\xfa\x12hello world\xff\xf0y",
        &[d(b"x"), Ev::Sb(0x12, b"hello world".to_vec()), d(b"y")],
    );
    check(b"\xff\xfa\x18\xff\xf0", &[Ev::Sb(0x18, vec![])]);
}

#[test]
fn subnegotiation_with_embedded_se() {
    check(
        b"\xff\xfa\x12hello\xf0world\xff\xf0",
        &[Ev::Sb(0x12, b"hello\xf0world".to_vec())],
    );
    check(b"\xff\xfa\xf0\xf0\xff\xf0", &[Ev::Sb(0xf0, vec![0xf0])]);
}

#[test]
fn subnegotiation_with_escaped_iac_and_raw_newlines() {
    check(
        b"\xff\xfa\x18a\xff\xffb\r\n\r\0\xff\xff\xff\xf0",
        &[Ev::Sb(0x18, b"a\xffb\r\n\r\0\xff".to_vec())],
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
        b"\xff\xfa\x1fab\xff\xfb\x01cd",
        &[Ev::Sb(0x1f, b"ab".to_vec()), Ev::Will(1), d(b"cd")],
    );
    check(
        b"\xff\xfa\x1fab\xff\xf1cd",
        &[Ev::Sb(0x1f, b"ab".to_vec()), Ev::Cmd(NOP), d(b"cd")],
    );
    check(
        b"\xff\xfa\x1fab\xff\xfa\x18x\xff\xf0",
        &[Ev::Sb(0x1f, b"ab".to_vec()), Ev::Sb(0x18, b"x".to_vec())],
    );
    check(
        b"\xff\xfa\x1f\xff\x00",
        &[Ev::Sb(0x1f, vec![]), Ev::Unhandled(0)],
    );
}

#[test]
fn overflow_bound() {
    check_with(
        4,
        b"\xff\xfa\x01abcd\xff\xf0z",
        &[Ev::Sb(1, b"abcd".to_vec()), d(b"z")],
    );
    check_with(
        4,
        b"\xff\xfa\x01abcde\xff\xf0z",
        &[Ev::Overflow(1), d(b"z")],
    );
    check_with(
        4,
        b"\xff\xfa\x01abc\xff\xff\xff\xf0",
        &[Ev::Sb(1, b"abc\xff".to_vec())],
    );
    check_with(4, b"\xff\xfa\x01abcd\xff\xff\xff\xf0", &[Ev::Overflow(1)]);
    // Reported once, however much more comes; a command inside still works.
    check_with(
        2,
        b"\xff\xfa\x05abcdefgh\xff\xff\xff\xfb\x01x",
        &[Ev::Overflow(5), Ev::Will(1), d(b"x")],
    );
    check_with(0, b"\xff\xfa\x05\xff\xf0", &[Ev::Sb(5, vec![])]);
    check_with(0, b"\xff\xfa\x05a\xff\xf0", &[Ev::Overflow(5)]);
    // The next subnegotiation starts afresh.
    check_with(
        3,
        b"\xff\xfa\x05abcd\xff\xf0\xff\xfa\x06abc\xff\xf0",
        &[Ev::Overflow(5), Ev::Sb(6, b"abc".to_vec())],
    );
}

#[test]
fn overflow_default_bound_and_no_buffering_beyond_it() {
    let mut ok = vec![IAC, SB, 24];
    ok.extend(vec![b'a'; 4096]);
    ok.extend([IAC, SE]);
    let got = run(&mut Parser::default(), &[&ok]);
    assert_eq!(got, vec![Ev::Sb(24, vec![b'a'; 4096])]);

    let mut big = vec![IAC, SB, 24];
    big.extend(vec![b'a'; 100_000]);
    big.extend([IAC, SE, b'z']);
    for chunk in [1usize, 7, 100, 4096, 100_003] {
        let mut p = Parser::default();
        let mut got = Vec::new();
        for c in big.chunks(chunk) {
            p.feed(c, &mut |e| push(&mut got, e));
            assert!(p.sb_buf.capacity() <= 4096, "buffered beyond the bound");
        }
        assert_eq!(got, vec![Ev::Overflow(24), d(b"z")], "chunk {chunk}");
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
}

#[test]
fn synch_discards_data_until_dm() {
    let input = b"abc\xff\xfb\x01d\r\nef\xff\xfa\x18x\xff\xf0g\xff\xf2hij\r";
    let want = [
        Ev::Will(1),
        Ev::Sb(24, b"x".to_vec()),
        Ev::Cmd(DM),
        d(b"hij"),
    ];
    for k in 0..=input.len() {
        let mut p = Parser::default();
        p.set_synch(true);
        assert!(p.synch());
        let got = run(&mut p, &[&input[..k], &input[k..]]);
        assert_eq!(got, want, "split {k}");
        assert!(!p.synch());
    }
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

#[test]
fn scanners_match_naive_search() {
    let mut rng = Rng(0x1234_5678);
    for _ in 0..2000 {
        let len = (rng.next() % 40) as usize;
        let buf: Vec<u8> = (0..len)
            .map(|_| match rng.next() % 8 {
                0 => IAC,
                1 => b'\r',
                _ => (rng.next() % 256) as u8,
            })
            .collect();
        for start in 0..buf.len() {
            let s = &buf[start..];
            assert_eq!(find_iac(s), s.iter().position(|&b| b == IAC), "{s:02x?}");
            assert_eq!(
                find_iac_or_cr(s),
                s.iter().position(|&b| b == IAC || b == b'\r'),
                "{s:02x?}"
            );
        }
    }
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

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
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
    let mut out = Vec::new();
    escape_data(b"a\xffb\nc\rd\r\n\r", &mut out);
    assert_eq!(out, b"a\xff\xffb\r\nc\r\0d\r\n\r\0");
    out.clear();
    escape_data(b"", &mut out);
    assert!(out.is_empty());
    escape_data(b"plain", &mut out);
    assert_eq!(out, b"plain");
    out.clear();
    escape_data(b"\r\r\n\n\xff\xff", &mut out);
    assert_eq!(out, b"\r\0\r\n\r\n\xff\xff\xff\xff");
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
    escape_binary(b"\r\n\xff\xffa", &mut out);
    assert_eq!(out, b"\r\n\xff\xff\xff\xffa");
}
