#!/usr/bin/env python3
"""Runs every benchmark side by side and prints one table.

    make bench                      # everything, 5 runs each (median)
    BENCH_QUICK=1 make bench        # smoke run: 1 run, short, small counts
    BENCH_PEERS=marline,libuv       # only these peers
    BENCH_WORKLOADS=pump,timers     # only these workloads (pump = pump-1 and pump-16)
    BENCH_RUNS=7                    # runs per measurement (median taken)
    BENCH_NO_BUILD=1                # use what is built
    BENCH_LOADGEN=path BENCH_MARLINE_ECHO=path   # binaries to use instead
    BENCH_OUT=dir                   # where the results go (bench/results)
    BENCH_MARLINE_BEFORE=path       # an older echo_server, as peer "marline-before"

Servers run on core 1, load generators and sinks on core 0 (taskset). In
each run every peer is measured once, in an order that rotates from run to
run, so slow drifts of a shared machine spread over all peers. Every byte a
peer echoes or sends is checked: a peer that corrupts the stream gets FAIL,
not a score. Writes bench/results/latest.{md,json} and latest.png.
"""
import json
import os
import platform
import resource
import select
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.path.join(ROOT, "build", "bench")
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench", "results"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "5"))
SECS = float(os.environ.get("BENCH_SECS", "0.4" if QUICK else "1.5"))
PEER_FILTER = [p for p in os.environ.get("BENCH_PEERS", "").split(",") if p]
WORK_FILTER = [w for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w]
SERVER_CPU, CLIENT_CPU, ALL_CPUS = "1", "0", "0-1"
LOADGEN = os.environ.get("BENCH_LOADGEN", os.path.join(ROOT, "bench/target/release/loadgen"))
MARLINE_ECHO = os.environ.get("BENCH_MARLINE_ECHO", os.path.join(ROOT, "build/echo_server"))
PY = sys.executable or "python3"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

ECHO_PEERS = {
    "marline": [MARLINE_ECHO],
    "libuv": [os.path.join(B, "uv_echo")],
    "tokio": [os.path.join(ROOT, "bench/target/release/tokio_echo")],
    "epoll": [os.path.join(B, "epoll_echo")],
    "twisted": [PY, os.path.join(ROOT, "bench/peers/twisted_echo.py")],
}
# Before/after comparisons: BENCH_MARLINE_BEFORE=path adds an older build
# of the echo server as the peer "marline-before".
if os.environ.get("BENCH_MARLINE_BEFORE"):
    ECHO_PEERS["marline-before"] = [os.environ["BENCH_MARLINE_BEFORE"]]
# Peers the goal is measured against (Twisted is for reference).
RIVALS = ["libuv", "tokio", "epoll"]
# Rows the issue measures against fewer rivals: idle memory is "against
# libuv" (the tokio and epoll columns are shown for reference: the epoll
# peer keeps one 40-byte struct per connection and nothing else).
ROW_RIVALS = {"idle": ["libuv"]}
CFLAGS = ["-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", "-Iinclude", "-Ibench/peers"]
MARLINE_LIBS = ["target/release/libmarline.a", "-lpthread", "-ldl", "-lm", "-lutil"]
C_PEERS = {  # binary: (source, libraries)
    "uv_echo": ("uv_echo.c", ["-luv"]),
    "epoll_echo": ("epoll_echo.c", []),
    "smallwrite_marline": ("smallwrite_marline.c", MARLINE_LIBS),
    "smallwrite_uv": ("smallwrite_uv.c", ["-luv"]),
    "gather_marline": ("gather_marline.c", MARLINE_LIBS),
    "gather_uv": ("gather_uv.c", ["-luv"]),
    "timers_marline": ("timers_marline.c", MARLINE_LIBS),
    "timers_uv": ("timers_uv.c", ["-luv"]),
    "spawn_marline": ("spawn_marline.c", MARLINE_LIBS),
    "spawn_uv": ("spawn_uv.c", ["-luv"]),
    "libtelnet_parse": ("libtelnet_parse.c", ["-ltelnet"]),
}

checked_ok = 0
failures = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build():
    def run(cmd):
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    run(["make", "-s", "all"])
    run(["cargo", "build", "--quiet", "--release", "--manifest-path", "bench/Cargo.toml"])
    os.makedirs(B, exist_ok=True)
    for name, (src, libs) in C_PEERS.items():
        out, src = os.path.join(B, name), os.path.join("bench/peers", src)
        deps = [src, "bench/peers/pattern.h", "bench/peers/ballast.h"] + [l for l in libs if l.endswith(".a")]
        if os.path.exists(out) and all(os.path.getmtime(out) >= os.path.getmtime(os.path.join(ROOT, d)) for d in deps):
            continue
        run(["cc"] + CFLAGS + [src] + libs + ["-o", out])


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(cpus, argv):
    return ["taskset", "-c", cpus] + argv


