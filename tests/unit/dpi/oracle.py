#!/usr/bin/env python3
"""Compare the pure parsers with tshark, frame by frame, on captures.

usage: oracle.py ORACLE_BINARY PROTO CAPTURE...
PROTO is modbus, iec104 or s7comm. For each capture, prints the number of
PDUs our parser decoded, the number of frames compared and every frame whose
field lists differ from tshark's (`-T fields -E occurrence=a`). Exit status
1 when any difference was found. The naive reassembly of oracle_proto.c
covers in-order captures; the stream layer owns the real one.
"""
import collections
import os
import subprocess
import sys

PORTS = {"modbus": 502, "iec104": 2404, "s7comm": 102}

# tshark fields and the column of our output each one is compared with.
FIELDS = {
    "modbus": [
        ("mbtcp.trans_id", 2), ("mbtcp.unit_id", 3), ("modbus.func_code", 4),
        ("modbus.exception_code", 5),
        ("modbus.reference_num", 6), ("modbus.read_reference_num", 6),
        ("modbus.word_cnt", 7), ("modbus.bit_cnt", 7),
        ("modbus.read_word_cnt", 7),
    ],
    "iec104": [
        ("iec60870_104.type", 1), ("iec60870_104.utype", 2),
        ("iec60870_asdu.typeid", 3), ("iec60870_asdu.causetx", 4),
        ("iec60870_asdu.addr", 5), ("iec60870_asdu.ioa", 6),
    ],
    "s7comm": [
        ("cotp.type", 1), ("s7comm.header.rosctr", 2),
        ("s7comm.param.func", 3), ("s7comm.param.userdata.funcgroup", 4),
        ("s7comm.param.userdata.subfunc", 5), ("s7comm.param.itemcount", 6),
    ],
}

APCI = {"I": "0", "S": "1", "U": "3"}


def tshark(cap, args):
    out = subprocess.run(["tshark", "-n", "-r", cap] + args,
                         capture_output=True, text=True).stdout
    return [l.split("\t") for l in out.splitlines()]


def num(v):
    v = v.strip()
    if v == "":
        return None
    return int(v, 0)


def ours(binary, proto, cap):
    port = PORTS[proto]
    segs = tshark(cap, ["-Y", "tcp.len>0 && tcp.port==%d" % port, "-T",
                        "fields", "-e", "frame.number", "-e", "tcp.stream",
                        "-e", "tcp.srcport", "-e", "tcp.dstport", "-e",
                        "tcp.seq_raw", "-e", "tcp.payload"])
    inp = "".join("\t".join(s) + "\n" for s in segs)
    out = subprocess.run([binary, proto, str(port)], input=inp,
                         capture_output=True, text=True).stdout
    per = collections.defaultdict(list)
    for l in out.splitlines():
        c = l.split("\t")
        per[int(c[0])].append(c)
    return per


def expected_cols(proto, row):
    """Our output row -> {column: [values]} in tshark's terms."""
    r = collections.defaultdict(list)
    if proto == "modbus":
        if row[4] == "":
            return r
        for col in (2, 3, 4, 5):
            if row[col] != "":
                r[col].append(int(row[col]))
        fc = int(row[4])
        if row[6] != "":
            r[6].append(int(row[6]))
        # tshark shows no quantity for single writes and the FIFO queue
        if row[7] != "" and fc not in (5, 6, 22) and not (
                fc == 24 and row[1] == "req"):
            r[7].append(int(row[7]))
    elif proto == "iec104":
        if row[1] == "":
            return r
        r[1].append(int(APCI[row[1]]))
        if row[2] != "":
            r[2].append(int(row[2]))
        for col in (3, 4, 5):
            if row[col] != "":
                r[col].append(int(row[col]))
        if row[6] != "":
            r[6].extend(int(x) for x in row[6].split(","))
    else:
        r[1].append(int(row[1], 16))
        for col in (2, 3, 4, 5, 6):
            if row[col] != "":
                r[col].append(int(row[col]))
    return r


def main():
    binary, proto, caps = sys.argv[1], sys.argv[2], sys.argv[3:]
    fields = FIELDS[proto]
    bad = 0
    for cap in caps:
        mine = ours(binary, proto, cap)
        rows = tshark(cap, ["-T", "fields", "-E", "occurrence=a", "-e",
                            "frame.number"] + sum((["-e", f] for f, _ in fields), []))
        theirs = {}
        for row in rows:
            cols = collections.defaultdict(list)
            for (f, col), v in zip(fields, row[1:]):
                for x in v.split(","):
                    if num(x) is not None:
                        cols[col].append(num(x))
            if cols:
                theirs[int(row[0])] = cols
        frames = sorted(set(theirs) | set(mine))
        npdu = sum(len(v) for v in mine.values())
        nerr = sum(1 for v in mine.values() for c in v if c[-1] != "")
        diffs = []
        for fr in frames:
            want = theirs.get(fr, {})
            got = collections.defaultdict(list)
            for row in mine.get(fr, []):
                for col, vals in expected_cols(proto, row).items():
                    got[col].extend(vals)
                # tshark counts the items of cyclic userdata too; we
                # decode item counts of read/write var only
                if proto == "s7comm" and row[2] == "7":
                    want.pop(6, None)
            for col in sorted(set(want) | set(got)):
                w, g = sorted(want.get(col, [])), sorted(got.get(col, []))
                if w != g:
                    diffs.append((fr, col, w, g,
                                  [r[-1] for r in mine.get(fr, []) if r[-1]]))
        print("%s: %d PDUs decoded (%d flagged malformed), %d frames "
              "compared, %d differences" % (cap.split("/")[-1], npdu, nerr,
                                            len(frames), len(diffs)))
        for d in diffs[:int(os.environ.get("ORACLE_SHOW", "15"))]:
            print("  frame %d col %d: tshark %s ours %s %s" % d)
        for fr, rs in sorted(mine.items()):
            for r in rs:
                if r[-1] and len([1 for d in diffs if d[0] == fr]) == 0:
                    print("  frame %d malformed: %s" % (fr, r[-1]))
        bad += len(diffs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
