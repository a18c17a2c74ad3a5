//! The heap against its invariants and against a sorted-Vec model. Tests
//! set absolute deadlines (nanoseconds since the epoch) and build their own
//! `Turn`, so no clock is involved.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;

type Log = Rc<RefCell<Vec<u32>>>;

struct Fixture {
    t: Timers,
    log: Log,
    r: Reactor,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { t: Timers::new(HandleTable::default()), log: Log::default(), r: Reactor::new().unwrap() }
    }

    /// Schedules call `id` at `deadline`.
    fn at(&mut self, deadline: u64, id: u32) -> Handle {
        let log = self.log.clone();
        let h = self.t.schedule(Duration::ZERO, TimerCallback::Boxed(Box::new(move |_| log.borrow_mut().push(id)))).unwrap();
        self.t.move_to(h, deadline);
        h
    }

    /// A turn at `now` in which everything scheduled so far may run.
    fn turn(&self, now: u64) -> Turn {
        Turn { now, mark: self.t.next_seq }
    }

    /// Runs the next call due in `turn`; returns its id.
    fn pop(&mut self, turn: Turn) -> Option<u32> {
        self.t.pop_due(turn)?.run(&self.r);
        self.log.borrow_mut().pop()
    }

    /// Runs every call due at `now`, in order.
    fn drain(&mut self, now: u64) -> Vec<u32> {
        let turn = self.turn(now);
        let ids = std::iter::from_fn(|| self.pop(turn)).collect();
        self.t.end_turn();
        check(&self.t);
        ids
    }
}

/// Heap order, every place pointing at its item, one item per pending call.
fn check(t: &Timers) {
    for (i, item) in t.heap.iter().enumerate() {
        if i > 0 {
            assert!(t.heap[(i - 1) / ARITY].key < item.key, "heap order at {i}");
        }
        assert!(matches!(t.place[item.handle.index as usize], Place::Heap(p) if p as usize == i));
        assert!(t.is_active(item.handle));
    }
    for (i, item) in t.held.iter().enumerate() {
        assert!(matches!(t.place[item.handle.index as usize], Place::Held(p) if p as usize == i));
    }
    assert_eq!(t.heap.len() + t.held.len(), t.table.len());
}

#[test]
fn equal_deadlines_run_in_the_order_they_were_set() {
    let mut f = Fixture::new();
    let hs: Vec<Handle> = (0..50).map(|id| f.at(1_000 + id as u64, id)).collect();
    // Give them all the very same deadline, in reverse order, among others.
    for h in hs.iter().rev() {
        f.t.move_to(*h, 500);
    }
    f.at(499, 100);
    f.at(501, 101);
    let mut want = vec![100];
    want.extend((0..50).rev());
    want.push(101);
    assert_eq!(f.drain(600), want);
}

#[test]
fn cancel_removes_the_top_a_middle_and_the_last_item() {
    let mut f = Fixture::new();
    let hs: Vec<Handle> = (0..20).map(|id| f.at(100 + 10 * id as u64, id)).collect();
    let top = f.t.heap[0].handle;
    let last = f.t.heap.last().unwrap().handle;
    let middle = f.t.heap[7].handle;
    for h in [top, middle, last] {
        assert!(f.t.cancel(h));
        assert!(!f.t.cancel(h), "a second cancel is refused");
        assert!(!f.t.is_active(h));
        check(&f.t);
    }
    let gone: Vec<u32> = [top, middle, last].iter().map(|h| hs.iter().position(|x| x == h).unwrap() as u32).collect();
    let want: Vec<u32> = (0..20).filter(|id| !gone.contains(id)).collect();
    assert_eq!(f.drain(u64::MAX), want);
    assert!(f.t.heap.is_empty());
}

