"""marline for Python: Twisted-shaped classes over libmarline's C API (ctypes), which the
package's extension module marline._native carries.

    import marline

    class Echo(marline.Protocol):
        def data_received(self, data):
            self.transport.write(data)

    with marline.Reactor() as reactor:
        port = reactor.listen_tcp(0, Echo)
        print("listening on", port.get_host().text)
        reactor.run()

See README.md in this directory: how the library is found (MARLINE_LIB), callbacks,
errors, threads, telnet, processes and bridges (marline.process), blocking streams
(marline.stream) and embedding in asyncio (marline.asyncio).
"""

from . import _lib
from ._core import (Address, DelayedCall, ListeningPort, LogLevel, MarlineError, Protocol, Reactor, Reason,
                    ReasonKind, Status, Transport, set_log_callback, strerror, version)
from . import process, stream, telnet
from .process import Bridge, ProcessProtocol, ProcessTransport
from .stream import TcpStream
from .telnet import TelnetProtocol, TelnetTransport

library_path = _lib.path
__version__ = _lib.VERSION

__all__ = [
    "Address", "Bridge", "DelayedCall", "ProcessProtocol", "ProcessTransport", "process", "ListeningPort", "LogLevel",
    "MarlineError", "Protocol", "Reactor", "Reason", "ReasonKind", "Status", "TcpStream", "TelnetProtocol",
    "TelnetTransport", "Transport", "library_path", "set_log_callback", "stream", "strerror", "telnet", "version",
    "__version__",
]
