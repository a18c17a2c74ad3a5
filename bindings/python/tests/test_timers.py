"""call_later ordering and cancellation, call_from_thread, stop, and exceptions raised
inside callbacks."""

import threading

import pytest

import marline


def test_call_later_runs_in_time_order_ties_in_scheduling_order(reactor):
    order = []
    reactor.call_later(0.03, order.append, "d")
    reactor.call_later(0.01, order.append, "a")
    reactor.call_later(0.02, order.append, "b")
    reactor.call_later(0.02, order.append, "c")
    reactor.call_later(0, lambda: order.append("now"))
    reactor.call_later(0.05, reactor.stop)
    reactor.run()
    assert order == ["now", "a", "b", "c", "d"]


def test_cancel_reset_delay_and_time_left(reactor):
    ran = []
    cancelled = reactor.call_later(0.01, ran.append, "cancelled")
    assert cancelled.active()
    assert 0 < cancelled.time_left() <= 0.01
    cancelled.cancel()
    assert not cancelled.active()
    with pytest.raises(marline.MarlineError) as e:
        cancelled.cancel()
    assert e.value.status == marline.Status.NOT_ACTIVE

    moved = reactor.call_later(10, ran.append, "moved")
    moved.reset(0.02)
    pushed = reactor.call_later(0.01, ran.append, "pushed")
    pushed.delay(0.02)  # now due at ~0.03
    assert reactor.next_timeout() is not None
    assert reactor.run_until(lambda: len(ran) == 2, timeout=5)
    assert ran == ["moved", "pushed"]
    assert reactor.next_timeout() is None
    with pytest.raises(marline.MarlineError):
        moved.reset(1)


def test_keyword_arguments_and_many_calls(reactor):
    seen = []
    for i in range(200):
        reactor.call_later(0.001 * (i % 5), lambda i=i, tag="x": seen.append((tag, i)))
    assert reactor.run_until(lambda: len(seen) == 200, timeout=5)
    # Equal delays keep scheduling order.
    for bucket in range(5):
        items = [i for _, i in seen if i % 5 == bucket]
        assert items == sorted(items)


def test_call_from_thread_and_stop_from_thread(reactor):
    got = []
    main = threading.get_ident()

    def worker():
        for i in range(10):
            reactor.call_from_thread(lambda i=i: got.append((i, threading.get_ident() == main)))
        reactor.call_from_thread(reactor.stop)

    t = threading.Thread(target=worker)
    reactor.call_later(0, t.start)
    reactor.run()
    t.join()
    assert got == [(i, True) for i in range(10)]

    stopper = threading.Thread(target=reactor.stop)
    stopper.start()
    stopper.join()
    reactor.run()  # returns at once: the stop was requested while not running


def test_an_exception_in_a_callback_comes_out_of_run(reactor):
    after = []

    def boom():
        raise ValueError("raised inside a callback")

    reactor.call_later(0, boom)
    reactor.call_later(5, after.append, 1)
    with pytest.raises(ValueError, match="raised inside a callback"):
        reactor.run()
    assert after == []


def test_an_exception_in_data_received_comes_out_of_run(reactor):
    class Angry(marline.Protocol):
        def data_received(self, data):
            raise RuntimeError(f"did not like {data!r}")

    class Sender(marline.Protocol):
        def connection_made(self):
            self.transport.write(b"this")

    port = reactor.listen_tcp(0, Angry)
    reactor.connect_tcp("127.0.0.1", port.port, Sender)
    with pytest.raises(RuntimeError, match="did not like b'this'"):
        reactor.run()
