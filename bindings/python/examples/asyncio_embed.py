#!/usr/bin/env python3
"""asyncio_embed.py: marline inside Python's asyncio loop, no thread of its own
(marline.asyncio.Driver).

It starts a marline echo server inside asyncio, talks to it with asyncio's own streams,
has a marline client talk to an asyncio server, and checks that marline timers fire while
asyncio sleeps, with no extra call after scheduling them. It prints
"listening on 127.0.0.1:PORT" first and "OK" last (exit 0), or what failed (exit 1).
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import marline  # noqa: E402
import marline.asyncio  # noqa: E402


class Echo(marline.Protocol):
    def data_received(self, data):
        self.transport.write(data)


async def demo():
    reactor = marline.Reactor()
    driver = marline.asyncio.Driver(reactor)
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
        await asyncio.sleep(0.15)
        assert [name for name, _ in fired] == ["a", "b"], fired
        assert fired[0][1] >= 0.019 and fired[1][1] >= 0.049, fired
        print("marline timers under asyncio: ok")
        driver.raise_error()
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