def read_line(p, timeout=15.0):
    """The next stdout line of `p`, or '' after `timeout` seconds."""
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    return p.stdout.readline() if ready else ""


def start(argv, cpus, stdin=None):
    p = subprocess.Popen(pinned(cpus, argv), stdout=subprocess.PIPE, stdin=stdin, text=True, preexec_fn=raise_nofile, cwd=ROOT)
    line = read_line(p)
    if "listening on 127.0.0.1:" not in line:
        stop(p)
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return p, int(line.rsplit(":", 1)[1])


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def result(text, what):
    """Parses `RESULT k=v …` out of `text`; None (and a recorded failure)
    unless the line says byte-exact: pass."""
    global checked_ok
    for line in text.splitlines():
        if line.startswith("RESULT") and "byte-exact: pass" in line:
            checked_ok += 1
            return {k: v for k, v in (w.split("=", 1) for w in line.split() if "=" in w)}
    failures.append(f"{what}: {text.strip()[-300:] or 'no output'}")
    log(f"  FAIL {what}: {text.strip()[-300:]}")
    return None


def rss_kib(pid):
    """RSS of the process `pid` and its children (taskset execs, so one)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ----- workloads: each measure(peer) returns one number or None -----

def cpu_ticks(pid):
    """User + system CPU of process `pid` so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# Bytes of checked echo per unit of work, for the server's CPU per unit.
ECHO_UNIT_BYTES = {"pump": 1 << 20, "pingpong": 64, "churn": 64}


def echo_measure(mode, conns, threads=1, server_cpus=SERVER_CPU, client_cpus=CLIENT_CPU, argv_of=None):
    """Returns (rate, server CPU µs per unit of work)."""
    def measure(peer):
        argv = argv_of(peer) if argv_of else ECHO_PEERS[peer] + ["0"]
        srv, port = start(argv, server_cpus)
        try:
            cmd = [LOADGEN, mode, "--port", str(port), "--conns", str(conns), "--secs", str(SECS), "--threads", str(threads)]
            ticks = cpu_ticks(srv.pid)
            out = subprocess.run(pinned(client_cpus, cmd), capture_output=True, text=True, timeout=SECS + 60)
            ticks = cpu_ticks(srv.pid) - ticks
            r = result(out.stdout + out.stderr, f"{mode} {conns} on {peer}")
            if not r:
                return None
            units = int(r["checked"]) / ECHO_UNIT_BYTES[mode]
            return float(r["value"]), ticks / CLOCK_TICKS / units * 1e6
        finally:
            stop(srv)
    return measure


