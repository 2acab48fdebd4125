#!/usr/bin/env python3
# tests/e2e/segblocks.py - walks segment files by the layout of
# formats/SEGMENT.md alone (no code of flightrec's): the file header, then
# 40-byte block headers (magic FRB1/FRB2, crc32 of bytes 0..35) each
# followed by comp_len bytes, then the footer index ("FRIX") if the writer
# closed the file.  Prints one JSON line per file: complete blocks, the
# end offset of the last complete one, the file size, whether a footer
# follows, and the torn tail (bytes after the last complete block that are
# neither a block nor the footer: a writer killed mid-block).  The kill -9
# tests compare this with what `flightrec verify` says.
import json
import struct
import sys
import zlib


def walk(path):
    b = open(path, "rb").read()
    out = {"file": path, "size": len(b), "blocks": 0, "end": 0, "footer": False, "torn": 0}
    if len(b) < 16 or b[:8] != b"FRSEG\r\n\x1a":
        out["error"] = "not a segment"
        return out
    pos = struct.unpack("<I", b[12:16])[0]
    out["end"] = pos
    while pos < len(b):
        h = b[pos:pos + 40]
        if h[:4] == b"FRIX":
            out["footer"] = True
            break
        if len(h) < 40 or h[:4] not in (b"FRB1", b"FRB2") or \
                zlib.crc32(h[:36]) != struct.unpack("<I", h[36:40])[0]:
            break
        comp = struct.unpack("<I", h[4:8])[0]
        if pos + 40 + comp > len(b):
            break
        pos += 40 + comp
        out["blocks"] += 1
        out["end"] = pos
    if not out["footer"]:
        out["torn"] = len(b) - out["end"]
    return out


for p in sys.argv[1:]:
    print(json.dumps(walk(p)))
