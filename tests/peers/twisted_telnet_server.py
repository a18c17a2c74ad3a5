"""A tiny Twisted telnet server for marline's interop tests (tests/telnet_interop.rs).

Listens on 127.0.0.1, port 0, and prints the port it got as its first line (flushed).
For each connection it offers WILL ECHO and asks DO NAWS, reporting each outcome as a line
of text (WILL-ECHO-OK / WILL-ECHO-REFUSED, DO-NAWS-OK / DO-NAWS-REFUSED); it agrees to DO SGA
and refuses everything else the client asks for; a NAWS subnegotiation is reported as
"NAWS <width> <height>"; application data comes back as "ECHO:" + data.
Runs until killed.
"""
import struct
import sys

from twisted.conch.telnet import ECHO, NAWS, SGA, TelnetProtocol, TelnetTransport
from twisted.internet import protocol, reactor


class Server(TelnetProtocol):
    def connectionMade(self):
        t = self.transport
        t.negotiationMap[NAWS] = self.naws
        t.will(ECHO).addCallbacks(lambda _: t.write(b"WILL-ECHO-OK\n"), lambda f: t.write(b"WILL-ECHO-REFUSED\n"))
        t.do(NAWS).addCallbacks(lambda _: t.write(b"DO-NAWS-OK\n"), lambda f: t.write(b"DO-NAWS-REFUSED\n"))

    # Twisted also calls these when the peer agrees to its own requests (and asserts that
    # they return True), so ECHO and NAWS are listed besides what the client may ask for.
    def enableLocal(self, option):
        return option in (SGA, ECHO)

    def enableRemote(self, option):
        return option == NAWS

    def disableLocal(self, option):
        pass

    def disableRemote(self, option):
        pass

    def naws(self, data):
        width, height = struct.unpack("!HH", b"".join(data))
        self.transport.write(b"NAWS %d %d\n" % (width, height))

    def dataReceived(self, data):
        self.transport.write(b"ECHO:" + data)


def main():
    factory = protocol.ServerFactory()
    factory.protocol = lambda: TelnetTransport(Server)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    sys.stdout.write("%d\n" % port.getHost().port)
    sys.stdout.flush()
    reactor.run()


if __name__ == "__main__":
    main()
