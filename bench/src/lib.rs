//! What the load generator and the peers share: the byte pattern every
//! stream carries, so every echoed or received byte can be checked.
//!
//! Stream `seed` carries byte `i` = `TABLE[(seed + i) % PERIOD]`. The table
//! holds `2 * PERIOD` bytes of xorshift output (the second half repeats the
//! first), so any run of up to `PERIOD` bytes is one contiguous slice and is
//! checked with one memcmp. PERIOD is prime and larger than 64 KiB, so a
//! dropped, duplicated or reordered run of any length a server could plausibly
//! mangle shifts the pattern and fails the comparison. bench/peers/pattern.h
//! generates the same table in C.

/// Length of the pattern's period (the Fermat prime 65537).
pub const PERIOD: usize = 65537;

/// The pattern table, `2 * PERIOD` bytes.
pub fn table() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut t = Vec::with_capacity(2 * PERIOD);
    for _ in 0..PERIOD {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        t.push((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8);
    }
    t.extend_from_within(..PERIOD);
    t
}

/// The `len` (≤ PERIOD) bytes of stream `seed` starting at offset `at`.
pub fn slice(table: &[u8], seed: u64, at: u64, len: usize) -> &[u8] {
    debug_assert!(len <= PERIOD);
    let start = ((seed + at) % PERIOD as u64) as usize;
    &table[start..start + len]
}

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC: comparable across
/// processes on one machine).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
