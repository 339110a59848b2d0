#!/usr/bin/python3
"""tshark oracle for `conduitctl replay --json` (stdlib only).

usage: oracle.py CONDUITCTL PCAPS_DIR DIFFERENCES_FILE [CAPTURE...]

For every capture of the five protocols under PCAPS_DIR (or the ones
named, relative to PCAPS_DIR), runs tshark once with all compared fields
and `conduitctl replay --json` once, and compares frame by frame the
multiset of each field's values. Every difference must be listed in
DIFFERENCES_FILE (capture, frame, field, reason; `*` matches any frame or
field, `A-B` a frame range). Prints TAP: one check per capture, then a
summary per protocol (PDUs compared, documented differences), and notes
listed differences that no longer occur (stale entries fail too).
"""
import collections
import concurrent.futures
import json
import os
import subprocess
import sys

PROTOS = ("modbus", "dnp3", "iec104", "s7comm", "enip")

# tshark field -> protocol. Values are compared as integers.
FIELDS = [
    ("mbtcp.unit_id", "modbus"),
    ("modbus.func_code", "modbus"),
    ("modbus.exception_code", "modbus"),
    ("dnp3.al.func", "dnp3"),
    ("dnp3.al.obj", "dnp3"),
    ("iec60870_104.type", "iec104"),
    ("iec60870_asdu.typeid", "iec104"),
    ("iec60870_asdu.causetx", "iec104"),
    ("iec60870_asdu.addr", "iec104"),
    ("s7comm.header.rosctr", "s7comm"),
    ("s7comm.param.func", "s7comm"),
    ("s7comm.param.userdata.funcgroup", "s7comm"),
    ("s7comm.param.userdata.subfunc", "s7comm"),
    ("enip.command", "enip"),
    ("cip.sc", "enip"),
    ("cip.class", "enip"),
]
AUX = ["cip.rr"]        # read to decide what is comparable, not compared

# Captures on non-standard ports: tshark needs decode-as (SOURCES.md).
DECODE_AS = {
    "dnp3/zeek__dnp3_read_p20001.pcap": ["-d", "tcp.port==20001,dnp3"],
}

APCI = {"I": 0, "S": 1, "U": 3}


def tshark(path, extra):
    cmd = ["tshark", "-n", "-r", path] + extra + [
        "-T", "fields", "-E", "occurrence=a", "-E", "separator=/t",
        "-e", "frame.number"]
    for f, _ in FIELDS:
        cmd += ["-e", f]
    for f in AUX:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("tshark failed: " + out.stderr.strip()[-300:])
    frames = {}
    for line in out.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (1 + len(FIELDS) + len(AUX) - len(cols))
        vals = {}
        for (f, _), v in zip(FIELDS + [(a, None) for a in AUX], cols[1:]):
            vals[f] = [int(x, 0) for x in v.split(",") if x.strip() != ""]
        rr = vals.pop("cip.rr")
        # CIP responses: tshark shows the class of the matching request,
        # which the response does not carry; compared for requests only.
        if any(rr):
            vals["cip.class"] = None
        frames[int(cols[0])] = vals
    return frames


