#!/usr/bin/python3
"""Write fuzz_engine seeds from classic pcap captures (stdlib only).

usage: gen-seeds-engine.py OUTDIR CAPTURE...
Each seed: one flag byte, then per packet [link selector][len16][bytes]
(see tests/fuzz/fuzz_engine.c); up to 48 packets / 12 KiB per seed.
"""
import hashlib
import os
import struct
import sys

SEL = {1: 0, 101: 1, 12: 1, 113: 2, 0: 3}     # DLT -> harness selector


def packets(path):
    with open(path, "rb") as f:
        d = f.read()
    magic = d[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    dlt = struct.unpack(e + "I", d[20:24])[0] & 0xffff
    off, out = 24, []
    while off + 16 <= len(d):
        incl = struct.unpack(e + "I", d[off + 8:off + 12])[0]
        out.append(d[off + 16:off + 16 + incl])
        off += 16 + incl
    return dlt, out


def main():
    outdir = sys.argv[1]
    for cap in sys.argv[2:]:
        dlt, pkts = packets(cap)
        if dlt not in SEL:
            continue
        seed, n = bytearray(b"\x01"), 0
        for p in pkts[:4 * 48]:
            p = p[:4096]
            seed += bytes([SEL[dlt]]) + struct.pack(">H", len(p)) + p
            n += 1
            if n == 48 or len(seed) > 12288:
                break
        name = os.path.basename(cap).split(".")[0]
        h = hashlib.sha1(seed).hexdigest()[:10]
        with open(os.path.join(outdir, "%s-%s.bin" % (name, h)), "wb") as f:
            f.write(seed)


if __name__ == "__main__":
    main()
