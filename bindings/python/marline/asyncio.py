"""Running a marline reactor inside an asyncio event loop, with no thread of its own.

    import asyncio, marline, marline.asyncio

    async def main():
        with marline.Reactor() as reactor, marline.asyncio.Driver(reactor) as driver:
            reactor.listen_tcp(8000, Echo)
            reactor.call_later(1.0, print, "a marline timer")   # fires: nothing else to call
            await asyncio.sleep(2)
            driver.raise_error()          # what a marline callback raised, if anything

How: asyncio watches the reactor's epoll descriptor (reactor_backend_fd) and keeps one
timer for marline's next due work (reactor_next_timeout); either way the driver runs one
non-blocking turn, reactor_run_once(0), and sets the timer again. The driver also hears
every call the binding makes into marline from asyncio code (call_later, connect_tcp,
lose_connection, …): such a call can give marline work that is due with no event on
its descriptor, so the driver recomputes its wake-up once per asyncio iteration after
one. Callbacks run inside asyncio's loop; one that raises stops nothing: the first
exception is kept in ``error`` (``raise_error()`` re-raises it).
"""

import asyncio
import threading

from . import _core


class Driver:
    """Runs ``reactor`` inside the asyncio ``loop`` (the running loop by default) until
    close(). One driver per reactor; the reactor must belong to the loop's thread."""

    def __init__(self, reactor, loop=None):
        self.reactor = reactor
        self.loop = loop or asyncio.get_running_loop()
        self.error = None
        self._fd = reactor.backend_fd()
        self._thread = threading.get_ident()
        self._timer = None
        self._rearm = None  # the pending recomputation of the wake-up
        self._busy = False  # inside a turn or a recomputation: calls need no notice
        self.loop.add_reader(self._fd, self._turn)
        _core._schedule_listeners.append(self._scheduled)
        self._arm()

    def _turn(self):
        self._busy = True
        try:
            self.reactor.run_once(0)
        except BaseException as e:  # a callback raised: keep it for whoever awaits
            if self.error is None:
                self.error = e
        finally:
            self._busy = False
        self._arm()

    def _arm(self):
        """Sets asyncio's timer to marline's next due work (none: no timer)."""
        if self._rearm is not None:
            self._rearm.cancel()
            self._rearm = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._busy = True
        try:
            delay = self.reactor.next_timeout()
        finally:
            self._busy = False
        if delay is not None:
            self._timer = self.loop.call_later(delay, self._turn)

    def _scheduled(self):
        # A call into marline from this thread, outside a turn (a turn re-arms anyway):
        # recompute the wake-up once this asyncio iteration's callbacks are done.
        if self._busy or self._rearm is not None or threading.get_ident() != self._thread:
            return
        self._rearm = self.loop.call_soon(self._arm)

    def kick(self):
        """Runs a turn soon. Not needed after calls through the binding (the driver hears
        them); for work given to marline some other way."""
        self.loop.call_soon(self._turn)

    def raise_error(self):
        """Re-raises (once) the first exception a marline callback raised."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def close(self):
        """Stops driving the reactor (it is not freed). Idempotent."""
        if self._scheduled in _core._schedule_listeners:
            _core._schedule_listeners.remove(self._scheduled)
            self.loop.remove_reader(self._fd)
        for handle in (self._timer, self._rearm):
            if handle is not None:
                handle.cancel()
        self._timer = self._rearm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


__all__ = ["Driver"]
