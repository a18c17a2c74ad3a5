//! Differential test of the telnet parser against libtelnet (Debian's libtelnet-dev).
//!
//! `tests/c/libtelnet_events.c` is compiled with `cc` into the cargo target tmpdir and fed
//! random and adversarial streams in random chunks; our parser gets the same stream in
//! different random chunks; both parses are printed in one canonical line format and must
//! match exactly. The test fails (never skips) if `cc` or libtelnet is missing.
//!
//! Normalisation, applied only where the two differ by design:
//! - Adjacent data events are merged on both sides (where data is cut depends on chunks).
//! - libtelnet 0.21 (Debian's) has no NVT newline translation on receive, so its data is
//!   translated here by the RFC 854 rules we implement: CR LF → LF, CR NUL → CR, CR then
//!   another byte → both (that byte unexamined). A CR ending a run of data that is followed
//!   by a command is delivered (ours: CR then IAC → CR); a CR at the very end of the stream,
//!   in plain data, is held back (ours waits for the next byte). The helper feeds the last
//!   byte on its own after a `LAST` line, so a DATA line after `LAST` says the stream ended
//!   in plain data.
//! - libtelnet's warnings are dropped: it warns about malformed TTYPE/ENVIRON/… payloads
//!   and about IAC-other inside SB; both of us then deliver the same events.
//! - After a subnegotiation overflow the two diverge on purpose (libtelnet parses the rest
//!   of the payload as data; we discard it and the connection is dropped), so the
//!   comparison ends at the overflow line. Our bound is set to libtelnet's, 16384 bytes.
//! - Command(x) and Unhandled(x) both print as `IAC x`, as libtelnet has one event for both
//!   (the classification is covered by the codec's own tests).
//! - Byte 86 (COMPRESS2) never appears in the streams: libtelnet starts zlib inflation after
//!   IAC SB 86 … IAC SE, which we do not implement.

#[path = "telnet_common/rng.rs"]
mod rng;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use marline::telnet::codec::{Event, Parser};
use rng::Rng;

const LIBTELNET_SB_LIMIT: usize = 16384;
const COMPRESS2: u8 = 86;