def idle_measure(conns):
    def measure(peer):
        srv, port = start(ECHO_PEERS[peer] + ["0"], SERVER_CPU)
        try:
            time.sleep(0.2)
            before = rss_kib(srv.pid)
            gen = subprocess.Popen(pinned(CLIENT_CPU, [LOADGEN, "idle", "--port", str(port), "--conns", str(conns)]),
                                   stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
            line = read_line(gen, 120)
            if not line.startswith("ready"):
                gen.kill()
                result(line + gen.stdout.read(), f"idle {conns} on {peer}")
                return None
            time.sleep(0.3)
            after = rss_kib(srv.pid)
            out, _ = gen.communicate("done\n", timeout=60)
            r = result(out, f"idle {conns} on {peer}")
            return (after - before) * 1024.0 / conns if r else None
        finally:
            stop(srv)
    return measure


def sink_measure(prog, args, expect, value):
    """Runs `prog PORT args` against a checking sink; value(secs) → number."""
    def measure(peer):
        sink, port = start([LOADGEN, "sink", "--expect", str(expect)], CLIENT_CPU)
        try:
            out = subprocess.run(pinned(SERVER_CPU, [os.path.join(B, prog[peer]), str(port)] + args), capture_output=True, text=True, timeout=120)
            s_out, _ = sink.communicate(timeout=60)
        finally:
            stop(sink)
        r = result(s_out, f"{prog[peer]} (sink)")
        start_ns = [w.split("=")[1] for w in out.stdout.split() if w.startswith("start_ns=")]
        if not r or out.returncode != 0 or not start_ns:
            if r:
                failures.append(f"{prog[peer]}: {out.stdout}{out.stderr}")
            return None
        return value((int(r["eof_ns"]) - int(start_ns[0])) / 1e9)
    return measure


def program_measure(argv_of):
    def measure(peer):
        argv = argv_of(peer)
        out = subprocess.run(pinned(SERVER_CPU, argv), capture_output=True, text=True, timeout=300)
        r = result(out.stdout + out.stderr, " ".join(os.path.basename(a) for a in argv))
        return float(r["value"]) if r else None
    return measure


def workloads():
    n_small = 100_000 if QUICK else 1_000_000
    n_gather = 16 if QUICK else 256
    n_timers = 100_000 if QUICK else 1_000_000
    n_idle = 1000 if QUICK else 10_000
    n_spawn = 100 if QUICK else 1000
    n_telnet = 8 if QUICK else 32
    telnet_reps = 1 if QUICK else 4
    echo = list(ECHO_PEERS)
    spawn = {"marline": [os.path.join(B, "spawn_marline")], "libuv": [os.path.join(B, "spawn_uv")],
             "twisted": [PY, os.path.join(ROOT, "bench/peers/spawn_twisted.py")]}
    uv = ["marline", "libuv"]
    tel = {"marline": [os.path.join(ROOT, "bench/target/release/telnet_parse")], "libtelnet": [os.path.join(B, "libtelnet_parse")]}
    mt = os.path.join(ROOT, "build/echo_server_mt")
    mt_argv = {"marline 1 thread": [mt, "0", "1"], "marline 2 threads": [mt, "0", "2"]}
    W = [
        # id, title, unit, higher is better, peers, measure
        ("pump-1", "pump, 1 conn (64 KiB writes)", "MiB/s", True, echo, echo_measure("pump", 1)),
        ("pump-16", "pump, 16 conns", "MiB/s", True, echo, echo_measure("pump", 16)),
        ("pingpong-1", "ping-pong 64 B, 1 conn", "rt/s", True, echo, echo_measure("pingpong", 1)),
        ("pingpong-100", "ping-pong 64 B, 100 conns", "rt/s", True, echo, echo_measure("pingpong", 100)),
        ("churn-50", "connection churn, 50 parallel", "conn/s", True, echo, echo_measure("churn", 50)),
        ("smallwrite", f"small-write batch: {n_small} x 13 B then close, until EOF", "ms", False, uv,
         sink_measure({"marline": "smallwrite_marline", "libuv": "smallwrite_uv"}, [str(n_small)], n_small * 13, lambda s: s * 1e3)),
        ("gather", f"gather: {n_gather} MiB as 16 x 4 KiB writes", "MiB/s", True, uv,
         sink_measure({"marline": "gather_marline", "libuv": "gather_uv"}, [str(n_gather)], n_gather << 20, lambda s: n_gather / s)),
        ("timers", f"timers: {n_timers} scheduled, half cancelled, rest fired", "Mcalls/s", True, uv,
         program_measure(lambda p: [os.path.join(B, "timers_marline" if p == "marline" else "timers_uv"), str(n_timers)])),
        ("spawn", f"spawn rate: {n_spawn} x sh -c 'echo hello; exit 42', 64 in flight", "spawns/s", True, list(spawn),
         program_measure(lambda p: spawn[p] + [str(n_spawn), "64"])),
        # The same with a large parent (ballast.h): what fork's page-table
        # copy costs a big program embedding the library.
        # A fifth of the children: libuv manages ~17 per second here.
        ("spawn-big", f"spawn rate with a 1 GiB parent: {n_spawn // 5} x sh -c 'echo hello; exit 42', 64 in flight", "spawns/s", True, uv,
         program_measure(lambda p: spawn[p] + [str(n_spawn // 5), "64", "1024"])),
        ("idle", f"idle memory, {n_idle} conns (RSS per conn)", "B/conn", False, echo, idle_measure(n_idle)),
        ("telnet-plain", "telnet parse, plain data", "MiB/s", True, ["marline", "libtelnet"],
         program_measure(lambda p: tel[p] + ["plain", str(n_telnet), str(telnet_reps)])),
        ("telnet-iac", "telnet parse, IAC-dense data", "MiB/s", True, ["marline", "libtelnet"],
         program_measure(lambda p: tel[p] + ["iac", str(n_telnet), str(telnet_reps)])),
        ("telnet-ff", "telnet parse, 0xFF-dense data (x IAC IAC)", "MiB/s", True, ["marline", "libtelnet"],
         program_measure(lambda p: tel[p] + ["ff", str(n_telnet), str(telnet_reps)])),
        # libtelnet keeps CR NUL as it is (no NVT translation on receive).
        ("telnet-crnul", "telnet parse, CR-NUL-dense data (x CR NUL)", "MiB/s", True, ["marline", "libtelnet"],
         program_measure(lambda p: tel[p] + ["crnul", str(n_telnet), str(telnet_reps)])),
    ]
    if os.path.exists(mt):
        # Scaling: everything on both cores (the machine has two), the load
        # generator with two threads; only the reactor count changes.
        W += [
            ("mt-pingpong", "SO_REUSEPORT ping-pong 100 conns, cores 0-1", "rt/s", True, list(mt_argv),
             echo_measure("pingpong", 100, threads=2, server_cpus=ALL_CPUS, client_cpus=ALL_CPUS, argv_of=lambda p: mt_argv[p])),
            ("mt-pump", "SO_REUSEPORT pump 16 conns, cores 0-1", "MiB/s", True, list(mt_argv),
             echo_measure("pump", 16, threads=2, server_cpus=ALL_CPUS, client_cpus=ALL_CPUS, argv_of=lambda p: mt_argv[p])),
        ]
    return W


def paired(samples, mine, rival, higher):
    """Marline against one rival, run by run: (median of the per-run ratios,
    runs marline was ahead, runs compared); ratio > 1 means marline ahead.
    Peers of one run are measured seconds apart, so pairing cancels most of
    a shared machine's drift, which a ratio of medians does not."""
    ratios = [m / r if higher else r / m for m, r in zip(samples.get(mine, []), samples.get(rival, [])) if m and r]
    if not ratios:
        return None
    return statistics.median(ratios), sum(x > 1 for x in ratios), len(ratios)


def versus(samples, higher, rivals):
    """The two ratio cells of a row: marline against its weakest-beaten rival
    (the lowest per-rival median ratio; each rival is compared on its own,
    because the best of several noisy peers in each run is biased upwards
    against any single one), and the per-rival ratios with runs won."""
    per = {p: paired(samples, "marline", p, higher) for p in rivals if p in samples}
    per = {p: v for p, v in per.items() if v}
    if not per:
        return "-", "-"
    worst = min(v[0] for v in per.values())
    detail = ", ".join(f"{p} {v[0]:.2f}x ({v[1]}/{v[2]})" for p, v in per.items())
    return f"{worst:.2f}x", detail


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def fmt(v):
    if v is None:
        return "FAIL"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def main():
    if os.environ.get("BENCH_NO_BUILD") != "1":
        build()
    raise_nofile()
    ws = [w for w in workloads() if not WORK_FILTER or any(w[0] == f or w[0].startswith(f + "-") for f in WORK_FILTER)]
    samples = {w[0]: {p: [] for p in w[4] if not PEER_FILTER or any(p.startswith(f) for f in PEER_FILTER)} for w in ws}
    log(f"{machine()}; {RUNS} run(s) of {SECS} s per echo measurement")
    cpu = {w[0]: {p: [] for p in samples[w[0]]} for w in ws}
    for run in range(RUNS):
        for wid, title, unit, higher, _, measure in ws:
            peers = list(samples[wid])
            if not peers:
                continue
            k = run % len(peers)
            for peer in peers[k:] + peers[:k]:
                v = measure(peer)
                if isinstance(v, tuple):
                    v, per_unit = v
                    cpu[wid][peer].append(per_unit)
                samples[wid][peer].append(v)
                log(f"run {run + 1}/{RUNS} {wid:13} {peer:18} {fmt(v):>12} {unit}")
    all_peers = []
    for wid in samples:
        all_peers += [p for p in samples[wid] if p not in all_peers]
    rows = []
    for wid, title, unit, higher, _, _ in ws:
        med = {p: median_or_none(vs) for p, vs in samples[wid].items()}
        cpu_med = {p: median_or_none(vs) for p, vs in cpu[wid].items() if vs}
        rows.append({"id": wid, "title": title, "unit": unit, "higher_is_better": higher, "samples": samples[wid],
                     "median": med, "server_cpu_us_per_unit": cpu[wid], "server_cpu_median": cpu_med})
    text = rate_table(rows, all_peers) + "\n\n" + cpu_table(rows, all_peers)
    verdict = f"byte-exact: pass ({checked_ok} checked measurements)" if not failures else f"byte-exact: FAIL ({len(failures)} failures)"
    print(text)
    print(f"\nmedians of {RUNS} run(s); ratios are medians of per-run ratios against each rival (libuv, tokio, epoll; "
          "libtelnet for telnet), > 1 meaning marline is ahead; 'worst' is the lowest of them")
    print(machine())
    print(verdict)
    for f in failures:
        print("  " + f)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "latest.md"), "w") as f:
        f.write(f"{text}\n\nMedians of {RUNS} run(s). {machine()}. {verdict}.\n")
    with open(os.path.join(OUT, "latest.json"), "w") as f:
        json.dump({"machine": machine(), "runs": RUNS, "secs": SECS, "rows": rows, "failures": failures}, f, indent=1)
    chart(rows, all_peers)
    sys.exit(1 if failures else 0)


def median_or_none(vs):
    return None if not vs or any(v is None for v in vs) else statistics.median(vs)


def markdown(head, lines):
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(c) + " |" for c in lines])


def rate_table(rows, peers):
    lines = []
    for r in rows:
        med, samples, higher = r["median"], r["samples"], r["higher_is_better"]
        if r["id"].startswith("mt-"):
            scaling = paired(samples, "marline 2 threads", "marline 1 thread", True)
            worst, detail = "-", (f"2 threads / 1 = {scaling[0]:.2f}x ({scaling[1]}/{scaling[2]})" if scaling else "-")
        else:
            rivals = ROW_RIVALS.get(r["id"], RIVALS + ["libtelnet"])
            worst, detail = versus(samples, higher, [p for p in samples if p in rivals])
        unit = r["unit"] + (" (higher is better)" if higher else " (lower is better)")
        lines.append([r["title"], unit] + [fmt(med[p]) if p in med else "" for p in peers] + [worst, detail])
    return markdown(["workload", "unit"] + peers + ["marline vs rivals, worst", "vs each rival (runs ahead)"], lines)


def cpu_table(rows, peers):
    """Server CPU (user + system) per unit of work on the echo rows: what
    each server costs the machine, apart from how fast the load generator
    and the scheduler let the run go."""
    units = {"MiB/s": "µs per MiB", "rt/s": "µs per round trip", "conn/s": "µs per connection"}
    peers = [p for p in peers if any(p in r["server_cpu_median"] for r in rows if not r["id"].startswith("mt-"))]
    lines = []
    for r in rows:
        med = r["server_cpu_median"]
        if not med or r["id"].startswith("mt-"):
            continue
        worst, detail = versus(r["server_cpu_us_per_unit"], False, [p for p in med if p in RIVALS])
        lines.append([r["title"], units.get(r["unit"], r["unit"])] + [fmt(med.get(p)) if p in med else "" for p in peers] + [worst, detail])
    return "Server CPU per unit of work (user + system, lower is better):\n\n" + markdown(
        ["workload", "unit"] + peers + ["marline vs rivals, worst", "vs each rival (runs ahead)"], lines) if lines else ""


def chart(rows, peers):
    """Grouped bars: each peer's median relative to the best in its row."""
    dat = os.path.join(OUT, "latest.dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join(f'"{p}"' for p in peers) + "\n")
        for r in rows:
            vals = [v for v in r["median"].values() if v]
            if not vals:
                continue
            best = max(vals) if r["higher_is_better"] else min(vals)
            rel = []
            for p in peers:
                v = r["median"].get(p)
                rel.append("-" if not v else f"{(v / best if r['higher_is_better'] else best / v):.3f}")
            f.write(f'"{r["id"]}" ' + " ".join(rel) + "\n")
    png = os.path.join(OUT, "latest.png")
    if shutil.which("gnuplot") is None:
        log("no chart: gnuplot is not installed (optional; apt-get install gnuplot-nox for latest.png)")
        return
    plot = "\n".join([
        "set terminal pngcairo size 1400,600 noenhanced" if has_cairo() else "set terminal png size 1400,600 noenhanced",
        f"set output '{png}'",
        "set style data histograms", "set style histogram clustered gap 1", "set style fill solid border -1",
        "set yrange [0:1.1]", "set ylabel 'relative to the best in the row (1 = best)'",
        "set xtics rotate by -30", "set key outside right", "set grid ytics",
        "set datafile missing '-'",
        f"plot for [i=2:{len(peers) + 1}] '{dat}' using i:xtic(1) title columnheader(i)",
    ])
    try:
        subprocess.run(["gnuplot"], input=plot, text=True, check=True, capture_output=True)
        log(f"chart: {png}")
    except (OSError, subprocess.CalledProcessError) as e:
        log(f"no chart (gnuplot: {e})")


def has_cairo():
    out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in out.stdout + out.stderr


if __name__ == "__main__":
    main()