#[test]
fn reset_moves_a_call_earlier_or_later() {
    let mut f = Fixture::new();
    let hs: Vec<Handle> = (0..10).map(|id| f.at(1_000 * (id as u64 + 1), id)).collect();
    f.t.move_to(hs[9], 1); // latest to first
    f.t.move_to(hs[0], 20_000); // first to last
    f.t.move_to(hs[5], 5_000); // same deadline: after the ones set before
    check(&f.t);
    assert_eq!(f.drain(u64::MAX), [9, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
}

#[test]
fn reset_and_delay_check_their_argument_and_the_call() {
    let mut f = Fixture::new();
    let h = f.at(1_000, 1);
    assert_eq!(f.t.delay(h, Duration::from_nanos(500)), Ok(()));
    assert_eq!(f.t.item(h).unwrap().key.deadline, 1_500);
    assert_eq!(f.t.delay(h, Duration::MAX), Err(ErrorKind::InvalidArgument.into()));
    assert_eq!(f.t.reset(h, Duration::MAX), Err(ErrorKind::InvalidArgument.into()));
    assert_eq!(f.t.item(h).unwrap().key.deadline, 1_500, "a refused move keeps the deadline");
    assert_eq!(f.t.reset(h, Duration::from_secs(3600)), Ok(()));
    assert!(f.t.time_left(h).unwrap() > Duration::from_secs(3599));
    assert!(f.t.schedule(Duration::MAX, TimerCallback::Boxed(Box::new(|_| {}))).is_err());
    assert!(f.t.cancel(h));
    assert_eq!(f.t.reset(h, Duration::ZERO), Err(ErrorKind::NotActive.into()));
    assert_eq!(f.t.delay(h, Duration::ZERO), Err(ErrorKind::NotActive.into()));
    assert_eq!(f.t.time_left(h), None);
}

#[test]
fn the_heap_holds_one_item_per_pending_call_however_often_they_move() {
    // A connection resetting a long timeout on every read must not grow
    // the heap.
    let mut f = Fixture::new();
    let mut live = std::collections::VecDeque::new();
    for i in 0..100_000u32 {
        let h = f.at(1_000_000 + i as u64, i);
        f.t.reset(h, Duration::from_secs(60)).unwrap();
        live.push_back(h);
        if live.len() > 100 {
            assert!(f.t.cancel(live.pop_front().unwrap()));
        }
        let some = live[i as usize % live.len()];
        f.t.reset(some, Duration::from_secs(30)).unwrap();
        f.t.delay(some, Duration::from_millis(1)).unwrap();
        assert_eq!(f.t.heap.len(), live.len());
    }
    assert_eq!(f.t.table.len(), 100);
    check(&f.t);
}

#[test]
fn calls_scheduled_or_moved_during_a_turn_wait_for_the_next() {
    let mut f = Fixture::new();
    let a = f.at(10, 0);
    let b = f.at(20, 1);
    let c = f.at(30, 2);
    let turn = f.turn(100);
    assert_eq!(f.pop(turn), Some(0));
    // As if from call 0: move b and c (still due), schedule d (due).
    f.t.delay(b, Duration::from_nanos(1)).unwrap();
    f.t.move_to(c, 15);
    let d = f.at(5, 3);
    assert_eq!(f.pop(turn), None);
    assert_eq!(f.t.held.len(), 3);
    check(&f.t);
    // Held calls can still be moved, cancelled and queried.
    f.t.move_to(d, 25);
    assert!(f.t.cancel(c));
    assert_eq!(f.t.item(b).unwrap().key.deadline, 21);
    assert!(!f.t.cancel(a));
    check(&f.t);
    f.t.end_turn();
    check(&f.t);
    assert_eq!(f.drain(100), [1, 3]);
}

/// xorshift64*: a seeded, reproducible stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The reference: pending calls as (deadline, seq, id, handle), sorted.
#[derive(Default)]
struct Model {
    calls: Vec<(u64, u64, u32, Handle)>,
    seq: u64,
}

impl Model {
    fn add(&mut self, deadline: u64, id: u32, h: Handle) {
        self.seq += 1;
        self.calls.push((deadline, self.seq, id, h));
        self.calls.sort();
    }

    fn take(&mut self, h: Handle) -> Option<(u64, u64, u32, Handle)> {
        let i = self.calls.iter().position(|c| c.3 == h)?;
        Some(self.calls.remove(i))
    }

    /// The first call due at `now` and set at or before `mark`.
    fn pop(&mut self, now: u64, mark: u64) -> Option<u32> {
        let i = self.calls.iter().position(|c| c.0 <= now && c.1 <= mark)?;
        Some(self.calls.remove(i).2)
    }
}

#[test]
fn random_operations_match_a_sorted_vec() {
    let mut most_held = 0;
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut f = Fixture::new();
        let mut model = Model::default();
        let mut handles: Vec<Handle> = Vec::new(); // live and dead
        let mut next_id = 0;
        let mut clock = 0u64;
        // While a turn runs: its (now, mark) in the model's and the heap's terms.
        let mut turn: Option<((u64, u64), Turn)> = None;
        for _ in 0..3_000 {
            let pick = |rng: &mut Rng, hs: &[Handle]| hs[rng.below(hs.len() as u64) as usize];
            // Some deadlines already passed: calls moved there in a turn are held.
            let deadline = |rng: &mut Rng| (clock + rng.below(200)).saturating_sub(40);
            match rng.below(10) {
                0..=2 => {
                    let deadline = deadline(&mut rng);
                    let h = f.at(deadline, next_id);
                    model.add(deadline, next_id, h);
                    handles.push(h);
                    next_id += 1;
                }
                3 if !handles.is_empty() => {
                    let h = pick(&mut rng, &handles);
                    assert_eq!(f.t.cancel(h), model.take(h).is_some());
                }
                4 if !handles.is_empty() => {
                    let h = pick(&mut rng, &handles);
                    if let Some((_, _, id, _)) = model.take(h) {
                        let deadline = deadline(&mut rng);
                        f.t.move_to(h, deadline);
                        model.add(deadline, id, h);
                    } else {
                        assert_eq!(f.t.delay(h, Duration::ZERO), Err(ErrorKind::NotActive.into()));
                    }
                }
                5 if !handles.is_empty() => {
                    let h = pick(&mut rng, &handles);
                    let by = rng.below(50);
                    match model.take(h) {
                        Some((deadline, _, id, _)) => {
                            f.t.delay(h, Duration::from_nanos(by)).unwrap();
                            model.add(deadline + by, id, h);
                        }
                        None => assert_eq!(f.t.delay(h, Duration::from_nanos(by)), Err(ErrorKind::NotActive.into())),
                    }
                }
                6 | 7 => match turn {
                    // Run one due call of the current turn, or end it.
                    Some(((now, mark), tn)) => {
                        let got = f.pop(tn);
                        assert_eq!(got, model.pop(now, mark));
                        if got.is_none() {
                            f.t.end_turn();
                            turn = None;
                        }
                    }
                    None => {
                        clock += rng.below(60);
                        let tn = f.turn(clock);
                        turn = Some(((clock, model.seq), tn));
                    }
                },
                _ => {
                    // Every pending call is where the model has it.
                    for &(deadline, _, _, h) in &model.calls {
                        assert_eq!(f.t.item(h).unwrap().key.deadline, deadline);
                    }
                }
            }
            check(&f.t);
            most_held = most_held.max(f.t.held.len());
            if turn.is_none() {
                assert_eq!(f.t.heap.len(), model.calls.len());
            }
        }
        if turn.is_some() {
            f.t.end_turn();
        }
        let mut rest = Vec::new();
        while let Some(id) = model.pop(u64::MAX, u64::MAX) {
            rest.push(id);
        }
        assert_eq!(f.drain(u64::MAX), rest, "seed {seed}");
        let _ = f.t.clear();
    }
    assert!(most_held > 3, "the turns held too few calls to test holding: {most_held}");
}

#[test]
fn clear_returns_every_pending_callback() {
    let mut f = Fixture::new();
    for id in 0..10 {
        f.at(id as u64, id);
    }
    let b = f.t.heap[3].handle;
    f.t.cancel(b);
    assert_eq!(f.t.clear().len(), 9);
    assert!(f.t.heap.is_empty() && f.t.table.len() == 0);
}
