"""Process bridges (marline.process.Bridge over process_bridge_*): a connection bridged to
a command as an SSH session is, against a plain client socket. Ports the cases of
tests/c/test_process_bridge.c to the binding: exact bytes and exact reports."""

import socket
import threading

import marline


class Session(marline.Bridge):
    """Records what the bridge reports."""

    def __init__(self, transport, log, merge_stderr=False):
        super().__init__(transport, merge_stderr)
        self.log = log

    def extended_data(self, data):
        self.log.append(("stderr", data))

    def exit_status(self, code):
        self.log.append(("exit-status", code))

    def exit_signal(self, signal_name, core_dumped):
        self.log.append(("exit-signal", signal_name, core_dumped))

    def process_ended(self, reason):
        self.log.append(("ended", reason.kind, reason.exit_code))


def serve(reactor, start, send=b"", merge_stderr=False):
    """One connection bridged by `start(bridge)`; a client sends `send` and reads to the end.
    Returns (what the client read, the bridge's log, the protocol's end reason)."""
    log, lost = [], []

    class Server(marline.Protocol):
        def connection_made(self):
            self.bridge = Session(self.transport, log, merge_stderr)
            start(self.bridge)

        def data_received(self, data):
            self.bridge.feed(data)

        def connection_lost(self, reason):
            lost.append(reason.kind)
            self.bridge.close()

    port = reactor.listen_tcp(0, Server).port
    got = {}

    def client():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(send)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            got["data"] = data

    t = threading.Thread(target=client)
    t.start()
    assert reactor.run_until(lambda: not t.is_alive() and lost and log and log[-1][0] == "ended", timeout=20)
    t.join()
    return got["data"], log, lost


SCRIPT = 'read line; echo "$line" | tr a-z A-Z; echo oops >&2; exit 3'


def test_the_command_answers_the_connection_and_reports_its_end(reactor):
    data, log, lost = serve(reactor, lambda b: b.spawn("/bin/sh", ["sh", "-c", SCRIPT]), b"hello\n")
    assert data == b"HELLO\n"
    assert log == [("stderr", b"oops\n"), ("exit-status", 3), ("ended", marline.ReasonKind.TERMINATED, 3)]
    assert lost == [marline.ReasonKind.DONE]


def test_merged_stderr_goes_to_the_connection(reactor):
    data, log, _ = serve(reactor, lambda b: b.spawn("/bin/sh", ["sh", "-c", SCRIPT]), b"hello\n", merge_stderr=True)
    assert data == b"HELLO\noops\n"
    assert log == [("exit-status", 3), ("ended", marline.ReasonKind.TERMINATED, 3)]


def test_input_fed_before_the_spawn_and_remote_eof_reach_the_command(reactor):
    def start(bridge):
        bridge.feed(b"fed early\n")
        bridge.remote_eof()
        bridge.spawn("/bin/cat", ["cat"])

    data, log, _ = serve(reactor, start)
    assert data == b"fed early\n"
    assert log == [("exit-status", 0), ("ended", marline.ReasonKind.DONE, 0)]


def test_a_signal_is_reported_by_name(reactor):
    data, log, _ = serve(reactor, lambda b: b.spawn("/bin/sh", ["sh", "-c", "kill -TERM $$"]))
    assert data == b""
    assert log == [("exit-signal", "TERM", False), ("ended", marline.ReasonKind.TERMINATED, None)]


def test_a_pty_starts_at_the_window_size_given(reactor):
    transports = []

    def start(bridge):
        transports.append(bridge.spawn("/bin/sh", ["sh", "-c", "stty size"], window_size=(27, 91)))

    data, log, _ = serve(reactor, start)
    assert data == b"27 91\r\n"
    assert log == [("exit-status", 0), ("ended", marline.ReasonKind.DONE, 0)]
    assert isinstance(transports[0], marline.ProcessTransport)
