//! Deterministic fuzzing on stable Rust: a seeded PRNG, a run budget (a fixed
//! number of seeds in the normal suite, or wall-clock time with
//! `MARLINE_FUZZ_SECONDS`), the corpus under `fuzz/corpus/`, and a per-thread
//! allocation counter for "bounded memory" checks.
//!
//! Every harness is `run_seeds(name, default_count, |rng| ...)`: it replays the
//! seeds listed in `fuzz/corpus/<name>.seeds` first, then fresh ones. A failing
//! seed is printed so it can be appended to that file (and so stays replayed
//! in every run).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// splitmix64: tiny, fast, and good enough to drive a fuzzer.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        (self.next() % den as u64) < num as u64
    }
    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
    /// Bytes biased towards what matters to telnet: IAC, the command bytes,
    /// CR, LF, NUL, small option numbers.
    pub fn telnet_bytes(&mut self, n: usize) -> Vec<u8> {
        const HOT: &[u8] = &[255, 255, 255, 240, 241, 242, 246, 249, 250, 251, 252, 253, 254, 13, 13, 10, 0, 1, 3, 24, 31, 39];
        (0..n)
            .map(|_| if self.chance(1, 3) { *self.pick(HOT) } else { self.byte() })
            .collect()
    }
}

/// How long the harnesses run: `MARLINE_FUZZ_SECONDS` (long-run mode), or
/// `None` for the normal suite's fixed seed count.
pub fn fuzz_seconds() -> Option<Duration> {
    std::env::var("MARLINE_FUZZ_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).map(Duration::from_secs_f64)
}

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus")
}

/// The seeds recorded in `fuzz/corpus/<name>.seeds` (one per line, `#` starts
/// a comment; decimal or 0x hex).
pub fn corpus_seeds(name: &str) -> Vec<u64> {
    let path = corpus_dir().join(format!("{name}.seeds"));
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap().trim();
            if l.is_empty() {
                None
            } else if let Some(h) = l.strip_prefix("0x") {
                u64::from_str_radix(h, 16).ok()
            } else {
                l.parse().ok()
            }
        })
        .collect()
}

/// The raw inputs in `fuzz/corpus/<dir>/` (sorted by name).
pub fn corpus_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(corpus_dir().join(dir)) else { return Vec::new() };
    let mut v: Vec<(String, Vec<u8>)> = rd
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).ok()?))
        })
        .collect();
    v.sort();
    v
}

/// Runs `f` on the corpus seeds of `name`, then on fresh seeds: `default_count`
/// of them (0, 1, 2, …) in the normal suite, or as many as fit in
/// `MARLINE_FUZZ_SECONDS` (seeds from the clock). Returns the number run.
pub fn run_seeds(name: &str, default_count: u64, mut f: impl FnMut(&mut Rng)) -> u64 {
    let mut one = |seed: u64| {
        let mut rng = Rng::new(seed);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut rng)));
        if let Err(e) = result {
            eprintln!("FUZZ FAILURE in {name}: seed {seed:#x} (add it to fuzz/corpus/{name}.seeds)");
            std::panic::resume_unwind(e);
        }
    };
    let mut n = 0;
    for seed in corpus_seeds(name) {
        one(seed);
        n += 1;
    }
    match fuzz_seconds() {
        None => {
            for seed in 0..default_count {
                one(seed);
                n += 1;
            }
        }
        Some(d) => {
            let start = Instant::now();
            let base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
            let mut i = 0u64;
            while start.elapsed() < d {
                one(base.wrapping_add(i.wrapping_mul(0x9E37_79B9)));
                i += 1;
                n += 1;
            }
            println!("{name}: {n} seeds in {:?}", start.elapsed());
        }
    }
    n
}

// ----- allocation accounting -----

/// The system allocator, counting the bytes each thread has live (allocated
/// by it and not yet freed by it). Install with
/// `#[global_allocator] static A: fuzz_util::Counting = fuzz_util::Counting;`.
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v)
            }
        });
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping touches only const-initialised thread-locals (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes this thread has live now.
pub fn live_bytes() -> isize {
    LIVE.with(|l| l.get())
}

/// Resets this thread's peak to its current live count.
pub fn reset_peak() {
    let v = live_bytes();
    PEAK.with(|p| p.set(v));
}

/// The highest live count since the last [`reset_peak`].
pub fn peak_bytes() -> isize {
    PEAK.with(|p| p.get())
}
