//! The telnet codec through the public API: Twisted's telnet parser checklist (SEMANTICS
//! §4), each input fed whole, split at every point and byte by byte, with the exact event
//! sequence asserted (adjacent data merged, since where data is cut depends on the chunks).

use marline::telnet::cmd::*;
use marline::telnet::codec::{
    encode_command, encode_negotiation, encode_subnegotiation, escape_data, Event, Parser,
};
use marline::telnet::opt;

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

fn run(p: &mut Parser, chunks: &[&[u8]]) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for c in chunks {
        p.feed(c, &mut |e| match e {
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
            Event::Subnegotiation(o, s) => out.push(Ev::Sb(o, s.to_vec())),
            Event::Unhandled(c) => out.push(Ev::Unhandled(c)),
            Event::SubnegotiationOverflow(o) => out.push(Ev::Overflow(o)),
        });
    }
    out
}

fn check_with(max: usize, input: &[u8], expected: &[Ev]) {
    assert_eq!(
        run(&mut Parser::new(max), &[input]),
        expected,
        "whole: {input:02x?}"
    );
    for k in 0..=input.len() {
        let got = run(&mut Parser::new(max), &[&input[..k], &input[k..]]);
        assert_eq!(got, expected, "split at {k}: {input:02x?}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(&mut Parser::new(max), &bytes),
        expected,
        "byte by byte: {input:02x?}"
    );
}

fn check(input: &[u8], expected: &[Ev]) {
    check_with(4096, input, expected)
}

#[test]
fn regular_bytes() {
    let input = b"here are some bytes la la la la la la";
    let mut p = Parser::default();
    let mut events = 0;
    p.feed(input, &mut |e| {
        events += 1;
        assert_eq!(e, Event::Data(input));
    });
    assert_eq!(events, 1, "plain data is one event");
    check(input, &[d(input)]);
}

#[test]
fn newline_table() {
    check(
        b"first\r\nsecond\r\0third\r\nlast\r\0",
        &[d(b"first\nsecond\rthird\nlast\r")],
    );
    check(b"a\rb", &[d(b"a\rb")]);
    check(b"\r\r\n", &[d(b"\r\r\n")]);
    check(b"line\r", &[d(b"line")]);
    check(b"a\r\xff\xf1b", &[d(b"a\r"), Ev::Cmd(NOP), d(b"b")]);
}

#[test]
fn cr_at_chunk_end_waits() {
    let mut p = Parser::default();
    assert_eq!(run(&mut p, &[b"abc\r"]), [d(b"abc")]);
    assert_eq!(run(&mut p, &[b"\ndef"]), [d(b"\ndef")]);
    assert_eq!(run(&mut p, &[b"\r"]), []);
    assert_eq!(run(&mut p, &[b"\0"]), [d(b"\r")]);
}

#[test]
fn iac_escape_split_across_chunks() {
    check(
        b"here are some bytes\xff\xff with an embedded IAC",
        &[d(b"here are some bytes\xff with an embedded IAC")],
    );
    let mut p = Parser::default();
    assert_eq!(run(&mut p, &[b"abc\xff", b"\xffdef"]), [d(b"abc\xffdef")]);
}

#[test]
fn each_simple_command() {
    for c in [NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, EOR] {
        let input = [&b"before"[..], &[IAC, c], b"after"].concat();
        check(&input, &[d(b"before"), Ev::Cmd(c), d(b"after")]);
    }
}

#[test]
fn negotiations() {
    check(
        b"\xff\xfb\x01\xff\xfc\x03\xff\xfd\x18\xff\xfe\x1f",
        &[
            Ev::Will(opt::ECHO),
            Ev::Wont(opt::SGA),
            Ev::Do(opt::TTYPE),
            Ev::Dont(opt::NAWS),
        ],
    );
}

#[test]
fn subnegotiation() {
    check(
        b"\xff\xfa\x12hello world\xff\xf0",
        &[sb(0x12, b"hello world")],
    );
}

#[test]
fn subnegotiation_with_embedded_se() {
    check(
        b"\xff\xfa\x12hello\xf0world\xff\xf0",
        &[sb(0x12, b"hello\xf0world")],
    );
}

#[test]
fn subnegotiation_with_escaped_iac() {
    check(
        b"x\xff\xfa\x18a\xff\xffb\xff\xf0y",
        &[d(b"x"), sb(24, b"a\xffb"), d(b"y")],
    );
}

#[test]
fn subnegotiation_cut_short_by_a_command() {
    check(
        b"\xff\xfa\x1fab\xff\xfb\x01c",
        &[sb(0x1f, b"ab"), Ev::Will(1), d(b"c")],
    );
}

#[test]
fn overflow_bound() {
    check_with(
        5,
        b"\xff\xfa\x01hello\xff\xf0!",
        &[sb(1, b"hello"), d(b"!")],
    );
    check_with(
        5,
        b"\xff\xfa\x01hello!\xff\xf0!",
        &[Ev::Overflow(1), d(b"!")],
    );
    let mut big = vec![IAC, SB, opt::NEW_ENVIRON];
    big.resize(3 + 4097, b'v');
    big.extend([IAC, SE]);
    assert_eq!(
        run(&mut Parser::default(), &[&big]),
        [Ev::Overflow(opt::NEW_ENVIRON)]
    );
}

#[test]
fn garbage_after_iac() {
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
fn synch_discards_data_but_not_commands() {
    let mut p = Parser::default();
    p.set_synch(true);
    let got = run(&mut p, &[b"junk\xff\xfd\x01more\xff\xf2", b"kept"]);
    assert_eq!(got, [Ev::Do(1), Ev::Cmd(DM), d(b"kept")]);
    assert!(!p.synch());
}

#[test]
fn writer_escaping() {
    let mut out = Vec::new();
    escape_data(b"a\xffb\nc\rd\r\n", &mut out);
    assert_eq!(out, b"a\xff\xffb\r\nc\r\0d\r\n");
    // request_negotiation: IAC SB opt escaped-bytes IAC SE (RFC 855).
    out.clear();
    encode_subnegotiation(1, &[1, 2, 3], &mut out);
    assert_eq!(out, [0xff, 0xfa, 0x01, 0x01, 0x02, 0x03, 0xff, 0xf0]);
    out.clear();
    encode_subnegotiation(1, &[0xff], &mut out);
    assert_eq!(out, [0xff, 0xfa, 0x01, 0xff, 0xff, 0xff, 0xf0]);
    out.clear();
    encode_negotiation(DO, opt::LINEMODE, &mut out);
    encode_command(AYT, &mut out);
    assert_eq!(out, [0xff, 0xfd, 34, 0xff, 0xf6]);
}
