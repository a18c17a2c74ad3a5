#!/usr/bin/env python3
"""echo_server.py [PORT]: the Python twin of examples-c/echo_server.c.

Listens on 127.0.0.1:PORT (0 or absent: a free port), prints
"listening on 127.0.0.1:PORT" as its first line, turns TCP_NODELAY on for every
connection and echoes every byte until killed. Exit 2: usage; 1: cannot listen.
Run from anywhere: it finds the marline package next to this directory.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import marline  # noqa: E402


class Echo(marline.Protocol):
    def connection_made(self):
        self.transport.set_tcp_nodelay(True)

    def data_received(self, data):
        self.transport.write(data)


def main(argv):
    port = 0
    if len(argv) > 2 or (len(argv) == 2 and not (argv[1].isdigit() and 0 <= int(argv[1]) <= 65535)):
        print("usage: echo_server.py [PORT]   (PORT 0-65535; 0 picks a free port)", file=sys.stderr)
        return 2
    if len(argv) == 2:
        port = int(argv[1])
    with marline.Reactor() as reactor:
        try:
            listening = reactor.listen_tcp(port, Echo, interface="127.0.0.1")
        except marline.MarlineError as e:
            print(f"echo_server.py: cannot listen on 127.0.0.1:{port}: {marline.strerror(e.status)}", file=sys.stderr)
            return 1
        print(f"listening on 127.0.0.1:{listening.port}", flush=True)
        reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
