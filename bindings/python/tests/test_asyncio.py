"""marline.asyncio: a reactor driven from an asyncio loop. Work scheduled from asyncio code
(timers, connections, processes, closes) runs with no call besides the one that
scheduled it; traffic goes both ways; a callback's exception reaches asyncio code."""

import asyncio
import subprocess
import sys
from pathlib import Path

import marline
import marline.asyncio

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "asyncio_embed.py"


def run(scenario):
    """Runs `scenario(reactor, driver, loop)` in a new asyncio loop with a driven reactor."""
    async def main():
        with marline.Reactor() as reactor, marline.asyncio.Driver(reactor) as driver:
            await scenario(reactor, driver, asyncio.get_running_loop())
            driver.raise_error()
    asyncio.run(main())


class Echo(marline.Protocol):
    def data_received(self, data):
        self.transport.write(data)


def test_the_example_runs():
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, timeout=60)
    text = out.stdout.decode()
    assert out.returncode == 0, (text, out.stderr.decode())
    assert text.startswith("listening on 127.0.0.1:")
    assert text.rstrip().endswith("OK")


def test_timers_scheduled_from_asyncio_code_fire_with_no_other_call():
    async def scenario(reactor, driver, loop):
        # Nothing is scheduled yet: the driver keeps no timer.
        assert reactor.next_timeout() is None and driver._timer is None
        await asyncio.sleep(0.01)
        fired = []
        done = loop.create_future()
        start = loop.time()
        reactor.call_later(0.05, lambda: (fired.append(("b", loop.time() - start)), done.set_result(None)))
        reactor.call_later(0.02, lambda: fired.append(("a", loop.time() - start)))
        await asyncio.wait_for(done, 2)
        assert [name for name, _ in fired] == ["a", "b"]
        assert fired[0][1] >= 0.019 and fired[1][1] >= 0.049, fired

        # Rescheduled earlier from asyncio code: fires at the new time.
        early = loop.create_future()
        call = reactor.call_later(30, lambda: early.set_result(loop.time()))
        await asyncio.sleep(0.01)
        t0 = loop.time()
        call.reset(0.02)
        assert await asyncio.wait_for(early, 2) - t0 >= 0.019

        # A timer set by a marline callback (inside a turn) fires too.
        chained = loop.create_future()
        reactor.call_later(0, lambda: reactor.call_later(0.01, lambda: chained.set_result("chained")))
        assert await asyncio.wait_for(chained, 2) == "chained"
    run(scenario)


def test_a_connection_from_asyncio_code_runs_and_closes_with_no_other_call():
    async def scenario(reactor, driver, loop):
        async def upper(r, w):
            w.write((await r.read(100)).upper())
            await w.drain()
            w.close()

        server = await asyncio.start_server(upper, "127.0.0.1", 0)
        events = []
        got = loop.create_future()

        class Client(marline.Protocol):
            def connection_made(self):
                events.append("made")
                self.transport.write(b"shout")

            def data_received(self, data):
                events.append(data)

            def connection_lost(self, reason):
                events.append(reason.kind)
                got.set_result(None)

        reactor.connect_tcp("127.0.0.1", server.sockets[0].getsockname()[1], Client)
        await asyncio.wait_for(got, 5)
        assert events == ["made", b"SHOUT", marline.ReasonKind.DONE]

        # lose_connection from asyncio code: connection_lost comes on a later turn.
        lost = loop.create_future()
        held = []

        class Holder(marline.Protocol):
            def connection_made(self):
                held.append(self.transport)

            def connection_lost(self, reason):
                lost.set_result(reason.kind)

        reactor.connect_tcp("127.0.0.1", server.sockets[0].getsockname()[1], Holder)
        while not held:
            await asyncio.sleep(0.005)
        held[0].lose_connection()
        assert await asyncio.wait_for(lost, 5) == marline.ReasonKind.DONE
        server.close()
        await server.wait_closed()
    run(scenario)


def test_a_process_spawned_from_asyncio_code_runs():
    async def scenario(reactor, driver, loop):
        ended = loop.create_future()
        out = []

        class Cat(marline.ProcessProtocol):
            def connection_made(self):
                self.transport.write(b"through cat")
                self.transport.close_stdin()

            def out_received(self, data):
                out.append(data)

            def process_ended(self, reason):
                ended.set_result(reason.exit_code)

        reactor.spawn_process(Cat(), "/bin/cat", ["cat"])
        assert await asyncio.wait_for(ended, 5) == 0
        assert b"".join(out) == b"through cat"
    run(scenario)


def test_many_connections_and_a_raising_callback():
    async def scenario(reactor, driver, loop):
        port = reactor.listen_tcp(0, Echo)

        async def client(i):
            r, w = await asyncio.open_connection("127.0.0.1", port.port)
            payload = bytes([i]) * (10_000 + i)
            w.write(payload)
            await w.drain()
            got = await asyncio.wait_for(r.readexactly(len(payload)), 10)
            w.close()
            await w.wait_closed()
            return got == payload

        assert await asyncio.gather(*(client(i) for i in range(20))) == [True] * 20

        def boom():
            raise KeyError("from marline")

        reactor.call_later(0, boom)
        for _ in range(200):
            if driver.error is not None:
                break
            await asyncio.sleep(0.005)
        assert isinstance(driver.error, KeyError)
        try:
            driver.raise_error()
            raise AssertionError("raise_error did not raise")
        except KeyError as e:
            assert e.args == ("from marline",)
        assert driver.error is None
    run(scenario)


def test_close_stops_listening_for_calls():
    async def scenario(reactor, driver, loop):
        driver.close()
        driver.close()
        assert driver._scheduled not in marline._core._schedule_listeners
        reactor.call_later(0.01, lambda: None)
        await asyncio.sleep(0)
        assert driver._timer is None
    run(scenario)