def ours(conduitctl, path):
    # tshark decodes by well-known port: so does replay --classify port
    # (the default, nDPI first, holds a flow's data while nDPI looks at it,
    # and loses the PDUs of flows that end before it decides).
    out = subprocess.run([conduitctl, "replay", "--json", "--classify", "port",
                          path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("conduitctl replay failed (%d): %s" %
                           (out.returncode, out.stderr.strip()[-300:]))
    per = collections.defaultdict(list)
    for line in out.stdout.splitlines():
        r = json.loads(line)
        if r.get("summary"):    # the last object: the capture's summary
            continue
        per[r["frame"]].append(r)
    return per


def our_values(recs):
    """Our records of one frame -> {tshark field: [values]}, PDUs per proto."""
    v = collections.defaultdict(list)
    npdu = collections.Counter()
    partial = set()
    for r in recs:
        p = r["proto"]
        npdu[p] += 1
        if p == "modbus" and "function" in r:
            v["mbtcp.unit_id"].append(r["unit_id"])
            v["modbus.func_code"].append(r["function"])
            if "exception" in r:
                v["modbus.exception_code"].append(r["exception"])
        elif p == "dnp3" and "function" in r:
            v["dnp3.al.func"].append(r["function"])
            for o in r.get("objects", []):
                v["dnp3.al.obj"].append(o["group"] << 8 | o["variation"])
            if r.get("objects_truncated"):
                partial.add("dnp3.al.obj")
        elif p == "iec104" and "apci" in r:
            v["iec60870_104.type"].append(APCI[r["apci"]])
            if "type_id" in r:
                v["iec60870_asdu.typeid"].append(r["type_id"])
                v["iec60870_asdu.causetx"].append(r["cot"])
                v["iec60870_asdu.addr"].append(r["ca"])
        elif p == "s7comm" and "rosctr" in r:
            v["s7comm.header.rosctr"].append(r["rosctr"])
            if "function" in r:
                v["s7comm.param.func"].append(r["function"])
            if "group" in r:
                v["s7comm.param.userdata.funcgroup"].append(r["group"])
                v["s7comm.param.userdata.subfunc"].append(r["subfunction"])
        elif p == "enip" and "command" in r:
            v["enip.command"].append(r["command"])
            for c in r.get("cip", []):
                v["cip.sc"].append(c["service"])
                if "class" in c and not c.get("response"):
                    v["cip.class"].append(c["class"])
    return v, npdu, partial


def load_differences(path):
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 4 or not cols[3].strip():
                sys.exit("%s:%d: want capture<TAB>frame<TAB>field<TAB>reason"
                         % (path, n))
            entries.append({"capture": cols[0], "frame": cols[1],
                            "field": cols[2], "reason": cols[3], "line": n,
                            "used": 0})
    return entries


def frame_match(spec, fr):
    if spec == "*":
        return True
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            if int(a) <= fr <= int(b):
                return True
        elif int(part) == fr:
            return True
    return False


def documented(entries, cap, fr, field):
    for e in entries:
        if e["capture"] == cap and frame_match(e["frame"], fr) and \
                e["field"] in ("*", field):
            e["used"] += 1
            return e
    return None


def compare(conduitctl, pcaps, cap):
    path = os.path.join(pcaps, cap)
    theirs = tshark(path, DECODE_AS.get(cap, []))
    mine = ours(conduitctl, path)
    diffs = []
    npdu = collections.Counter()
    nvals = collections.Counter()
    for fr in sorted(set(theirs) | set(mine)):
        want = theirs.get(fr, {})
        got, n, partial = our_values(mine.get(fr, []))
        npdu.update(n)
        for field, proto in FIELDS:
            w = want.get(field, [])
            if w is None:
                continue
            w = sorted(w)
            g = sorted(got.get(field, []))
            nvals[proto] += len(g)
            if field in partial and not (collections.Counter(g) -
                                         collections.Counter(w)):
                continue        # our object walk stopped early: a prefix
            if w != g:
                errs = [r["error"] for r in mine.get(fr, []) if "error" in r]
                diffs.append((fr, field, w, g, errs))
    return cap, npdu, nvals, diffs


def captures(pcaps):
    for proto in PROTOS:
        top = os.path.join(pcaps, proto)
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".pcap", ".pcapng")):
                    yield os.path.relpath(os.path.join(root, f), pcaps)


def proto_of(cap):
    return cap.split("/")[0]


def main():
    conduitctl, pcaps, diff_file = sys.argv[1:4]
    caps = sys.argv[4:] or list(captures(pcaps))
    entries = load_differences(diff_file)
    show = int(os.environ.get("ORACLE_SHOW", "10"))
    jobs = int(os.environ.get("ORACLE_JOBS", str(os.cpu_count() or 2)))
    tot_pdu = collections.Counter()
    tot_val = collections.Counter()
    tot_doc = collections.Counter()
    tot_untriaged = collections.Counter()
    failed = 0
    print("1..%d" % (len(caps) + 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(compare, conduitctl, pcaps, c) for c in caps]
        for i, (cap, fut) in enumerate(zip(caps, futs), 1):
            try:
                _, npdu, nvals, diffs = fut.result()
            except Exception as e:      # a crash is a failure, not a skip
                failed += 1
                print("not ok %d - oracle %s # %s" % (i, cap, e))
                continue
            tot_pdu.update(npdu)
            tot_val.update(nvals)
            bad = []
            untriaged = 0
            for d in diffs:
                e = documented(entries, cap, d[0], d[1])
                if e is None:
                    bad.append(d)
                else:
                    tot_doc[proto_of(cap)] += 1
                    if e["reason"].startswith("UNTRIAGED"):
                        tot_untriaged[proto_of(cap)] += 1
                        untriaged += 1
            pdus = sum(npdu.values())
            if bad:
                failed += 1
                print("not ok %d - oracle %s (%d PDUs, %d undocumented "
                      "differences)" % (i, cap, pdus, len(bad)))
                for fr, field, w, g, errs in bad[:show]:
                    print("#   %s\t%d\t%s\ttshark %s ours %s%s" % (
                        cap, fr, field, w, g,
                        (" errors: " + "; ".join(errs)) if errs else ""))
            elif untriaged:
                # Not a pass: a difference without a reason proves nothing.
                print("ok %d - oracle %s (%d PDUs) # SKIP %d untriaged "
                      "differences" % (i, cap, pdus, untriaged))
            else:
                print("ok %d - oracle %s (%d PDUs, %d documented "
                      "differences)" % (i, cap, pdus, len(diffs)))
    stale = [e for e in entries if e["used"] == 0 and e["capture"] in caps]
    if stale:
        failed += 1
        print("not ok %d - oracle differences file has no stale entries"
              % (len(caps) + 1))
        for e in stale:
            print("#   %s:%d: %s %s %s: no longer differs" % (
                diff_file, e["line"], e["capture"], e["frame"], e["field"]))
    else:
        print("ok %d - oracle differences file has no stale entries"
              % (len(caps) + 1))
    for p in PROTOS:
        print("# oracle %s: %d PDUs compared (%d field values), %d documented "
              "differences (%d of them untriaged)" % (
                  p, tot_pdu[p], tot_val[p], tot_doc[p], tot_untriaged[p]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
