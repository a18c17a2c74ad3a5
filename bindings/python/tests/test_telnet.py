"""Telnet negotiation between two Python endpoints, with results delivered to
callbacks; and the log callback hearing about an oversized subnegotiation."""

import socket

import pytest

import marline
from marline import telnet
from marline.telnet import Result, Side


class Server(telnet.TelnetProtocol):
    instances = []

    def __init__(self):
        self.results = {}
        self.window = None
        self.data = b""
        self.lost = None
        Server.instances.append(self)

    def connection_made(self):
        t = self.transport
        assert isinstance(t, marline.TelnetTransport)
        t.will(telnet.ECHO, lambda result, reason: self.results.__setitem__("will echo", result))
        t.do(telnet.NAWS, lambda result, reason: self.results.__setitem__("do naws", result))
        t.do(telnet.LINEMODE, lambda result, reason: self.results.__setitem__("do linemode", result))

    def enable_local(self, option):
        return option == telnet.SGA

    def window_size(self, width, height):
        self.window = (width, height)

    def data_received(self, data):
        self.data += data
        self.transport.write(data.upper())

    def connection_lost(self, reason):
        self.lost = reason


class Client(telnet.TelnetProtocol):
    def __init__(self):
        self.results = {}
        self.data = b""
        self.asked = []
        self.lost = None

    def enable_remote(self, option):
        self.asked.append(("remote", option))
        return option == telnet.ECHO

    def enable_local(self, option):
        self.asked.append(("local", option))
        return option == telnet.NAWS

    def connection_made(self):
        self.transport.do(telnet.SGA, lambda result, reason: self.results.__setitem__("do sga", result))
        self.transport.will(telnet.TTYPE, lambda result, reason: self.results.__setitem__("will ttype", result))

    def data_received(self, data):
        self.data += data

    def connection_lost(self, reason):
        self.lost = reason


def test_negotiation_between_two_python_endpoints(reactor):
    Server.instances.clear()
    port = reactor.listen_telnet(0, Server)
    client = Client()
    t = reactor.connect_telnet("127.0.0.1", port.port, lambda: client, timeout=5)
    assert isinstance(t, marline.TelnetTransport)
    assert reactor.run_until(lambda: Server.instances and len(Server.instances[0].results) == 3
                             and len(client.results) == 2)
    server = Server.instances[0]
    assert server.results == {"will echo": Result.OK, "do naws": Result.OK, "do linemode": Result.OPTION_REFUSED}
    assert client.results == {"do sga": Result.OK, "will ttype": Result.OPTION_REFUSED}
    assert ("remote", telnet.ECHO) in client.asked and ("local", telnet.NAWS) in client.asked
    assert t.is_enabled(telnet.ECHO, Side.REMOTE)
    assert t.is_enabled(telnet.NAWS, Side.LOCAL)
    assert t.get_option_state(telnet.SGA, Side.REMOTE) == telnet.OptionState.YES
    assert not t.is_enabled(telnet.LINEMODE, Side.LOCAL)

    # Immediate failures raise, and their callback is never called.
    never = []
    with pytest.raises(marline.MarlineError) as e:
        t.do(telnet.ECHO, lambda *a: never.append(a))
    assert e.value.status == marline.Status.ALREADY_ENABLED
    with pytest.raises(marline.MarlineError) as e:
        t.dont(telnet.LINEMODE, lambda *a: never.append(a))
    assert e.value.status == marline.Status.ALREADY_DISABLED

    # NAWS from the client, data both ways with an IAC byte that needs escaping.
    t.send_window_size(132, 43)
    t.write(b"hello \xff telnet")
    assert reactor.run_until(lambda: server.window and client.data == b"HELLO \xff TELNET")
    assert server.window == (132, 43)
    assert server.data == b"hello \xff telnet"

    # Turning an option off completes too; then the connection closes cleanly.
    off = []
    t.dont(telnet.ECHO, lambda result, reason: off.append(result))
    assert reactor.run_until(lambda: off)
    assert off == [Result.OK] and not t.is_enabled(telnet.ECHO, Side.REMOTE)
    t.lose_connection()
    assert reactor.run_until(lambda: client.lost and server.lost)
    assert client.lost.clean and server.lost.clean
    assert never == []


def test_pending_request_completes_with_connection_lost(reactor):
    """A raw socket that never answers: the request completes with CONNECTION_LOST (and a
    reason) when the connection goes, or TIMED_OUT with a timeout."""
    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen(4)
    results = []

    class Asker(telnet.TelnetProtocol):
        def connection_made(self):
            self.transport.set_negotiation_timeout(0.05)
            self.transport.do(telnet.NAWS, lambda result, reason: results.append((result, reason)))
            self.transport.set_negotiation_timeout(0)
            self.transport.do(telnet.TTYPE, lambda result, reason: results.append((result, reason)))

    t = reactor.connect_telnet("127.0.0.1", raw.getsockname()[1], Asker, timeout=5)
    peer, _ = raw.accept()
    assert reactor.run_until(lambda: results)
    assert results[0] == (Result.TIMED_OUT, None)
    t.abort_connection()
    assert reactor.run_until(lambda: len(results) == 2)
    assert results[1][0] == Result.CONNECTION_LOST
    assert isinstance(results[1][1], marline.Reason)
    peer.close()
    raw.close()


def test_log_callback_hears_an_oversized_subnegotiation(reactor):
    logged = []
    lost = []

    class Strict(telnet.TelnetProtocol):
        def connection_made(self):
            self.transport.set_max_subnegotiation(8)

        def connection_lost(self, reason):
            lost.append(reason.kind)

    marline.set_log_callback(lambda level, message: logged.append((level, message)))
    try:
        port = reactor.listen_telnet(0, Strict)
        with socket.create_connection(("127.0.0.1", port.port)) as s:
            s.sendall(bytes([255, 250, 24]) + b"x" * 40 + bytes([255, 240]))
            assert reactor.run_until(lambda: lost)
    finally:
        marline.set_log_callback(None)
    assert lost == [marline.ReasonKind.PROTOCOL_VIOLATION]
    assert len(logged) == 1
    level, message = logged[0]
    assert level == marline.LogLevel.WARN
    assert "subnegotiation" in message
