"""Application producers (transport.register_producer, Twisted's registerProducer), streaming
and pull, and TCP urgent data both ways. Ports tests/tcp_producer.rs and tests/tcp_urgent.rs
to the binding: a real peer socket, exact bytes, exact event order."""

import select
import socket

import pytest

import marline


def pattern(n, seed):
    return bytes((i * 7 + seed) % 251 for i in range(n))


class Recorder:
    """A producer that records what it is told."""

    def __init__(self, on_resume=None):
        self.events = []
        self.on_resume = on_resume

    def pause_producing(self):
        self.events.append("pause")

    def resume_producing(self):
        self.events.append("resume")
        if self.on_resume:
            self.on_resume()

    def stop_producing(self):
        self.events.append("stop")


class Client(marline.Protocol):
    def __init__(self):
        self.made = False
        self.lost = None

    def connection_made(self):
        self.made = True

    def connection_lost(self, reason):
        self.lost = reason


def connected_pair(reactor):
    """A marline client transport and the accepted peer socket, whose small receive buffer
    (4 KiB) makes the client's write queue grow soon."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    proto = Client()
    transport = reactor.connect_tcp("127.0.0.1", listener.getsockname()[1], lambda: proto)
    peer, _ = listener.accept()
    listener.close()
    assert reactor.run_until(lambda: proto.made)
    return transport, proto, peer


def read_all(reactor, peer, until=lambda: False):
    """Reads what the peer gets while the reactor runs, until `until()` or the end of the
    stream."""
    got = bytearray()
    peer.setblocking(False)
    while not until():
        reactor.run_once(0)
        if select.select([peer], [], [], 0.005)[0]:
            try:
                data = peer.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                break
            got += data
    return bytes(got)


def test_streaming_producer_pauses_past_the_high_water_mark_and_resumes_when_drained(reactor):
    transport, proto, peer = connected_pair(reactor)
    transport.set_write_high_water(1000)
    producer = Recorder()
    transport.register_producer(producer, True)
    chunk, sent = pattern(300, 77), bytearray()
    for _ in range(100_000):
        if producer.events:
            break
        transport.write(chunk)
        sent += chunk
        reactor.run_once(0)
    assert producer.events == ["pause"]
    queued = transport.get_write_queue_size()
    assert 1000 < queued <= 1300, queued
    reactor.run_until(lambda: False, timeout=0.05)
    assert producer.events == ["pause"], "still paused while nobody reads"

    got = read_all(reactor, peer, lambda: len(producer.events) == 2)
    assert producer.events == ["pause", "resume"]
    transport.unregister_producer()
    transport.lose_connection()
    got += read_all(reactor, peer)
    assert got == sent
    assert reactor.run_until(lambda: proto.lost is not None)
    assert proto.lost.kind == marline.ReasonKind.DONE
    assert producer.events == ["pause", "resume"], "unregistered: no stop_producing"
    peer.close()


def test_pull_producer_is_resumed_each_time_the_queue_empties(reactor):
    transport, proto, peer = connected_pair(reactor)
    pieces = [pattern(5000, i) for i in range(5)]
    left = list(pieces)

    def write_one():
        transport.write(left.pop(0))
        if not left:
            transport.unregister_producer()
            transport.lose_connection()

    producer = Recorder(write_one)
    transport.register_producer(producer, False)
    assert producer.events == [], "the first resume comes from the loop"
    got = read_all(reactor, peer)
    assert got == b"".join(pieces)
    assert reactor.run_until(lambda: proto.lost is not None)
    assert producer.events == ["resume"] * 5
    peer.close()


def test_stop_producing_when_the_connection_goes_and_no_second_registration(reactor):
    transport, proto, peer = connected_pair(reactor)
    producer = Recorder()
    transport.register_producer(producer, True)
    with pytest.raises(marline.MarlineError) as e:
        transport.register_producer(Recorder(), True)
    assert e.value.status == marline.Status.PRODUCER_ALREADY_REGISTERED
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # close with RST
    peer.close()
    assert reactor.run_until(lambda: proto.lost is not None)
    assert producer.events == ["stop"]
    assert proto.lost.kind == marline.ReasonKind.LOST
    assert transport._producer_token is None, "the producer's token is forgotten"


class UrgentServer(marline.Protocol):
    instances = []

    def connection_made(self):
        self.data, self.urgent = b"", []
        UrgentServer.instances.append(self)

    def data_received(self, data):
        self.data += data

    def urgent_data_received(self, data):
        self.urgent.append((len(self.data), data))


def test_urgent_data_both_ways(reactor):
    UrgentServer.instances.clear()
    port = reactor.listen_tcp(0, UrgentServer)
    peer = socket.create_connection(("127.0.0.1", port.port))
    assert reactor.run_until(lambda: UrgentServer.instances)
    server = UrgentServer.instances[0]

    # Peer to marline: the urgent byte arrives after the data sent before it.
    peer.sendall(b"before")
    assert reactor.run_until(lambda: server.data == b"before")
    peer.send(b"!", socket.MSG_OOB)
    assert reactor.run_until(lambda: server.urgent)
    peer.sendall(b"after")
    assert reactor.run_until(lambda: server.data == b"beforeafter")
    assert server.urgent == [(6, b"!")]

    # marline to peer: write_urgent, read with MSG_OOB once the peer sees POLLPRI.
    server.transport.write(b"normal")
    server.transport.write_urgent(b"U")
    reactor.run_once(0)
    poller = select.poll()
    poller.register(peer, select.POLLPRI)
    for _ in range(500):
        reactor.run_once(0)
        if poller.poll(10):
            break
    assert peer.recv(1, socket.MSG_OOB) == b"U"
    assert peer.recv(100) == b"normal"
    peer.close()


def test_only_protocols_that_take_urgent_data_ask_for_it():
    class Plain(marline.Protocol):
        pass

    assert marline._core._tcp_table(Plain) is marline._core._TCP_TABLE
    assert marline._core._tcp_table(Plain()) is marline._core._TCP_TABLE
    assert marline._core._tcp_table(UrgentServer) is marline._core._TCP_URGENT_TABLE
    assert marline._core._tcp_table(lambda: Plain()) is marline._core._TCP_URGENT_TABLE, "a callable may build anything"
