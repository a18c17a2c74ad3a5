#!/usr/bin/env python3
"""Prints the ABI of include/marline.h, one fact per line: the soname, then every
function and callback type (parameter names left out), opaque type, struct (size,
alignment, and each field's offset, size and type), enum (its size and every value) and
constant, by kind and name (so the header's order does not matter). Sizes, offsets and values come from the C compiler, so they are what a
C program built against the header sees.

    python3 scripts/abi-dump.py            (CC picks the compiler; default cc)

tests/abi.rs compares this with the checked-in snapshot abi/marline.abi; `make abi`
blesses a new one after a deliberate change (see "ABI policy" in the README).
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "marline.h"


def soname():
    """The soname of Cargo.toml's version: the rule of build.rs."""
    text = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'^\[package\][^\[]*?^version = "([^"]+)"', text, re.M | re.S).group(1)
    major, minor = version.split(".")[:2]
    return f"libmarline.so.0.{minor}" if major == "0" else f"libmarline.so.{major}"


def without_names(params):
    """'struct t *t, const uint8_t *data' -> 'struct t *, const uint8_t *'."""
    if params.strip() in ("", "void"):
        return "void"
    out = []
    for p in params.split(","):
        p = p.strip()
        m = re.match(r"(.*?[\s*])(\w+)(\[\d*\])?$", p)
        out.append((m.group(1).strip() + (m.group(3) or "")) if m else p)
    return ", ".join(out)


def declarations(text):
    """The header's declarations in order, comments and preprocessor lines (but #define)
    dropped, each struct or enum body joined to its typedef."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = [l.split("//")[0].rstrip() for l in text.splitlines()]
    lines = [l for l in lines if l.strip() and (not l.lstrip().startswith("#") or l.startswith("#define"))]
    decls, body = [], None
    for l in lines:
        if body is not None:
            body.append(l.strip())
            if l.startswith("}"):
                decls.append(" ".join(body))
                body = None
        elif re.match(r"typedef (struct|enum) \w+ \{$", l):
            body = [l]
        elif l.strip() not in ('extern "C" {', "}"):
            decls.append(l.strip())
    return decls


def facts(decls):
    """(lines known from the text, C statements printing what the compiler knows), in
    header order; the C statements print their own lines."""
    out = []  # each: ("text", line) or ("c", statement)
    for d in decls:
        m = re.match(r"#define (\w+) (.+)$", d)
        if m:
            if m.group(1) != "MARLINE_H" and not m.group(1).startswith("MARLINE_VERSION_"):
                out.append(("c", f'printf("constant {m.group(1)} = %lld\\n", (long long)({m.group(1)}));'))
            continue
        if d.startswith("#define"):
            continue  # function-like macros (MARLINE_INIT) are source, not ABI
        m = re.match(r"typedef enum (\w+) \{ (.*) \} \w+;$", d)
        if m:
            name = m.group(1)
            out.append(("c", f'printf("enum {name} size %zu\\n", sizeof(enum {name}));'))
            for v in re.findall(r"(\w+)(?: = [^,]+)?,", m.group(2) + ","):
                out.append(("c", f'printf("enum {name} value {v} = %lld\\n", (long long){v});'))
            continue
        m = re.match(r"typedef struct (\w+) \{ (.*) \} \w+;$", d)
        if m:
            name, fields = m.group(1), [f.strip() for f in m.group(2).split(";") if f.strip()]
            sized = " sized" if fields and re.fullmatch(r"size_t size", fields[0]) else ""
            out.append(("c", f'printf("struct {name} size %zu align %zu{sized}\\n", sizeof({name}), _Alignof({name}));'))
            for f in fields:
                fp = re.match(r"(.*)\(\*(\w+)\)\((.*)\)$", f)
                if fp:
                    field, ctype = fp.group(2), f"{fp.group(1).strip()} (*)({without_names(fp.group(3))})"
                else:
                    fm = re.match(r"(.*?[\s*])(\w+)(\[\d+\])?$", f)
                    field, ctype = fm.group(2), fm.group(1).strip() + (fm.group(3) or "")
                out.append(("c", f'printf("struct {name} field {field} offset %zu size %zu: {ctype}\\n", '
                                 f'offsetof({name}, {field}), sizeof((({name} *)0)->{field}));'))
            continue
        m = re.match(r"typedef struct (\w+) \w+;$", d)
        if m:
            out.append(("text", f"opaque {m.group(1)}"))
            continue
        m = re.match(r"typedef (.*)\(\*(\w+)\)\((.*)\);$", d)
        if m:
            out.append(("text", f"callback {m.group(2)}({without_names(m.group(3))}) -> {m.group(1).strip()}"))
            continue
        m = re.match(r"(.*?[\s*])(\w+)\((.*)\);$", d)
        if m:
            out.append(("text", f"function {m.group(2)}({without_names(m.group(3))}) -> {m.group(1).strip()}"))
            continue
        raise SystemExit(f"abi-dump: cannot read this declaration of marline.h: {d}")
    return out


def main():
    items = facts(declarations(HEADER.read_text()))
    program = ["#include <stddef.h>", "#include <stdio.h>", '#include "marline.h"', "int main(void) {"]
    for kind, what in items:
        program.append(what if kind == "c" else f'puts("{what}");')
    program += ["return 0;", "}"]
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "abi.c", Path(tmp) / "abi"
        src.write_text("\n".join(program) + "\n")
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-std=c11", "-I", str(HEADER.parent), str(src), "-o", str(exe)], check=True)
        printed = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    rank = {"function": 0, "callback": 1, "opaque": 2, "struct": 3, "enum": 4, "constant": 5}
    lines = sorted(printed.splitlines(), key=lambda l: (rank[l.split()[0]], l.split()[1]))
    sys.stdout.write(f"soname {soname()}\n" + "".join(l + "\n" for l in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
