#!/usr/bin/python3
"""Write fuzz_spool seeds: spool segment images (src/audit/spool.h).

usage: gen-seeds-spool.py OUTDIR
Segment: "CDSPOOL1" u32 version 1, u32 0; records u32 len | u64 seq |
chain[32] | u32 crc32c(len, seq, chain, payload) | payload, little endian.
"""
import os
import struct
import sys


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


HEADER = b"CDSPOOL1" + struct.pack("<II", 1, 0)


def record(seq, payload):
    head = struct.pack("<IQ", len(payload), seq) + bytes(
        (seq * 31 + i * 7) & 0xFF for i in range(32))
    crc = crc32c(payload, crc32c(head))
    return head + struct.pack("<I", crc) + payload


def msg(seq):
    return ('<109>1 2026-12-01T13:00:33.123456+01:00 gw01 conduitd 42 '
            'HEALTH [conduitd@32473 seq="%d" req="CR 6.2" chain="%s"] '
            '\ufeffhealth' % (seq, "ab" * 32)).encode()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    three = b"".join(record(s, msg(s)) for s in (1, 2, 3))
    last = record(4, msg(4))
    bad = bytearray(three)
    bad[len(record(1, msg(1))) + 60] ^= 0x01    # payload of seq 2
    seeds = {
        "zero-length": b"",
        "empty": HEADER,
        "records-3": HEADER + three,
        "torn-tail": HEADER + three + last[:len(last) // 2],
        "torn-header": HEADER + three + last[:20],
        "bad-crc": HEADER + bytes(bad),
        "bad-header": b"CDSPOOL2" + HEADER[8:] + three,
        "bad-version": b"CDSPOOL1" + struct.pack("<II", 2, 0) + three,
        "bad-len": HEADER + struct.pack("<I", 9000) + three[4:],
        "zero-len": HEADER + record(1, b"")[:48] + three,
        "seq-back": HEADER + record(5, msg(5)) + record(3, msg(3)),
        "max-record": HEADER + record(7, b"x" * 8192),
        "caller-stop": HEADER + record(0xBEEF, msg(0xBEEF)) + last,
        "no-header": three,
        "zero-tail": HEADER + three + bytes(100),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
