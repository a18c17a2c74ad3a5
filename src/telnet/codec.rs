//! Telnet byte codec: the receive-side [`Parser`] and the send-side encoders.
//!
//! The parser is a state machine whose state survives chunk boundaries at every byte: a
//! stream split anywhere produces the same events (up to how [`Event::Data`] is cut).
//! Data costs one word-at-a-time scan for IAC/CR and one `Data` event per run (the data
//! between two other events, within one chunk): borrowed from the input when it holds no
//! escapes, else unescaped into one buffer, so 0xFF-dense or CR-dense data costs a copy,
//! not an event per escape.

use super::cmd::{DM, DO, DONT, IAC, SB, SE, WILL, WONT};

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0;

/// Default bound on a subnegotiation payload, in bytes (after IAC IAC unescaping).
pub const DEFAULT_MAX_SUBNEGOTIATION: usize = 4096;

/// One thing the parser found in the stream. Slices borrow the input (or the parser's
/// subnegotiation buffer, or a static one-byte slice) and live only for the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Application data, already unescaped (IAC IAC → 0xFF) and with NVT newlines
    /// translated (CR LF → LF, CR NUL → CR). Never empty.
    Data(&'a [u8]),
    /// A simple command: NOP DM BRK IP AO AYT EC EL GA EOR (see [`super::cmd::is_simple`]).
    /// All data before it has been delivered first.
    Command(u8),
    /// IAC WILL option.
    Will(u8),
    /// IAC WONT option.
    Wont(u8),
    /// IAC DO option.
    Do(u8),
    /// IAC DONT option.
    Dont(u8),
    /// IAC SB option payload IAC SE, with IAC IAC in the payload turned into 0xFF (a bare
    /// SE is payload). Also reported, with what was collected so far, when the
    /// subnegotiation is cut short by IAC followed by anything but SE or IAC — that IAC
    /// sequence is then processed as a command (libtelnet's recovery rule).
    Subnegotiation(u8, &'a [u8]),
    /// IAC followed by a byte that is not a known command (including SE outside a
    /// subnegotiation). Reported, never fatal.
    Unhandled(u8),
    /// The payload of a subnegotiation for this option exceeded the parser's bound. The
    /// rest of that subnegotiation is discarded without being buffered; the caller is
    /// expected to drop the connection as a protocol violation.
    SubnegotiationOverflow(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Plain data.
    Data,
    /// A CR ended the previous chunk; its meaning depends on the next byte.
    Cr,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT (the verb byte).
    Verb(u8),
    /// After IAC SB: the option byte comes next.
    SbOption,
    /// Inside a subnegotiation payload.
    Sb,
    /// After IAC inside a subnegotiation payload.
    SbIac,
}

/// Incremental telnet parser (receive side). No I/O; feed it bytes as they arrive.
///
/// Methods: [`Parser::new`], [`Parser::feed`], [`Parser::feed_until_will_or_wont`],
/// [`Parser::set_synch`], [`Parser::synch`], [`Parser::set_binary`], [`Parser::binary`],
/// [`Parser::max_subnegotiation`], [`Parser::set_max_subnegotiation`].
#[derive(Debug, Clone)]
pub struct Parser {
    state: State,
    max_subneg: usize,
    sb_option: u8,
    sb_overflowed: bool,
    sb_buf: Vec<u8>,
    synch: bool,
    binary: bool,
    /// Data of the current run that could not be borrowed from the input (escapes were
    /// taken out), gathered so that each run of data is one event: the first `data_len`
    /// bytes of this zero-filled scratch space (its length is its size).
    data_buf: Vec<u8>,
    data_len: usize,
    /// A piece of the current run, in the current input (start, end), not yet copied to
    /// `data_buf`: a run with one escape at its end is still delivered from the input.
    /// Kept here only between `scan_data` and the state machine (CR IAC); `scan_data`
    /// works on a local copy.
    held: (usize, usize),
    /// `feed_until_will_or_wont`: stop after the next WILL/WONT.
    stop_at_will_or_wont: bool,
    /// Set when the parse stopped there.
    stopped: bool,
}

/// Above this capacity the data buffer is released after each call, so an idle parser
/// keeps at most this much.
const DATA_BUF_KEEP: usize = 4096;

impl Default for Parser {
    /// A parser with the default subnegotiation bound ([`DEFAULT_MAX_SUBNEGOTIATION`]).
    fn default() -> Self {
        Parser::new(DEFAULT_MAX_SUBNEGOTIATION)
    }
}

impl Parser {
    /// A parser whose subnegotiation payloads may hold at most `max_subneg` bytes; a longer
    /// one is reported as [`Event::SubnegotiationOverflow`]. The buffer grows on demand and
    /// never beyond `max_subneg`.
    pub fn new(max_subneg: usize) -> Self {
        Parser {
            state: State::Data,
            max_subneg,
            sb_option: 0,
            sb_overflowed: false,
            sb_buf: Vec::new(),
            synch: false,
            binary: false,
            data_buf: Vec::new(),
            data_len: 0,
            held: (0, 0),
            stop_at_will_or_wont: false,
            stopped: false,
        }
    }

    /// The bound given to [`Parser::new`].
    pub fn max_subnegotiation(&self) -> usize {
        self.max_subneg
    }

    /// Change the subnegotiation bound. A subnegotiation already being collected is held to
    /// the new bound from its next payload byte on.
    pub fn set_max_subnegotiation(&mut self, max_subneg: usize) {
        self.max_subneg = max_subneg;
    }

    /// Turn Synch mode on or off (RFC 854). While on, application data is discarded but
    /// commands, negotiations and subnegotiations are still reported; receiving DM turns it
    /// off (DM is reported as `Command(DM)` either way). Turn it on when the transport
    /// learns that urgent data is pending.
    pub fn set_synch(&mut self, on: bool) {
        self.synch = on;
    }

    /// Whether Synch mode is on (see [`Parser::set_synch`]).
    pub fn synch(&self) -> bool {
        self.synch
    }

    /// Binary mode (for when the peer's TRANSMIT-BINARY option is on): CR is passed through
    /// untouched instead of being NVT-translated. IAC handling is unchanged. Off by default.
    /// A CR already held back at a chunk end is still translated by the NVT rules. To switch
    /// at the exact byte where the peer's WILL/WONT settles the option, parse with
    /// [`Parser::feed_until_will_or_wont`] and call this between the calls.
    pub fn set_binary(&mut self, on: bool) {
        self.binary = on;
    }

    /// Whether binary mode is on (see [`Parser::set_binary`]).
    pub fn binary(&self) -> bool {
        self.binary
    }

    /// Parse `input`, calling `sink` for every event in stream order. Bytes that cannot be
    /// interpreted yet (a CR or an IAC sequence at the end of `input`) are remembered and
    /// resolved by the next call.
    ///
    /// Data comes as one [`Event::Data`] per run: all the data between two other events
    /// (or the call's ends) is one event, whatever escapes (IAC IAC, CR LF, CR NUL) it
    /// held. A run without escapes is borrowed from `input`; one with escapes is unescaped
    /// into a buffer the parser keeps (at most the size of `input`; released after the call
    /// when larger than 4 KiB). Otherwise nothing is allocated, except to collect a
    /// subnegotiation payload that spans chunks or contains IAC IAC (bounded by the
    /// maximum).
    pub fn feed<F: FnMut(Event<'_>)>(&mut self, input: &[u8], sink: &mut F) {
        self.stop_at_will_or_wont = false;
        self.parse(input, sink);
    }

    /// As [`Parser::feed`], but returns just after the first WILL or WONT event (the peer's
    /// side of an option changing, which may change how the following bytes are read:
    /// TRANSMIT-BINARY), with the number of bytes of `input` consumed; `input.len()` when
    /// there was none. Feed the rest in a further call.
    pub fn feed_until_will_or_wont<F: FnMut(Event<'_>)>(&mut self, input: &[u8], sink: &mut F) -> usize {
        self.stop_at_will_or_wont = true;
        self.parse(input, sink)
    }

    fn parse<F: FnMut(Event<'_>)>(&mut self, input: &[u8], sink: &mut F) -> usize {
        let n = input.len();
        let mut i = 0;
        self.stopped = false;
        while i < n && !self.stopped {
            match self.state {
                State::Data => i = self.scan_data(input, i, i, sink),
                State::Cr => {
                    self.state = State::Data;
                    match input[i] {
                        // The LF starts the next run of data: CR LF → LF.
                        LF => {}
                        NUL => {
                            self.keep_cr(input);
                            i += 1;
                        }
                        IAC => {
                            self.keep_cr(input);
                            self.state = State::Iac;
                            i += 1;
                        }
                        // CR then another byte → both; that byte is not re-examined.
                        _ => {
                            self.keep_cr(input);
                            i = self.scan_data(input, i, i + 1, sink);
                        }
                    }
                }
                State::Iac => {
                    let b = input[i];
                    self.state = State::Data;
                    if b != IAC {
                        // Data gathered before the IAC goes first.
                        let mut held = std::mem::take(&mut self.held);
                        self.flush(input, &mut held, i, i, sink);
                    }
                    match b {
                        // IAC IAC: the second IAC starts the next run of data as a literal.
                        IAC => i = self.scan_data(input, i, i + 1, sink),
                        WILL | WONT | DO | DONT => {
                            self.state = State::Verb(b);
                            i += 1;
                        }
                        SB => {
                            self.state = State::SbOption;
                            i += 1;
                        }
                        _ => {
                            self.command(b, sink);
                            i += 1;
                        }
                    }
                }
                State::Verb(verb) => {
                    self.state = State::Data;
                    self.negotiation(verb, input[i], sink);
                    i += 1;
                }
                State::SbOption => {
                    self.sb_option = input[i];
                    self.sb_overflowed = false;
                    self.sb_buf.clear();
                    self.state = State::Sb;
                    i += 1;
                }
                State::Sb => i = self.scan_subnegotiation(input, i, sink),
                State::SbIac => {
                    let b = input[i];
                    match b {
                        SE => {
                            self.state = State::Data;
                            self.finish_subnegotiation(sink);
                            i += 1;
                        }
                        IAC => {
                            self.state = State::Sb;
                            self.collect(&[IAC], sink);
                            i += 1;
                        }
                        // Cut short: deliver what we have, then treat IAC b as a command
                        // sequence (do not advance: the Iac state consumes b).
                        _ => {
                            self.finish_subnegotiation(sink);
                            self.state = State::Iac;
                        }
                    }
                }
            }
        }
        let mut held = std::mem::take(&mut self.held);
        self.flush(input, &mut held, i, i, sink);
        if self.data_buf.len() > DATA_BUF_KEEP {
            self.data_buf = Vec::new();
        }
        i
    }

    /// Scan plain data from `from`, with the current run of data starting at `start`
    /// (`start..from` is already known to be literal). Returns where to continue.
    ///
    /// Escapes are taken out of the run ([`Parser::keep`]); the run is delivered as one
    /// event before the next non-data event or at the end of the input
    /// ([`Parser::flush`]).
    #[inline(always)]
    fn scan_data<F: FnMut(Event<'_>)>(
        &mut self,
        input: &[u8],
        mut start: usize,
        mut from: usize,
        sink: &mut F,
    ) -> usize {
        let n = input.len();
        // The held piece lives in a local while scanning (see `held`).
        let mut held = std::mem::take(&mut self.held);
        loop {
            // IAC sequences often come back to back: look at the next byte before scanning.
            let p = if input.get(from) == Some(&IAC) {
                from
            } else {
                let rest = &input[from..];
                let found = if self.binary {
                    find_iac(rest)
                } else {
                    find_iac_or_cr(rest)
                };
                let Some(off) = found else {
                    self.flush(input, &mut held, start, n, sink);
                    return n;
                };
                from + off
            };
            if input[p] == IAC {
                // The common two- and three-byte IAC sequences are handled here, inline,
                // when they are complete in this chunk; anything else (SB, or a sequence
                // cut by the chunk end) goes back to the state machine.
                let Some(&b) = input.get(p + 1) else {
                    self.flush(input, &mut held, start, p, sink);
                    self.state = State::Iac;
                    return n;
                };
                match b {
                    // IAC IAC: the first IAC is the literal 0xFF and stays in the run; the
                    // second is taken out.
                    IAC => {
                        held = self.keep(input, held, start, p + 1);
                        start = p + 2;
                        from = p + 2;
                        continue;
                    }
                    WILL | WONT | DO | DONT => {
                        let Some(&opt) = input.get(p + 2) else {
                            self.flush(input, &mut held, start, p, sink);
                            self.state = State::Verb(b);
                            return n;
                        };
                        self.flush(input, &mut held, start, p, sink);
                        self.negotiation(b, opt, sink);
                        if self.stopped {
                            return p + 3;
                        }
                        start = p + 3;
                        from = p + 3;
                        continue;
                    }
                    SB => {
                        self.flush(input, &mut held, start, p, sink);
                        self.state = State::SbOption;
                        return p + 2;
                    }
                    _ => {
                        self.flush(input, &mut held, start, p, sink);
                        self.command(b, sink);
                        start = p + 2;
                        from = p + 2;
                        continue;
                    }
                }
            }
            // A CR in NVT mode.
            if p + 1 == n {
                self.flush(input, &mut held, start, p, sink);
                self.state = State::Cr;
                return n;
            }
            match input[p + 1] {
                // CR LF → LF: the CR is taken out; the LF starts the next run.
                LF => {
                    held = self.keep(input, held, start, p);
                    start = p + 1;
                }
                // CR NUL → CR: the NUL is taken out.
                NUL => {
                    held = self.keep(input, held, start, p + 1);
                    start = p + 2;
                }
                // CR IAC → CR, then the IAC sequence (which may be IAC IAC, more data).
                IAC => {
                    self.held = self.keep(input, held, start, p + 1);
                    self.state = State::Iac;
                    return p + 2;
                }
                // CR then another byte: both stay in the run, unexamined.
                _ => {}
            }
            from = p + 2;
        }
    }

    /// Scan subnegotiation payload from `i`. Returns where to continue.
    fn scan_subnegotiation<F: FnMut(Event<'_>)>(
        &mut self,
        input: &[u8],
        i: usize,
        sink: &mut F,
    ) -> usize {
        let rest = &input[i..];
        let Some(off) = find_iac(rest) else {
            self.collect(rest, sink);
            return input.len();
        };
        let payload = &rest[..off];
        // Fast path: the whole subnegotiation is in this chunk, nothing escaped.
        if self.sb_buf.is_empty()
            && !self.sb_overflowed
            && rest.get(off + 1) == Some(&SE)
            && payload.len() <= self.max_subneg
        {
            self.state = State::Data;
            sink(Event::Subnegotiation(self.sb_option, payload));
            return i + off + 2;
        }
        self.collect(payload, sink);
        self.state = State::SbIac;
        i + off + 1
    }

    /// Append payload bytes, enforcing the bound.
    fn collect<F: FnMut(Event<'_>)>(&mut self, bytes: &[u8], sink: &mut F) {
        if self.sb_overflowed || bytes.is_empty() {
            return;
        }
        let needed = self.sb_buf.len() + bytes.len();
        if needed > self.max_subneg {
            self.sb_overflowed = true;
            self.sb_buf.clear();
            sink(Event::SubnegotiationOverflow(self.sb_option));
            return;
        }
        if needed > self.sb_buf.capacity() {
            let floor = needed.max(64).min(self.max_subneg);
            let want = (self.sb_buf.capacity() * 2).clamp(floor, self.max_subneg);
            self.sb_buf.reserve_exact(want - self.sb_buf.len());
        }
        self.sb_buf.extend_from_slice(bytes);
    }

    fn finish_subnegotiation<F: FnMut(Event<'_>)>(&mut self, sink: &mut F) {
        if !self.sb_overflowed {
            sink(Event::Subnegotiation(self.sb_option, &self.sb_buf));
        }
        self.sb_buf.clear();
        self.sb_overflowed = false;
    }

    fn command<F: FnMut(Event<'_>)>(&mut self, b: u8, sink: &mut F) {
        if super::cmd::is_simple(b) {
            if b == DM {
                self.synch = false;
            }
            sink(Event::Command(b));
        } else {
            sink(Event::Unhandled(b));
        }
    }

    fn negotiation<F: FnMut(Event<'_>)>(&mut self, verb: u8, opt: u8, sink: &mut F) {
        sink(match verb {
            WILL => Event::Will(opt),
            WONT => Event::Wont(opt),
            DO => Event::Do(opt),
            _ => Event::Dont(opt),
        });
        self.stopped = self.stop_at_will_or_wont && matches!(verb, WILL | WONT);
    }

    /// The run's data `input[from..to]` is followed by an escaped byte that is taken out:
    /// returns it as the new held piece, after moving the one held before into `data_buf`.
    #[inline(always)]
    fn keep(&mut self, input: &[u8], held: (usize, usize), from: usize, to: usize) -> (usize, usize) {
        if held.0 < held.1 {
            self.gather(input, held);
        }
        (from, to)
    }

    /// Adds the CR that a CR NUL, CR IAC or CR other held back at the end of the previous
    /// input stands for.
    fn keep_cr(&mut self, input: &[u8]) {
        let held = std::mem::take(&mut self.held);
        self.gather(input, held);
        if !self.synch {
            self.make_room(input.len() + 1);
            self.data_buf[self.data_len] = CR;
            self.data_len += 1;
        }
    }

    /// Moves a held piece into `data_buf` (not in Synch mode: the data is discarded). The
    /// room made covers everything the rest of the input can add to the run, so the
    /// buffer grows at most once a call.
    #[inline(always)]
    fn gather(&mut self, input: &[u8], (a, b): (usize, usize)) {
        if self.synch || a == b {
            return;
        }
        self.make_room(input.len() - a + 1);
        let at = self.data_len;
        match (input.get(a..a + 8), self.data_buf.get_mut(at..at + 8)) {
            // Dense escapes leave short pieces: one 8-byte copy (the bytes past the piece
            // are overwritten later or never delivered) instead of a call to memcpy.
            (Some(from), Some(to)) if b - a <= 8 => to.copy_from_slice(from),
            _ => self.data_buf[at..at + b - a].copy_from_slice(&input[a..b]),
        }
        self.data_len += b - a;
    }

    /// Makes `data_buf` hold at least `more` bytes past what it has gathered.
    #[inline(always)]
    fn make_room(&mut self, more: usize) {
        if self.data_buf.len() < self.data_len + more {
            self.grow(more);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, more: usize) {
        self.data_buf.resize(self.data_len + more, 0);
    }

    /// Delivers the current run, as one event: what `data_buf` gathered, the `held` piece
    /// (taken), then `input[from..to]` (the rest of the run). Borrowed from the input when
    /// the run is one piece of it (the common case, kept inline).
    #[inline(always)]
    fn flush<F: FnMut(Event<'_>)>(&mut self, input: &[u8], held: &mut (usize, usize), from: usize, to: usize, sink: &mut F) {
        let (a, b) = std::mem::take(held);
        if self.data_len == 0 && !self.synch && (a == b || from == to) {
            let run = if a < b { &input[a..b] } else { &input[from..to] };
            if !run.is_empty() {
                sink(Event::Data(run));
            }
            return;
        }
        self.flush_gathered(input, (a, b), from, to, sink);
    }

    /// [`Parser::flush`] for a run in pieces, or in Synch mode.
    #[inline(never)]
    fn flush_gathered<F: FnMut(Event<'_>)>(&mut self, input: &[u8], held: (usize, usize), from: usize, to: usize, sink: &mut F) {
        if !self.synch {
            self.gather(input, held);
            self.gather(input, (from, to));
            sink(Event::Data(&self.data_buf[..self.data_len]));
        }
        self.data_len = 0;
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Non-zero iff some byte of `v` is zero; the lowest set 0x80 bit marks the first one
/// (bits above the first zero byte may be false positives, which we never look at).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Position of the first IAC (0xFF) in `s`.
#[inline]
pub(crate) fn find_iac(s: &[u8]) -> Option<usize> {
    find(s, iac_mask, |b| b == IAC)
}

/// Position of the first IAC (0xFF) or CR in `s`.
#[inline]
pub(crate) fn find_iac_or_cr(s: &[u8]) -> Option<usize> {
    find(s, iac_or_cr_mask, |b| b == IAC || b == CR)
}

#[inline(always)]
fn iac_mask(w: u64) -> u64 {
    zero_bytes(!w)
}

#[inline(always)]
fn iac_or_cr_mask(w: u64) -> u64 {
    const CRS: u64 = LO * CR as u64;
    zero_bytes(!w) | zero_bytes(w ^ CRS)
}

/// The first byte of `s` that `mask` (per little-endian word, [`zero_bytes`]-style) or
/// `hit` (per byte, for the tail) marks. The first word is looked at inline: between dense
/// escapes the next one is nearly always there. Longer scans go to [`find_in_words`], a
/// function of its own, so that its loop keeps its constants in registers.
#[inline(always)]
fn find(s: &[u8], mask: impl Fn(u64) -> u64, hit: impl Fn(u8) -> bool) -> Option<usize> {
    if let Some(first) = s.first_chunk::<8>() {
        let z = mask(u64::from_le_bytes(*first));
        if z != 0 {
            return Some((z.trailing_zeros() / 8) as usize);
        }
        return find_in_words(s, 8, mask, hit);
    }
    find_in_words(s, 0, mask, hit)
}

#[inline(never)]
fn find_in_words(s: &[u8], from: usize, mask: impl Fn(u64) -> u64, hit: impl Fn(u8) -> bool) -> Option<usize> {
    let mut words = s[from..].chunks_exact(8);
    let total = words.len();
    while let Some(w) = words.next() {
        let z = mask(u64::from_le_bytes(w.try_into().unwrap()));
        if z != 0 {
            let done = total - words.len() - 1;
            return Some(from + done * 8 + (z.trailing_zeros() / 8) as usize);
        }
    }
    let at = from + total * 8;
    words.remainder().iter().position(|&b| hit(b)).map(|p| at + p)
}

/// Escape application data for sending in NVT mode: 0xFF is doubled, LF becomes CR LF, and
/// a CR not followed by LF becomes CR NUL. Appends to `out`.
///
/// `data` is one write, encoded on its own: a CR at its very end is a bare CR (CR NUL) even
/// if the next write starts with LF, which then becomes CR LF by itself; the reader gets
/// CR then newline, exactly what was written. [`escape_data_sequence`] encodes one write
/// given in several buffers.
pub fn escape_data(data: &[u8], out: &mut Vec<u8>) {
    escape_data_sequence([data], out)
}

/// [`escape_data`] for one write given in pieces (a write_sequence): the same bytes as
/// escaping their concatenation, so a CR ending one piece and an LF starting the next are
/// one CR LF. Appends to `out`.
pub fn escape_data_sequence<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    // The previous piece ended in a CR, not sent yet: its meaning depends on the next byte.
    let mut cr = false;
    for data in pieces {
        let mut i = 0;
        if cr && !data.is_empty() {
            cr = false;
            if data[0] == LF {
                out.extend_from_slice(b"\r\n");
                i = 1;
            } else {
                out.extend_from_slice(b"\r\0");
            }
        }
        out.reserve(data.len() + data.len() / 16 + 2);
        let mut start = i;
        while let Some(off) = find_special_out(&data[i..]) {
            let p = i + off;
            out.extend_from_slice(&data[start..p]);
            match data[p] {
                IAC => out.extend_from_slice(&[IAC, IAC]),
                LF => out.extend_from_slice(b"\r\n"),
                _ => match data.get(p + 1) {
                    Some(&LF) => {
                        out.extend_from_slice(b"\r\n");
                        i = p + 2;
                        start = i;
                        continue;
                    }
                    Some(_) => out.extend_from_slice(b"\r\0"),
                    None => cr = true,
                },
            }
            i = p + 1;
            start = i;
        }
        out.extend_from_slice(&data[start..]);
    }
    if cr {
        out.extend_from_slice(b"\r\0");
    }
}

/// Escape data for sending in binary mode (TRANSMIT-BINARY on): only 0xFF is doubled.
/// Appends to `out`.
pub fn escape_binary(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + 2);
    let mut rest = data;
    while let Some(p) = find_iac(rest) {
        out.extend_from_slice(&rest[..=p]);
        out.push(IAC);
        rest = &rest[p + 1..];
    }
    out.extend_from_slice(rest);
}

fn find_special_out(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == IAC || b == CR || b == LF)
}

/// Append a negotiation, IAC `verb` `opt`, where `verb` is WILL, WONT, DO or DONT.
pub fn encode_negotiation(verb: u8, opt: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, verb, opt]);
}

/// Append a subnegotiation, IAC SB `opt` payload IAC SE, with 0xFF in the payload doubled
/// (RFC 855). No newline translation is applied to the payload.
/// Example: opt 1, data 01 02 03 → FF FA 01 01 02 03 FF F0.
pub fn encode_subnegotiation(opt: u8, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, SB, opt]);
    escape_binary(data, out);
    out.extend_from_slice(&[IAC, SE]);
}

/// Append a command, IAC `cmd` (for example NOP, GA, or DM for the data part of a Synch).
pub fn encode_command(cmd: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, cmd]);
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
