#!/usr/bin/env python3
"""Generates docs/API.md from include/marline.h's doc comments (which cbindgen copies
from the Rust sources), grouped by object, with a table of the examples.

    python3 scripts/api-doc.py > docs/API.md      (or: make api-doc)

tests/api_doc.rs fails when docs/API.md differs from this script's output, when a
function of the header is missing from it, or when a function has no doc comment. The
output depends only on the repository's files (no dates), so it is reproducible.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "marline.h"

# (section, what it covers, rule): the first rule matching an item's name wins.
GROUPS = [
    ("Errors, version and logging",
     "Status codes, their messages, the library version, the per-thread log callback, and "
     "MARLINE_INIT, which starts every struct with a size field.",
     r"^(marline_status_t|marline_strerror|marline_last_os_error|marline_version|marline_debug_panic"
     r"|marline_set_log_callback|marline_log_.*|MARLINE_VERSION_.*|MARLINE_INIT)$"),
    ("Reactor", "The event loop: creating, running, stopping, cross-thread calls, embedding.",
     r"^(reactor_t|marline_reactor_cb|reactor_(new|free|run|run_once|stop|call_from_thread|backend_fd"
     r"|next_timeout))$"),
    ("Delayed calls", "Timers: reactor_call_later and its handle.", r"^(delayed_call_.*|reactor_call_later)$"),
    ("TCP", "Listening, connecting, and TCP options of a transport.",
     r"^(listening_port_.*|reactor_(listen|connect)_tcp|transport_(get|set)_tcp_.*)$"),
    ("Producers and flow control", "Producers registered on a transport; the transport as a producer.",
     r"^(marline_producer_t|transport_(register|unregister)_producer|transport_(pause|resume|stop)_producing"
     r"|transport_set_write_high_water|transport_get_write_queue_size)$"),
    ("Transports", "One connection (TCP, telnet or process): writing, closing, addresses, user data.",
     r"^(transport_.*|marline_protocol_t|marline_iovec_t)$"),
    ("Addresses", "Endpoint addresses returned by the get_host / get_peer calls.",
     r"^(marline_address_.*|marline_family_t)$"),
    ("Reasons", "Why a connection or process ended, as its callbacks receive it.",
     r"^(marline_reason_.*)$"),
    ("Telnet", "The telnet transport: negotiation (RFC 1143), commands, subnegotiation helpers.",
     r"^(telnet_.*|TELNET_.*|marline_telnet_.*|reactor_(listen|connect)_telnet)$"),
    ("Process bridges", "A process bridged to another transport with SSH session semantics.",
     r"^(process_bridge.*|bridge_t|marline_bridge_.*)$"),
    ("Processes", "Child processes: spawning, child fds, signals, ptys.",
     r"^(process_.*|reactor_spawn_process|marline_child_fd_t|marline_process_protocol_t|MARLINE_CHILD_FD_.*)$"),
    ("Streams", "Blocking MacTCP-style stream objects.", r"^(tcp_stream_.*|TCP_STREAM_.*)$"),
]

EXAMPLES = [
    ("examples-c", "*.c"),
    ("examples-cpp", "*.cpp"),
    ("bindings/python/examples", "*.py"),
]


class Item:
    def __init__(self, kind, name, doc, code, members=None):
        self.kind, self.name, self.doc, self.code = kind, name, doc, code
        self.members = members or []  # (name, number or None, doc): enum variants, struct fields


def parse(text):
    items = []
    doc = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        s = line.strip()
        if s.startswith("//"):
            doc.append(s[2:][1:] if s[2:].startswith(" ") else s[2:])
            i += 1
            continue
        if not s:
            doc = []
            i += 1
            continue
        m = re.match(r"#define (\w+)(\([^)]*\))? (.+)$", s)
        if m:
            if m.group(1) != "MARLINE_H":
                items.append(Item("constant", m.group(1), doc, s))
            doc = []
            i += 1
            continue
        m = re.match(r"typedef (enum|struct) (\w+) \{$", s)
        if m:
            kind, name = m.groups()
            body = [line]
            members, mdoc = [], []
            i += 1
            while not lines[i].startswith("}"):
                b = lines[i].strip()
                body.append(lines[i].rstrip())
                if b.startswith("//"):
                    mdoc.append(b[3:] if b.startswith("// ") else b[2:])
                elif b and kind == "enum":
                    mm = re.match(r"(\w+)\s*=\s*(-?\d+),?$", b)
                    members.append((mm.group(1), mm.group(2), " ".join(mdoc)))
                    mdoc = []
                elif b:
                    mm = re.search(r"\(\*(\w+)\)\(|(\w+)(\[\d*\])?;$", b)
                    mname = next(g for g in mm.groups() if g) if mm else b
                    members.append((mname, None, " ".join(mdoc)))
                    mdoc = []
                i += 1
            body.append(lines[i].rstrip())
            items.append(Item(kind, name, doc, "\n".join(body), members))
            doc = []
            i += 1
            continue
        m = re.match(r"typedef struct (\w+) \w+;$", s)
        if m:
            items.append(Item("opaque", m.group(1), doc, s))
            doc = []
            i += 1
            continue
        m = re.match(r"typedef .*\(\*(\w+)\)\(.*\);$", s)
        if m:
            items.append(Item("callback", m.group(1), doc, s))
            doc = []
            i += 1
            continue
        m = re.match(r"^[a-z].*?\b(\w+)\((.*)\);$", s)
        if m and not s.startswith("typedef"):
            items.append(Item("function", m.group(1), doc, s))
            doc = []
            i += 1
            continue
        doc = []
        i += 1
    return items


def group_of(name):
    for title, _, rule in GROUPS:
        if re.match(rule, name):
            return title
    return "Other"


def anchor(title):
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def render_doc(doc):
    """Doc comment lines → Markdown: "# Safety" becomes a bold label; lists stay lists."""
    out = []
    for line in doc:
        if line.startswith("# "):
            if out and out[-1] != "":
                out.append("")
            out.append(f"**{line[2:]}:**")
        else:
            out.append(line)
    text = "\n".join(out).strip()
    return text


def example_rows():
    rows = []
    for folder, pattern in EXAMPLES:
        for path in sorted((ROOT / folder).glob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            rows.append((rel, summary_of(path)))
    return rows


def summary_of(path):
    """The first sentence of a file's leading comment or docstring."""
    text = path.read_text()
    m = re.search(r'/\*(.*?)\*/|^((?://.*\n)+)|"""(.*?)"""', text, re.S | re.M)
    if not m:
        return ""
    raw = next(g for g in m.groups() if g)
    raw = re.sub(r"^\s*(\*|//)\s?", "", raw, flags=re.M)
    raw = " ".join(raw.split())
    end = raw.find(". ")
    return (raw if end < 0 else raw[:end + 1]).replace("|", "\\|")


