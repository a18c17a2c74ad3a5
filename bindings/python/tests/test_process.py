"""Processes spawned from Python: pipes both ways, exit codes, signals, errors."""

import os

import pytest

import marline


class Collect(marline.ProcessProtocol):
    def __init__(self, send=None):
        self.send = send
        self.out = b""
        self.err = b""
        self.lost_fds = []
        self.exited = None
        self.ended = None

    def connection_made(self):
        if self.send is not None:
            self.transport.write(self.send)
            self.transport.close_stdin()

    def out_received(self, data):
        self.out += data

    def err_received(self, data):
        self.err += data

    def child_connection_lost(self, fd):
        self.lost_fds.append(fd)

    def process_exited(self, reason):
        self.exited = reason

    def process_ended(self, reason):
        self.ended = reason


def test_cat_echoes_stdin_and_exits_cleanly(reactor):
    data = os.urandom(300_000)
    p = Collect(send=data)
    t = reactor.spawn_process(p, "cat", ["cat"])
    assert isinstance(t, marline.ProcessTransport)
    assert t.pid > 0
    assert reactor.run_until(lambda: p.ended is not None, timeout=20)
    assert p.out == data
    assert p.exited is not None and p.exited.clean
    assert p.ended.clean and p.ended.exit_code == 0
    assert sorted(p.lost_fds) == [0, 1, 2]
    with pytest.raises(marline.MarlineError) as e:
        t.write(b"after the end")
    assert e.value.status == marline.Status.STALE_HANDLE


def test_exit_code_stderr_env_and_cwd(reactor, tmp_path):
    p = Collect()
    reactor.spawn_process(p, "/bin/sh", ["sh", "-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'],
                          env={"GREETING": "hi", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}, path=tmp_path)
    assert reactor.run_until(lambda: p.ended is not None, timeout=20)
    assert p.out == f"hi from {tmp_path}\n".encode()
    assert p.err == b"oops\n"
    assert p.ended.kind == marline.ReasonKind.TERMINATED
    assert p.ended.exit_code == 3 and p.ended.signal is None


def test_signal_by_name(reactor):
    p = Collect()
    t = reactor.spawn_process(p, "sleep", ["sleep", "30"])
    reactor.run_once(0)
    t.signal_process("TERM")
    assert reactor.run_until(lambda: p.ended is not None, timeout=20)
    assert p.ended.signal == 15 and p.ended.exit_code is None
    assert "signal 15" in p.ended.message


def test_child_fds_map(reactor):
    p = Collect()
    reactor.spawn_process(p, "/bin/sh", ["sh", "-c", "echo three >&3"], child_fds={3: "w"})
    got = []
    p.child_data_received = lambda fd, data: got.append((fd, data))
    assert reactor.run_until(lambda: p.ended is not None, timeout=20)
    assert got == [(3, b"three\n")]


def test_bad_executable_raises_and_calls_nothing(reactor):
    p = Collect()
    with pytest.raises(marline.MarlineError) as e:
        reactor.spawn_process(p, "/nonexistent/program", ["x"])
    assert e.value.status == marline.Status.BAD_EXECUTABLE
    with pytest.raises(marline.MarlineError) as e:
        reactor.spawn_process(p, "cat", ["cat"], path="/nonexistent/dir")
    assert e.value.status == marline.Status.BAD_WORKING_DIRECTORY
    reactor.run_until(lambda: False, timeout=0.05)
    assert p.ended is None
