"""The ctypes structs of the binding have the C layout: the size, and every field's name
and offset, that abi/marline.abi (the C ABI snapshot, from the compiler) records."""

import ctypes
import re
from pathlib import Path

from marline import _lib

SNAPSHOT = Path(__file__).resolve().parents[3] / "abi" / "marline.abi"


def c_structs():
    structs = {}
    for line in SNAPSHOT.read_text().splitlines():
        m = re.match(r"struct (\w+) size (\d+) align", line)
        if m:
            structs[m.group(1)] = {"size": int(m.group(2)), "fields": []}
        m = re.match(r"struct (\w+) field (\w+) offset (\d+)", line)
        if m:
            structs[m.group(1)]["fields"].append((m.group(2), int(m.group(3))))
    return structs


def test_every_ctypes_struct_has_the_c_layout():
    structs = c_structs()
    mine = {name: cls for name, cls in vars(_lib).items()
            if isinstance(cls, type) and issubclass(cls, ctypes.Structure) and name in structs}
    assert len(mine) >= 8, sorted(mine)
    for name, cls in mine.items():
        want = structs[name]
        got = [(f[0], getattr(cls, f[0]).offset) for f in cls._fields_]
        assert (ctypes.sizeof(cls), got) == (want["size"], want["fields"]), name


def test_a_callback_table_is_made_with_its_size():
    assert _lib.marline_protocol_t().size == ctypes.sizeof(_lib.marline_protocol_t)
    assert _lib.telnet_protocol_t().size == ctypes.sizeof(_lib.telnet_protocol_t)
