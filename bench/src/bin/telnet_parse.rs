//! telnet_parse plain|iac|ff|crnul MIB REPS: feeds MIB MiB of generated
//! telnet input to marline's `telnet::codec::Parser::feed` in 64 KiB chunks,
//! REPS times, and checks every data byte it yields against what was encoded
//! (memcmp at a running offset, so the check costs little next to the parse).
//! bench/peers/libtelnet_parse.c does the same with libtelnet.

use marline::telnet::codec::{Event, Parser, DEFAULT_MAX_SUBNEGOTIATION};
use marline_bench::{mono_ns, table, PERIOD};

/// Checks data events against the expected data stream, repeated.
struct Check<'a> {
    want: &'a [u8],
    pos: usize,
    ok: bool,
    bytes: u64,
}

impl Check<'_> {
    fn data(&mut self, d: &[u8]) {
        if self.pos == self.want.len() {
            self.pos = 0;
        }
        let end = self.pos + d.len();
        self.ok &= end <= self.want.len() && &self.want[self.pos..end] == d;
        self.pos = end;
        self.bytes += d.len() as u64;
    }
}

/// The input and the data bytes it encodes, by mode:
/// - plain: printable bytes;
/// - iac: blocks of 4 printable bytes, IAC IAC (a data 255) and IAC NOP;
/// - ff: a printable byte then IAC IAC, repeated (0xFF-dense data);
/// - crnul: a printable byte then CR NUL (a data CR), repeated.
fn generate(mode: &str, len: usize) -> (Vec<u8>, Vec<u8>) {
    let t = table();
    let printable = |i: usize| 32 + t[i % PERIOD] % 95;
    let mut input = Vec::with_capacity(len);
    let mut data = Vec::with_capacity(len);
    let mut i = 0;
    while input.len() < len {
        let (k, wire, byte): (usize, &[u8], Option<u8>) = match mode {
            "iac" => (4, &[255, 255, 255, 241], Some(255)),
            "ff" => (1, &[255, 255], Some(255)),
            "crnul" => (1, b"\r\0", Some(b'\r')),
            _ => (1, &[], None), // plain
        };
        for _ in 0..k {
            input.push(printable(i));
            data.push(printable(i));
            i += 1;
        }
        input.extend_from_slice(wire);
        data.extend(byte);
    }
    (input, data)
}

/// The measured part: `reps` times `input` in 64 KiB chunks; returns the count of
/// non-data events. Not inlined, so callgrind can count it alone
/// (`valgrind --tool=callgrind --toggle-collect='*telnet_parse*parse*'`).
#[inline(never)]
fn parse(input: &[u8], reps: usize, check: &mut Check<'_>) -> u64 {
    let mut commands = 0u64;
    let mut parser = Parser::new(DEFAULT_MAX_SUBNEGOTIATION);
    let mut sink = |e: Event<'_>| match e {
        Event::Data(d) => check.data(d),
        _ => commands += 1,
    };
    for _ in 0..reps {
        for chunk in input.chunks(64 * 1024) {
            parser.feed(chunk, &mut sink);
        }
    }
    commands
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("plain", String::as_str);
    if !["plain", "iac", "ff", "crnul"].contains(&mode) {
        eprintln!("usage: telnet_parse plain|iac|ff|crnul MIB REPS");
        std::process::exit(2);
    }
    let mib: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let (input, data) = generate(mode, mib << 20);
    let mut check = Check { want: &data, pos: 0, ok: true, bytes: 0 };
    let t0 = mono_ns();
    let commands = parse(&input, reps, &mut check);
    let secs = (mono_ns() - t0) as f64 / 1e9;
    if !check.ok || check.bytes != (data.len() * reps) as u64 {
        println!("FAIL the parser's data differs from what was encoded");
        std::process::exit(1);
    }
    let total = (input.len() * reps) as f64 / (1024.0 * 1024.0);
    println!("RESULT value={:.1} unit=MiB/s checked={} commands={commands} byte-exact: pass", total / secs, data.len() * reps);
}