def render(items, version):
    out = []
    w = out.append
    w("# marline C API reference")
    w("")
    w(f"Version {version}. Generated from `include/marline.h` (whose comments cbindgen copies from the "
      "Rust doc comments) by `scripts/api-doc.py`; regenerate with `make api-doc`. Do not edit by hand: "
      "`tests/api_doc.rs` fails when this file is stale.")
    w("")
    w("Conventions, in short: every object is an opaque handle, checked on use (a stale or foreign "
      "handle gives an error status, never a crash); fallible calls return `marline_status_t` and write "
      "out parameters only on success; a call that fails never calls its callback; callbacks run on the "
      "reactor's thread and receive their handle first and the `user` pointer last; only "
      "`reactor_stop` and `reactor_call_from_thread` may be called from other threads. Callback tables "
      "and options start with a `size` field: start them with `MARLINE_INIT(&t)` (README \"ABI policy\").")
    w("")
    w("Each function lists its errors. \"The handle errors\" are `MARLINE_ERR_NULL_POINTER` (a NULL "
      "handle), `MARLINE_ERR_WRONG_HANDLE_TYPE`, `MARLINE_ERR_STALE_HANDLE` and `MARLINE_ERR_WRONG_THREAD`, "
      "which any call on a handle can return; any call can return `MARLINE_ERR_PANIC`. \"`p` must not be "
      "NULL\" means NULL is refused (`MARLINE_ERR_NULL_POINTER`, or the fallback value a function without "
      "a status states); \"`p` may be NULL\" means NULL is a valid argument with the meaning given.")
    w("")
    w("Wrappers: [`include/marline.hpp`](../include/marline.hpp) (header-only C++17 RAII) and "
      "[`bindings/python`](../bindings/python) (Twisted-shaped Python classes; `pip install ./bindings/python`).")
    w("")
    groups = {}
    for it in items:
        groups.setdefault(group_of(it.name), []).append(it)
    order = [g[0] for g in GROUPS] + (["Other"] if "Other" in groups else [])
    w("## Contents")
    w("")
    w("- [Examples](#examples)")
    for title in order:
        if title in groups:
            n = sum(1 for it in groups[title] if it.kind == "function")
            w(f"- [{title}](#{anchor(title)}) ({n} functions)")
    w("")
    w("## Examples")
    w("")
    w("| Example | What it shows |")
    w("|---|---|")
    for rel, summary in example_rows():
        w(f"| [`{rel}`](../{rel}) | {summary} |")
    w("")
    blurbs = {g[0]: g[1] for g in GROUPS}
    for title in order:
        if title not in groups:
            continue
        its = groups[title]
        w(f"## {title}")
        w("")
        if title in blurbs:
            w(blurbs[title])
            w("")
        types = [it for it in its if it.kind != "function"]
        funcs = [it for it in its if it.kind == "function"]
        if types:
            w("### Types and constants")
            w("")
            for it in types:
                w(f"#### `{it.name}`")
                w("")
                doc = render_doc(it.doc)
                if doc:
                    w(doc)
                    w("")
                if it.kind == "enum" and it.members:
                    w("| Value | Number | Meaning |")
                    w("|---|---:|---|")
                    for mname, number, mdoc in it.members:
                        cell = mdoc.replace("|", "\\|")
                        w(f"| `{mname}` | {number} | {cell} |")
                    w("")
                elif it.kind == "struct" and it.members:
                    w("| Field | Meaning |")
                    w("|---|---|")
                    for mname, _, mdoc in it.members:
                        cell = mdoc.replace("|", "\\|")
                        w(f"| `{mname}` | {cell} |")
                    w("")
                else:
                    w("```c")
                    w(it.code)
                    w("```")
                    w("")
        if funcs:
            w("### Functions")
            w("")
            for it in funcs:
                w(f"#### `{it.name}`")
                w("")
                w("```c")
                w(it.code)
                w("```")
                w("")
                w(render_doc(it.doc))
                w("")
    return "\n".join(out).rstrip() + "\n"


def main():
    text = HEADER.read_text()
    items = parse(text)
    undocumented = [it.name for it in items if it.kind == "function" and not it.doc]
    if undocumented:
        print("api-doc: functions without a doc comment: " + ", ".join(undocumented), file=sys.stderr)
        return 1
    version = re.search(r'#define MARLINE_VERSION_STRING "([^"]+)"', text).group(1)
    sys.stdout.write(render(items, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
