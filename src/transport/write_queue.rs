//! The bytes a transport could not hand to the kernel at once, kept in order
//! and flushed with gather writes.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use crate::sys::MAX_IOV;

/// Small writes are appended to the last chunk up to this size, so a burst
/// of tiny writes costs neither one allocation nor one iovec each.
const COALESCE_LIMIT: usize = 16 * 1024;

struct Chunk {
    data: Vec<u8>,
    /// Sent as TCP urgent data (MSG_OOB): the urgent pointer ends with it.
    urgent: bool,
}

/// An ordered queue of unsent bytes.
#[derive(Default)]
pub struct WriteQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the first chunk already sent.
    head_sent: usize,
    len: usize,
}

/// Where a flush writes: `(buffers, urgent)` → bytes taken.
pub trait Sink {
    /// Writes some prefix of `bufs`; `urgent` marks data for MSG_OOB.
    fn write_bufs(&mut self, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize>;
}

impl<F: FnMut(&[IoSlice<'_>], bool) -> io::Result<usize>> Sink for F {
    fn write_bufs(&mut self, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize> {
        self(bufs, urgent)
    }
}

impl WriteQueue {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `data` onto the end of the queue.
    pub fn push(&mut self, data: &[u8]) {
        self.push_chunk(data, false);
    }

    /// Copies `data` onto the end of the queue as urgent data.
    pub fn push_urgent(&mut self, data: &[u8]) {
        self.push_chunk(data, true);
    }

    fn push_chunk(&mut self, data: &[u8], urgent: bool) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        if !urgent {
            // The head chunk is never appended to once partly sent.
            let sending = self.chunks.len() == 1 && self.head_sent > 0;
            if let Some(last) = self.chunks.back_mut() {
                if !last.urgent && !sending && last.data.len() + data.len() <= COALESCE_LIMIT {
                    last.data.extend_from_slice(data);
                    return;
                }
            }
        }
        let mut buf = Vec::with_capacity(if urgent { data.len() } else { data.len().max(256) });
        buf.extend_from_slice(data);
        self.chunks.push_back(Chunk { data: buf, urgent });
    }

    /// Copies what is left of a gather write after the kernel took `taken`
    /// bytes of it.
    pub fn push_rest(&mut self, bufs: &[IoSlice<'_>], mut taken: usize) {
        for b in bufs {
            if taken >= b.len() {
                taken -= b.len();
                continue;
            }
            self.push(&b[taken..]);
            taken = 0;
        }
    }

    /// Discards everything queued.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.head_sent = 0;
        self.len = 0;
    }

    /// Writes as much as the sink takes. Returns `Ok(true)` when the queue is
    /// empty afterwards, `Ok(false)` when the sink would block.
    pub fn flush(&mut self, sink: &mut impl Sink) -> io::Result<bool> {
        while let Some(first) = self.chunks.front() {
            let urgent = first.urgent;
            let result = {
                let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
                let mut n = 0;
                for (i, c) in self.chunks.iter().enumerate() {
                    if n == MAX_IOV || c.urgent != urgent || (urgent && i > 0) {
                        break;
                    }
                    let start = if i == 0 { self.head_sent } else { 0 };
                    iov[n] = IoSlice::new(&c.data[start..]);
                    n += 1;
                }
                sink.write_bufs(&iov[..n], urgent)
            };
            match result {
                Ok(taken) => self.consume(taken),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn consume(&mut self, mut taken: usize) {
        self.len -= taken;
        while taken > 0 {
            let first = self.chunks.front().expect("the kernel took no more than was offered");
            let left = first.data.len() - self.head_sent;
            if taken < left {
                self.head_sent += taken;
                return;
            }
            taken -= left;
            self.head_sent = 0;
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink taking at most `limit` bytes per call and recording them.
    struct Limited {
        limit: usize,
        got: Vec<(Vec<u8>, bool)>,
        calls: usize,
    }

    impl Sink for Limited {
        fn write_bufs(&mut self, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize> {
            self.calls += 1;
            if self.limit == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut taken = Vec::new();
            for b in bufs {
                let room = self.limit - taken.len();
                taken.extend_from_slice(&b[..b.len().min(room)]);
            }
            let n = taken.len();
            self.got.push((taken, urgent));
            Ok(n)
        }
    }

    #[test]
    fn keeps_order_across_partial_writes_and_urgent_chunks() {
        let mut q = WriteQueue::default();
        q.push(b"hello ");
        q.push(b"world");
        q.push_urgent(b"!");
        q.push(b"after");
        assert_eq!(q.len(), 17);
        let mut sink = Limited { limit: 4, got: Vec::new(), calls: 0 };
        assert!(q.flush(&mut sink).unwrap());
        let normal: Vec<u8> = sink.got.iter().filter(|g| !g.1).flat_map(|g| g.0.clone()).collect();
        assert_eq!(normal, b"hello worldafter");
        let pos = sink.got.iter().position(|g| g.1).unwrap();
        assert_eq!(sink.got[pos].0, b"!");
        let before: usize = sink.got[..pos].iter().map(|g| g.0.len()).sum();
        assert_eq!(before, 11, "urgent byte goes out after everything written before it");
        assert!(q.is_empty());
    }

    #[test]
    fn would_block_keeps_everything() {
        let mut q = WriteQueue::default();
        q.push(b"abc");
        let mut sink = Limited { limit: 0, got: Vec::new(), calls: 0 };
        assert!(!q.flush(&mut sink).unwrap());
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn small_writes_coalesce_into_one_iovec() {
        let mut q = WriteQueue::default();
        for _ in 0..1000 {
            q.push(b"0123456789abc");
        }
        let mut sink = Limited { limit: usize::MAX / 2, got: Vec::new(), calls: 0 };
        assert!(q.flush(&mut sink).unwrap());
        assert_eq!(sink.calls, 1);
        assert_eq!(sink.got[0].0.len(), 13_000);
    }

    #[test]
    fn push_rest_skips_what_was_taken() {
        let mut q = WriteQueue::default();
        let bufs = [IoSlice::new(b"abc"), IoSlice::new(b"defg"), IoSlice::new(b"h")];
        q.push_rest(&bufs, 4);
        let mut sink = Limited { limit: 100, got: Vec::new(), calls: 0 };
        q.flush(&mut sink).unwrap();
        assert_eq!(sink.got[0].0, b"efgh");
    }
}
