"""marline for Python: a ctypes binding to libmarline with Twisted-shaped classes.

    import marline

    class Echo(marline.Protocol):
        def data_received(self, data):
            self.transport.write(data)

    with marline.Reactor() as reactor:
        port = reactor.listen_tcp(0, Echo)
        print("listening on", port.get_host().text)
        reactor.run()

See README.md in this directory: how the library is found (MARLINE_LIB), callbacks,
errors, threads, telnet and embedding in asyncio.
"""

from . import _lib
from ._core import (Address, DelayedCall, ListeningPort, LogLevel, MarlineError, Protocol, Reactor, Reason,
                    ReasonKind, Status, Transport, set_log_callback, strerror, version)
from . import process, telnet
from .process import ProcessProtocol, ProcessTransport
from .telnet import TelnetProtocol, TelnetTransport

library_path = _lib.path

__all__ = [
    "Address", "DelayedCall", "ProcessProtocol", "ProcessTransport", "process", "ListeningPort", "LogLevel", "MarlineError", "Protocol", "Reactor", "Reason",
    "ReasonKind", "Status", "TelnetProtocol", "TelnetTransport", "Transport", "library_path",
    "set_log_callback", "strerror", "telnet", "version",
]