fn helper() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/libtelnet_events.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libtelnet_events");
        assert!(
            Path::new("/usr/include/libtelnet.h").exists(),
            "libtelnet is not installed (/usr/include/libtelnet.h missing): \
             run `apt-get install -y libtelnet-dev`"
        );
        let result = Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .arg("-ltelnet")
            .output()
            .unwrap_or_else(|e| panic!("cannot run the C compiler `cc`: {e}"));
        assert!(
            result.status.success(),
            "compiling {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&result.stderr)
        );
        out
    })
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + 2);
    s.push('[');
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s.push(']');
    s
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .expect("[hex]");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// libtelnet's canonical output for `stream` fed in `chunks` (sizes, cycled).
fn libtelnet(stream: &[u8], chunks: &[usize]) -> Vec<String> {
    let mut child = Command::new(helper())
        .args(chunks.iter().map(|c| c.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run libtelnet_events");
    let mut stdin = child.stdin.take().unwrap();
    let input = stream.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("libtelnet_events output");
    writer.join().unwrap().expect("write to libtelnet_events");
    assert!(
        out.status.success(),
        "libtelnet_events failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    normalise_libtelnet(String::from_utf8(out.stdout).unwrap().lines())
}

/// NVT receive translation of one run of data (see the module comment).
fn nvt(run: &[u8], at_stream_end: bool, out: &mut Vec<String>) {
    let mut data = Vec::with_capacity(run.len());
    let mut i = 0;
    while i < run.len() {
        if run[i] != b'\r' {
            data.push(run[i]);
            i += 1;
            continue;
        }
        match run.get(i + 1) {
            Some(b'\n') => data.push(b'\n'),
            Some(0) => data.push(b'\r'),
            Some(&b) => data.extend([b'\r', b]),
            None if at_stream_end => {}
            None => data.push(b'\r'),
        }
        i += 2;
    }
    if !data.is_empty() {
        out.push(format!("DATA {}", hex(&data)));
    }
}

fn normalise_libtelnet<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    let (mut seen_last, mut data_after_last) = (false, false);
    for line in lines {
        if let Some(h) = line.strip_prefix("DATA ") {
            run.extend(unhex(h));
            data_after_last = seen_last;
        } else if line == "LAST" {
            seen_last = true;
        } else if line.starts_with("WARNING ") || line.starts_with("ERROR ") {
            continue;
        } else {
            nvt(&std::mem::take(&mut run), false, &mut out);
            out.push(line.to_string());
            if line == "OVERFLOW" {
                return out;
            }
        }
    }
    nvt(&run, data_after_last, &mut out);
    out
}

/// Our canonical output for `stream` fed in `chunks` (sizes, cycled).
fn ours(stream: &[u8], chunks: &[usize]) -> Vec<String> {
    let mut p = Parser::new(LIBTELNET_SB_LIMIT);
    let mut out: Vec<String> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut overflowed = false;
    let mut pos = 0;
    let mut k = 0;
    while pos < stream.len() && !overflowed {
        let n = chunks[k % chunks.len()].min(stream.len() - pos);
        k += 1;
        p.feed(&stream[pos..pos + n], &mut |e| {
            if overflowed {
                return;
            }
            let line = match e {
                Event::Data(s) => {
                    data.extend_from_slice(s);
                    return;
                }
                Event::Command(c) | Event::Unhandled(c) => format!("IAC {c}"),
                Event::Will(o) => format!("WILL {o}"),
                Event::Wont(o) => format!("WONT {o}"),
                Event::Do(o) => format!("DO {o}"),
                Event::Dont(o) => format!("DONT {o}"),
                Event::Subnegotiation(o, s) => format!("SB {o} {}", hex(s)),
                Event::SubnegotiationOverflow(_) => {
                    overflowed = true;
                    "OVERFLOW".to_string()
                }
            };
            if !data.is_empty() {
                out.push(format!("DATA {}", hex(&std::mem::take(&mut data))));
            }
            out.push(line);
        });
        pos += n;
    }
    if !data.is_empty() {
        out.push(format!("DATA {}", hex(&data)));
    }
    out
}

const SPECIAL: &[u8] = &[
    255, 255, 250, 240, 251, 252, 253, 254, 241, 242, 249, 239, 13, 10, 0, 24, 31,
];

/// A random stream built from telnet-shaped pieces and raw garbage.
fn random_stream(rng: &mut Rng) -> Vec<u8> {
    let mut s = Vec::new();
    for _ in 0..rng.below(24) {
        match rng.below(12) {
            0 => s.extend((0..rng.below(20)).map(|_| b'a' + rng.below(26) as u8)),
            1 => s.extend_from_slice(
                [&b"\r\n"[..], b"\r\0", b"\r", b"\n", b"\r\r\n"][rng.below(5) as usize],
            ),
            2 => s.extend([255, 255]),
            3 => s.extend([255, rng.byte()]),
            4 => s.extend([255, 251 + rng.below(4) as u8, rng.byte()]),
            5 | 6 => {
                s.extend([255, 250, rng.byte()]);
                for _ in 0..rng.below(12) {
                    if rng.below(4) == 0 {
                        s.push(rng.pick(SPECIAL));
                    } else {
                        s.push(rng.byte());
                    }
                }
                match rng.below(6) {
                    0 => s.extend([255, rng.byte()]), // cut short (or escaped, or ended)
                    1 => {}                           // unterminated for now
                    _ => s.extend([255, 240]),
                }
            }
            7 | 8 => s.extend((0..rng.below(8)).map(|_| rng.pick(SPECIAL))),
            _ => s.extend((0..rng.below(16)).map(|_| rng.byte())),
        }
    }
    s
}

fn random_chunks(rng: &mut Rng, len: usize) -> Vec<usize> {
    match rng.below(4) {
        0 => vec![1],
        1 => vec![len.max(1)],
        _ => (0..1 + rng.below(6))
            .map(|_| 1 + rng.below(9) as usize)
            .collect(),
    }
}

fn compare(stream: &[u8], rng: &mut Rng) {
    let stream: Vec<u8> = stream
        .iter()
        .map(|&b| if b == COMPRESS2 { COMPRESS2 + 1 } else { b })
        .collect();
    let theirs = libtelnet(&stream, &random_chunks(rng, stream.len()));
    let mine = ours(&stream, &random_chunks(rng, stream.len()));
    let shown = &stream[..stream.len().min(256)];
    assert_eq!(
        mine,
        theirs,
        "stream ({} bytes) starting {}",
        stream.len(),
        hex(shown)
    );
}

#[test]
fn adversarial_streams_match_libtelnet() {
    let mut rng = Rng(0x51_7cc1_b727_220a);
    let mut cases: Vec<Vec<u8>> = vec![
        b"plain text only".to_vec(),
        b"a\r\nb\r\0c\rd\r\r\ne\r".to_vec(),
        b"x\r\xff\xff\r\xff\xf1\r\xff\xfb\x01\r".to_vec(),
        b"\xff\xfa\x18\x00xterm\xff\xf0".to_vec(),
        b"\xff\xfa\x12hello\xf0world\xff\xf0".to_vec(),
        b"\xff\xfa\x1fab\xff\xfb\x01cd".to_vec(),
        b"\xff\xfa\x1fab\xff\xfa\x18x\xff\xf0".to_vec(),
        b"\xff\xfa\xff\xf0\xff\xf0".to_vec(),
        b"\xff\xfa\x05\xff\xff\xff\xff\xff\xf0".to_vec(),
        b"\xff".to_vec(),
        b"\xff\xfa".to_vec(),
        b"\xff\xfa\x01abc".to_vec(),
        b"\xff\xfa\x01abc\xff".to_vec(),
        b"\xff\xfb".to_vec(),
        b"\xff\xf0\xff\xf0".to_vec(),
    ];
    for b in 0..=255u8 {
        cases.push(vec![b'a', 255, b, b'z', b'\r', 255, b, b'\n']);
    }
    for extra in [0usize, 1, 2] {
        for escaped_at_end in [false, true] {
            let mut s = vec![255, 250, 24];
            s.resize(3 + LIBTELNET_SB_LIMIT - 1 + extra, b'q');
            if escaped_at_end {
                s.extend([255, 255]);
            }
            s.extend(b"\xff\xf0tail\r\n");
            cases.push(s);
        }
    }
    for case in &cases {
        compare(case, &mut rng);
    }
}

#[test]
fn random_streams_match_libtelnet() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..600 {
        let stream = random_stream(&mut rng);
        compare(&stream, &mut rng);
    }
}
