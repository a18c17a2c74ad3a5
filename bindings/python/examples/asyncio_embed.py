#!/usr/bin/env python3
"""asyncio_embed.py: drives marline from Python's asyncio loop, no thread of its own.

How: marline's reactor exposes its epoll descriptor (reactor_backend_fd) and how long it
may sleep (reactor_next_timeout). asyncio watches the descriptor with add_reader and keeps
one timer for the next due delayed call; either way it runs one non-blocking turn,
reactor_run_once(0), then re-arms the timer. After calling into marline from asyncio code
(connect, call_later, ...), call driver.kick() so that work queued for the next turn is
not left waiting for an event.

Run it: it starts a marline echo server inside asyncio, talks to it with asyncio's own
streams, has a marline client talk to an asyncio server, and checks that marline timers
fire while asyncio sleeps. It prints "listening on 127.0.0.1:PORT" first and "OK" last
(exit 0), or what failed (exit 1).
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import marline  # noqa: E402


class MarlineDriver:
    """Runs `reactor` inside the asyncio `loop` until close()."""

    def __init__(self, reactor, loop=None):
        self.reactor = reactor
        self.loop = loop or asyncio.get_running_loop()
        self.fd = reactor.backend_fd()
        self.error = None
        self._timer = None
        self._kicked = False
        self.loop.add_reader(self.fd, self._tick)
        self._arm()

    def _tick(self):
        self._kicked = False
        try:
            self.reactor.run_once(0)
        except BaseException as e:  # a callback raised: keep it for whoever awaits
            if self.error is None:
                self.error = e
        self._arm()

    def _arm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        delay = self.reactor.next_timeout()
        if delay is not None:
            self._timer = self.loop.call_later(delay, self._tick)

    def kick(self):
        """Runs a turn soon: call after scheduling marline work from asyncio code."""
        if not self._kicked:
            self._kicked = True
            self.loop.call_soon(self._tick)

    def close(self):
        self.loop.remove_reader(self.fd)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Echo(marline.Protocol):
    def data_received(self, data):
        self.transport.write(data)


async def demo():
    reactor = marline.Reactor()
    driver = MarlineDriver(reactor)
    try:
        port = reactor.listen_tcp(0, Echo)
        print(f"listening on 127.0.0.1:{port.port}", flush=True)

        # 1. asyncio client -> marline server.
        reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
        for line in (b"one\n", b"two\n", b"three\n"):
            writer.write(line)
            echoed = await asyncio.wait_for(reader.readline(), 5)
            assert echoed == line, echoed
        writer.close()
        await writer.wait_closed()
        print("asyncio client <-> marline echo server: ok")

        # 2. marline client -> asyncio server.
        async def upper(r, w):
            data = await r.read(100)
            w.write(data.upper())
            await w.drain()
            w.close()

        server = await asyncio.start_server(upper, "127.0.0.1", 0)
        got = asyncio.get_running_loop().create_future()

        class Client(marline.Protocol):
            def connection_made(self):
                self.buf = b""
                self.transport.write(b"shout")

            def data_received(self, data):
                self.buf += data

            def connection_lost(self, reason):
                if not got.done():
                    got.set_result(self.buf)

        reactor.connect_tcp("127.0.0.1", server.sockets[0].getsockname()[1], Client)
        driver.kick()
        assert await asyncio.wait_for(got, 5) == b"SHOUT"
        server.close()
        await server.wait_closed()
        print("marline client <-> asyncio server: ok")

        # 3. marline timers fire while asyncio sleeps, in order.
        fired = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        reactor.call_later(0.05, lambda: fired.append(("b", loop.time() - start)))
        reactor.call_later(0.02, lambda: fired.append(("a", loop.time() - start)))
        driver.kick()
        await asyncio.sleep(0.15)
        assert [name for name, _ in fired] == ["a", "b"], fired
        assert fired[0][1] >= 0.019 and fired[1][1] >= 0.049, fired
        print("marline timers under asyncio: ok")
        if driver.error is not None:
            raise driver.error
    finally:
        driver.close()
        reactor.close()


def main():
    try:
        asyncio.run(demo())
    except Exception as e:  # noqa: BLE001
        print(f"FAILED: {e!r}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
