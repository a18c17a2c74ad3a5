//! Large transfers: 60 MiB, exact bytes, through write and write_sequence,
//! with lose_connection right after the last write; and 60 MiB received.
mod common;

use std::io::{IoSlice, Write};

use common::*;
use marline::{Reactor, ReasonKind};

const SIZE: usize = 60 << 20;

fn send_large(use_sequence: bool) {
    let data = pattern(SIZE, 60);
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    if use_sequence {
        // Ten gathers of 96 buffers (> MAX_IOV) of uneven sizes.
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut rest: &[u8] = &data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = (1000 + (i * 7919) % 120_000).min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
            i += 1;
        }
        for group in pieces.chunks(96) {
            let bufs: Vec<IoSlice<'_>> = group.iter().map(|p| IoSlice::new(p)).collect();
            t.write_sequence(&bufs).unwrap();
            r.run_once(Some(std::time::Duration::ZERO)).unwrap();
        }
    } else {
        for chunk in data.chunks(1 << 20) {
            t.write(chunk).unwrap();
            r.run_once(Some(std::time::Duration::ZERO)).unwrap();
        }
    }
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    let got = reader.join().unwrap();
    assert_eq!(got.len(), SIZE);
    assert!(got == data, "bytes differ");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn sixty_mib_through_write() {
    send_large(false);
}

#[test]
fn sixty_mib_through_write_sequence() {
    send_large(true);
}

#[test]
fn sixty_mib_in_one_write_call() {
    let data = pattern(SIZE, 61);
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    t.write(&data).unwrap();
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert!(reader.join().unwrap() == data);
}

#[test]
fn sixty_mib_received_exactly() {
    let data = pattern(SIZE, 62);
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (_t, mut peer) = server_pair(&r, Recorder::new(&log));
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        peer.write_all(&d2).unwrap();
    });
    run_until(&r, || has(&log, is_lost));
    writer.join().unwrap();
    let got = data_of(&log);
    assert_eq!(got.len(), SIZE);
    assert!(got == data);
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(ReasonKind::Done)));
}
