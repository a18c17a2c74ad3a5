#!/usr/bin/env python3
"""The cost of 0xFF-dense telnet data end to end (issue 12 item 7).

    bench/telnet_ff_echo.py [build/telnet_server]
    PREFIX="strace -f -c -e trace=write,writev,read -o out.txt" bench/telnet_ff_echo.py

Starts telnet_server running `stty raw -echo; cat` (so the pty echoes nothing and cat
sends back what it gets), opens two sessions, sends 1 MiB of 0xFF data (IAC IAC on the
wire, 2 MiB) on one and reads the echo back, while the other sends one byte every 10 ms
and times its round trip. Prints the time the echo took, the server's CPU time (without
PREFIX), and the other session's round trips. PREFIX runs the server under a tool.
"""
import os
import socket
import subprocess
import sys
import threading
import time

server = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "build", "telnet_server")
prefix = os.environ.get("PREFIX", "").split()
p = subprocess.Popen(prefix + [server, "0", "--", "sh", "-c", "stty raw -echo; cat"], stdout=subprocess.PIPE, text=True)
try:
    port = int(p.stdout.readline().rsplit(":", 1)[1])

    def session():
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    a, b = session(), session()
    time.sleep(3)  # both commands start after the server's STARTUP_WAIT (no NAWS answer)
    for s in (a, b):  # drop the server's negotiation
        s.settimeout(0.5)
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            pass
        s.settimeout(30)

    def cpu():
        f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    c0 = cpu()
    n = 1 << 20
    t0 = time.time()
    threading.Thread(target=lambda: a.sendall(b"\xff\xff" * n), daemon=True).start()
    rtts = []
    stop = False

    def ping():
        while not stop:
            t = time.time()
            b.sendall(b"p")
            if not b.recv(10):
                return
            rtts.append(time.time() - t)
            time.sleep(0.01)

    th = threading.Thread(target=ping, daemon=True)
    th.start()
    got = 0
    while got < 2 * n:
        d = a.recv(1 << 20)
        if not d:
            break
        got += d.count(b"\xff")
    took = time.time() - t0
    c1 = cpu()
    stop = True
    th.join(5)
    rtts.sort()
    med = 1000 * rtts[len(rtts) // 2] if rtts else float("nan")
    print(f"echoed {got // 2} bytes of 0xFF in {took:.2f} s, server CPU {c1 - c0:.2f} s; "
          f"other session round trip median {med:.2f} ms, max {1000 * max(rtts, default=float('nan')):.2f} ms ({len(rtts)} pings)")
finally:
    p.terminate()
    p.wait()
