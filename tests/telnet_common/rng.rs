//! A tiny xorshift64 generator for the telnet sans-IO tests: deterministic, no dependency.
//! Included by path from the integration tests and from the codec's unit tests.
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    pub fn pick(&mut self, xs: &[u8]) -> u8 {
        xs[self.below(xs.len() as u64) as usize]
    }
}
