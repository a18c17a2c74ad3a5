"""spawn_twisted.py COUNT PARALLEL: the Twisted reference for spawn rate:
reactor.spawnProcess of `sh -c 'echo hello; exit 42'` (epoll reactor;
childFDs: stdout read through a pipe, stderr inherited, no stdin), at most
PARALLEL at a time. A child is done at processEnded (its exit status seen
and every pipe closed). Checks every child wrote exactly b"hello\\n" and
exited with code 42; prints spawns per second over the whole."""
import os
import sys
import time

from twisted.internet import epollreactor

epollreactor.install()
from twisted.internet import error, protocol, reactor  # noqa: E402

COUNT, PARALLEL = int(sys.argv[1]), int(sys.argv[2])
ARGV = [b"sh", b"-c", b"echo hello; exit 42"]
state = {"started": 0, "done": 0, "failed": None}


def fail(msg):
    if state["failed"] is None:
        state["failed"] = msg
        reactor.stop()


class Child(protocol.ProcessProtocol):
    def __init__(self):
        self.out = b""

    def outReceived(self, data):
        self.out += data

    def processEnded(self, reason):
        code = getattr(reason.value, "exitCode", None)
        if not isinstance(reason.value, error.ProcessTerminated) or code != 42:
            return fail(f"child ended with {reason.value!r}, not exit code 42")
        if self.out != b"hello\n":
            return fail(f"child wrote {self.out!r}, not b'hello\\n'")
        state["done"] += 1
        if state["started"] < COUNT:
            spawn_one()
        elif state["done"] == COUNT:
            reactor.stop()


def spawn_one():
    state["started"] += 1
    reactor.spawnProcess(Child(), b"/bin/sh", ARGV, env=os.environ, childFDs={1: "r", 2: 2})


def start():
    state["t0"] = time.monotonic()
    for _ in range(min(PARALLEL, COUNT)):
        spawn_one()


reactor.callWhenRunning(start)
reactor.run()
t1 = time.monotonic()
if state["failed"] or state["done"] != COUNT:
    print(f"spawn_twisted: {state['failed'] or 'reactor stopped early'}", file=sys.stderr)
    sys.exit(1)
print("RESULT value=%.1f unit=spawns/s checked=%d byte-exact: pass" % (COUNT / (t1 - state["t0"]), state["done"]))
