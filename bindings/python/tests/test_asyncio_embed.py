"""Embedding marline in asyncio (examples/asyncio_embed.py): the example runs, and the
driver carries traffic both ways with callbacks raising into asyncio code."""

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path

import marline

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "asyncio_embed.py"


def load_example():
    spec = importlib.util.spec_from_file_location("asyncio_embed", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_runs():
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, timeout=60)
    text = out.stdout.decode()
    assert out.returncode == 0, (text, out.stderr.decode())
    assert text.startswith("listening on 127.0.0.1:")
    assert text.rstrip().endswith("OK")


def test_driver_many_connections_and_errors():
    example = load_example()

    async def scenario():
        reactor = marline.Reactor()
        driver = example.MarlineDriver(reactor)
        try:
            port = reactor.listen_tcp(0, example.Echo)

            async def client(i):
                r, w = await asyncio.open_connection("127.0.0.1", port.port)
                payload = bytes([i]) * (10_000 + i)
                w.write(payload)
                await w.drain()
                got = await asyncio.wait_for(r.readexactly(len(payload)), 10)
                w.close()
                await w.wait_closed()
                return got == payload

            results = await asyncio.gather(*(client(i) for i in range(20)))
            assert all(results)

            # An exception inside a marline callback surfaces through the driver.
            def boom():
                raise KeyError("from marline")

            reactor.call_later(0, boom)
            driver.kick()
            await asyncio.sleep(0.05)
            assert isinstance(driver.error, KeyError)

            # Nothing scheduled: asyncio keeps no timer for marline, and nothing spins.
            assert reactor.next_timeout() is None
        finally:
            driver.close()
            reactor.close()

    asyncio.run(scenario())
