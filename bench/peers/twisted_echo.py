"""twisted_echo.py [PORT]: the Twisted reference peer (epoll reactor,
TCP_NODELAY); prints "listening on 127.0.0.1:PORT" and echoes until killed."""
import sys

from twisted.internet import epollreactor

epollreactor.install()
from twisted.internet import protocol, reactor  # noqa: E402


class Echo(protocol.Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        self.transport.write(data)


class Factory(protocol.Factory):
    protocol = Echo


port = reactor.listenTCP(int(sys.argv[1]) if len(sys.argv) > 1 else 0, Factory(), backlog=4096, interface="127.0.0.1")
print("listening on 127.0.0.1:%d" % port.getHost().port, flush=True)
reactor.run()
