#!/usr/bin/python3
"""Replay golden tests: `conduitctl replay --policy` on real captures.

usage: golden.py CONDUITCTL PCAPS_DIR CASES_DIR [--update] [CASE...]

Each case replays one capture of PCAPS_DIR with one policy of
CASES_DIR/policies and checks the verdicts two ways:
  - against tshark, the oracle for protocol fields: the frames whose PDUs
    are denied must be exactly the frames tshark shows carrying the
    operations the policy forbids (writes, controls, ...);
  - against a committed golden file CASES_DIR/expected/CASE.jsonl (a few
    records, chosen per case, and the summary), printed as a unified diff
    when it differs. --update rewrites the golden files instead.
Prints TAP, one line per check, each naming the requirement it proves.
Only the Python standard library.
"""
import difflib
import json
import os
import subprocess
import sys

# Sets the presets resolve to (src/policy/validate_dpi.c, conduit-policy(5)).
MODBUS_WRITES = {5, 6, 15, 16, 21, 22, 23}
MODBUS_READS = {1, 2, 3, 4, 7, 11, 12, 17, 20, 24}
DNP3_READ_ONLY = {0, 1, 20, 21, 23, 24, 32, 33, 129, 130, 131}
IEC104_MONITOR = set(range(1, 45)) | {70, 100, 101, 102, 104}
S7_READ_ONLY_FUNCS = {0xF0, 0x04}
# userdata group -> allowed subfunctions (None: any)
S7_READ_ONLY_USERDATA = {4: {1}, 3: {1, 2, 3}, 7: {1, 3}, 2: None}
ENIP_READ_ONLY_SERVICES = {0x01, 0x03, 0x0A, 0x0E, 0x4C, 0x4E, 0x52, 0x54,
                           0x55, 0x5B}


def tshark(path, filt, fields):
    cmd = ["tshark", "-n", "-r", path, "-Y", filt, "-T", "fields",
           "-E", "occurrence=a", "-E", "separator=/t", "-e", "frame.number"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("tshark failed: " + out.stderr.strip()[-300:])
    rows = []
    for line in out.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (1 + len(fields) - len(cols))
        rows.append((int(cols[0]),
                     [[int(x, 0) for x in c.split(",") if x.strip()]
                      for c in cols[1:]]))
    return rows


def replay(ctl, policy, capture, extra=()):
    cmd = [ctl, "replay", "--json", "--policy", policy] + list(extra) + [capture]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), out.returncode,
                                                out.stderr.strip()[-300:]))
    pdus, events, summary = [], [], None
    for line in out.stdout.splitlines():
        r = json.loads(line)
        if r.get("summary"):
            summary = r
        elif "event" in r:
            events.append(r)
        else:
            pdus.append(r)
    if summary is None:
        raise RuntimeError("%s: no summary object" % " ".join(cmd))
    summary["capture"] = os.path.basename(summary["capture"])
    return pdus, events, summary


def denied_frames(pdus):
    return {r["frame"] for r in pdus if r["verdict"] != "allow"}


def first_per_rule(pdus, n):
    """The first n records of each rule that did not allow."""
    seen = {}
    out = []
    for r in pdus:
        if r["verdict"] == "allow":
            continue
        seen[r["rule"]] = seen.get(r["rule"], 0) + 1
        if seen[r["rule"]] <= n:
            out.append(r)
    return out


def set_diff(name_ours, ours, name_exp, exp):
    """'' when equal, else what differs (a few frames each way)."""
    if ours == exp:
        return ""
    extra = sorted(ours - exp)
    missing = sorted(exp - ours)
    return "%s but not %s: %s; %s but not %s: %s" % (
        name_ours, name_exp, extra[:10], name_exp, name_ours, missing[:10])


# --- the cases: (check id, tag, description, function) ---------------------
# Each function returns (error or "", golden records or None).

def case_modbus_read_only(ctx):
    cap = ctx.pcap("modbus/iti__ModbusTCP.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("modbus-read-only"), cap)
    rows = tshark(cap, "modbus && mbtcp && tcp.dstport == 502",
                  ["modbus.func_code"])
    writes = {fr for fr, (fc,) in rows if set(fc) & MODBUS_WRITES}
    err = set_diff("denied by replay", denied_frames(pdus),
                   "writes per tshark", writes)
    if not err and not writes:
        err = "tshark found no write request: the check proves nothing"
    if not err:
        bad = [r for r in pdus if r["verdict"] != "allow" and
               r["rule"] != "allow[0].modbus.functions"]
        if bad:
            err = "denied by another rule than the function list: %s" % bad[0]
    return err, pdus[:50] + [summary]


def case_modbus_only_p502(ctx):
    cap = ctx.pcap("modbus/zeek__modbus-and-non-modbus-p502.pcap")
    pdus, events, summary = replay(ctx.ctl, ctx.policy("modbus-only-p502"),
                                   cap, ["--events"])
    rows = tshark(cap, "tcp.port == 502", ["tcp.srcport", "tcp.dstport",
                                           "mbtcp.trans_id",
                                           "modbus.func_code"])
    frames = {}
    modbus_flows = set()
    flow_of = {}
    for fr, (sp, dp, tid, fc) in rows:
        client = sp[0] if dp and dp[0] == 502 else dp[0]
        flow_of[fr] = client
        frames[fr] = (dp and dp[0] == 502, fc)
        if tid:
            modbus_flows.add(client)
    # flows by client port (unique in this capture)
    our_flow = lambda r: int((r["src"] if r["dir"] == "request"
                              else r["dst"]).rsplit(":", 1)[1])
    problems = []
    for r in pdus:
        f = our_flow(r)
        if f not in modbus_flows and r["verdict"] == "allow":
            problems.append("frame %d of non-Modbus flow %d allowed"
                            % (r["frame"], f))
    non_modbus = set(flow_of.values()) - modbus_flows
    for f in sorted(non_modbus):
        evs = [e for e in events
               if int(e["src"].rsplit(":", 1)[1]) == f or
               int(e["dst"].rsplit(":", 1)[1]) == f]
        if not any(e["action"] != "allow" and e["event"] in
                   ("app", "malformed", "no-conduit") for e in evs):
            problems.append("non-Modbus flow from port %d: no deny event" % f)
    reads = {fr for fr, (req, fc) in frames.items()
             if req and fc and set(fc) <= MODBUS_READS}
    writes = {fr for fr, (req, fc) in frames.items()
              if req and set(fc) & MODBUS_WRITES}
    allowed = {r["frame"] for r in pdus if r["verdict"] == "allow" and
               r["dir"] == "request"}
    if not reads:
        problems.append("tshark found no Modbus read: the check proves nothing")
    if reads - allowed:
        problems.append("Modbus reads not allowed: %s" % sorted(reads - allowed))
    if writes & allowed:
        problems.append("Modbus writes allowed: %s" % sorted(writes & allowed))
    if not non_modbus:
        problems.append("tshark found no non-Modbus flow on port 502")
    return "; ".join(problems[:5]), pdus + events + [summary]


def case_dnp3_read_only(ctx):
    cap = ctx.pcap("dnp3/icsnpp__dnp3_example.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("dnp3-read-only"), cap)
    rows = tshark(cap, "dnp3.al.func", ["dnp3.al.func"])
    control = {fr for fr, (fc,) in rows if set(fc) - DNP3_READ_ONLY}
    err = set_diff("denied by replay", denied_frames(pdus),
                   "DNP3 functions outside read-only per tshark", control)
    if not err and not control:
        err = "tshark found no control function: the check proves nothing"
    return err, pdus[:40] + [summary]


def case_iec104_monitor_only(ctx):
    cap = ctx.pcap("iec104/ndpi__iec60780-5-104.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("iec104-monitor-only"), cap)
    rows = tshark(cap, "iec60870_asdu && tcp.dstport == 2404",
                  ["iec60870_asdu.typeid"])
    commands = {fr for fr, (t,) in rows if set(t) - IEC104_MONITOR}
    # Malformed PDUs get the conduit's malformed verdict whatever tshark
    # decoded of them: compared separately.
    malformed = {r["frame"] for r in pdus if "error" in r or
                 r.get("stream_broken")}
    err = set_diff("denied by replay", denied_frames(pdus) - malformed,
                   "commands per tshark", commands - malformed)
    if not err and not commands:
        err = "tshark found no command: the check proves nothing"
    if not err:
        bad = [r for r in pdus if r["frame"] in malformed and
               (r["verdict"] == "allow" or r["rule"] != "malformed")]
        if bad:
            err = "malformed PDU not denied as malformed: %s" % bad[0]
    return err, [r for r in pdus if r["verdict"] != "allow"] + [summary]


def case_s7comm_read_only(ctx):
    cap = ctx.pcap("s7comm/icsnpp__snap7.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("s7comm-read-only"), cap)
    rows = tshark(cap, "s7comm && tcp.dstport == 102",
                  ["s7comm.header.rosctr", "s7comm.param.func",
                   "s7comm.param.userdata.type",
                   "s7comm.param.userdata.funcgroup",
                   "s7comm.param.userdata.subfunc"])
    forbidden = set()
    for fr, (rosctr, func, udtype, group, sub) in rows:
        if 1 in rosctr and set(func) - S7_READ_ONLY_FUNCS:
            forbidden.add(fr)
        if 7 in rosctr and 4 in udtype:      # userdata request
            for g, s in zip(group, sub):
                allowed = S7_READ_ONLY_USERDATA.get(g, set())
                if allowed is not None and s not in allowed:
                    forbidden.add(fr)
    err = set_diff("denied by replay", denied_frames(pdus),
                   "S7 operations outside read-only per tshark", forbidden)
    if not err and not forbidden:
        err = "tshark found no forbidden operation: the check proves nothing"
    return err, [r for r in pdus if r["dir"] == "request"] + [summary]


def case_enip_read_only(ctx):
    cap = ctx.pcap("enip/iti__EIP-ChangeDateAttempt.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("enip-read-only"), cap)
    rows = tshark(cap, "cip && tcp.dstport == 44818", ["cip.sc", "cip.rr"])
    forbidden = set()
    for fr, (sc, rr) in rows:
        # a request's services: cip.rr is 0 for each request message
        svc = [s for s, r in zip(sc, rr + [0] * len(sc)) if not r]
        if set(svc) - ENIP_READ_ONLY_SERVICES:
            forbidden.add(fr)
    err = set_diff("denied by replay", denied_frames(pdus),
                   "CIP services outside read-only per tshark", forbidden)
    if not err and not forbidden:
        err = "tshark found no set/write service: the check proves nothing"
    return err, [r for r in pdus if r["verdict"] != "allow"] + pdus[:10] + \
        [summary]


def case_modbus_rules(ctx):
    cap = ctx.pcap("modbus/iti__modbus_test.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("modbus-rules"), cap)
    problems = []
    req = [r for r in pdus if r["dir"] == "request"]
    for r in req:
        want = None
        if r.get("unit_id") == 3:
            want = ("deny", "allow[0].modbus.rules[0]")
        elif r.get("function") == 6 and r.get("address") == 5:
            want = ("reject", "allow[0].modbus.rules[1]")
        if want and (r["verdict"], r["rule"]) != want:
            problems.append("frame %d: %s by %s, expected %s by %s" % (
                r["frame"], r["verdict"], r["rule"], want[0], want[1]))
    limited = [r for r in req if r["rule"] == "allow[0].modbus.rate-limits[0]"]
    writes = [r for r in req if r.get("function") == 6 and
              r.get("address") != 5]
    if not limited:
        problems.append("no write denied by the rate limit")
    # 10/minute with a burst of 5 over the capture's ~2 minutes of writes
    # every ~2 s: most writes are over the limit, never the first 5.
    if any(r["verdict"] != "allow" for r in writes[:5]):
        problems.append("one of the first 5 writes (the burst) was denied")
    reads = [r for r in req if r.get("function") == 4 and r.get("unit_id") != 3]
    if any(r["verdict"] != "allow" for r in reads):
        problems.append("a read of units 1, 2, 7 was not allowed")
    return "; ".join(problems[:5]), first_per_rule(pdus, 20) + [summary]


def case_no_conduit(ctx):
    cap = ctx.pcap("modbus/iti__MODBUS-TestDataPart1.pcap")
    pdus, _, summary = replay(ctx.ctl, ctx.policy("no-conduit"), cap)
    bad = [r for r in pdus if (r["verdict"], r.get("rule")) !=
           ("deny", "no-conduit")]
    err = ""
    if not pdus:
        err = "no PDU records"
    elif bad:
        err = "%d PDUs not denied by no-conduit, first: %s" % (len(bad), bad[0])
    return err, pdus + [summary]


CASES = [
    ("modbus-read-only", "NDR 5.2",
     "read-only modbus denies exactly the writes of iti__ModbusTCP.pcap",
     case_modbus_read_only),
    ("modbus-only-p502", "NDR 5.2",
     "a Modbus-only conduit denies every non-Modbus flow on TCP 502 of "
     "zeek__modbus-and-non-modbus-p502.pcap and allows the Modbus reads",
     case_modbus_only_p502),
    ("dnp3-read-only", "NDR 5.2",
     "read-only dnp3 denies exactly select/operate/write of "
     "icsnpp__dnp3_example.pcap", case_dnp3_read_only),
    ("iec104-monitor-only", "NDR 5.2",
     "monitor-only iec104 denies exactly the commands of "
     "ndpi__iec60780-5-104.pcap", case_iec104_monitor_only),
    ("s7comm-read-only", "NDR 5.2",
     "read-only s7comm denies exactly write/upload/PI/stop of "
     "icsnpp__snap7.pcap", case_s7comm_read_only),
    ("enip-read-only", "NDR 5.2",
     "read-only enip denies exactly the CIP set services of "
     "iti__EIP-ChangeDateAttempt.pcap", case_enip_read_only),
    ("modbus-rules", "CR 7.1",
     "modbus rules (deny a unit id, reject a register) and a per-source "
     "rate limit on iti__modbus_test.pcap", case_modbus_rules),
    ("no-conduit", "CR 3.6",
     "a zone pair without a conduit denies every PDU with rule no-conduit",
     case_no_conduit),
]


class Ctx:
    def __init__(self, ctl, pcaps, cases):
        self.ctl, self.pcaps, self.cases = ctl, pcaps, cases

    def pcap(self, rel):
        return os.path.join(self.pcaps, rel)

    def policy(self, name):
        return os.path.join(self.cases, "policies", name + ".yaml")


def golden_text(recs):
    return "".join(json.dumps(r, separators=(",", ":")) +
                   "\n" for r in recs)


def main():
    args = sys.argv[1:]
    update = "--update" in args
    args = [a for a in args if a != "--update"]
    if len(args) < 3:
        sys.stderr.write(__doc__)
        return 2
    ctx = Ctx(*args[:3])
    only = set(args[3:])
    cases = [c for c in CASES if not only or c[0] in only]
    print("1..%d" % (2 * len(cases)))
    n = failed = 0
    for cid, tag, desc, fn in cases:
        try:
            err, recs = fn(ctx)
        except Exception as e:  # a crash of replay or tshark fails the case
            err, recs = "%s: %s" % (type(e).__name__, e), None
        n += 1
        if err:
            failed += 1
            print("not ok %d - %s %s # %s" % (n, tag, desc, err))
        else:
            print("ok %d - %s %s" % (n, tag, desc))
        n += 1
        path = os.path.join(ctx.cases, "expected", cid + ".jsonl")
        if recs is None:
            failed += 1
            print("not ok %d - %s golden output of %s # no output" % (n, tag, cid))
            continue
        got = golden_text(recs)
        if update:
            with open(path, "w") as f:
                f.write(got)
            print("ok %d - %s golden output of %s # updated" % (n, tag, cid))
            continue
        try:
            with open(path) as f:
                want = f.read()
        except OSError as e:
            want = ""
            print("# %s: %s" % (path, e.strerror))
        if got == want:
            print("ok %d - %s golden output of %s" % (n, tag, cid))
            continue
        failed += 1
        print("not ok %d - %s golden output of %s # differs from %s "
              "(update with: tests/replay/run-golden.sh --update %s)"
              % (n, tag, cid, os.path.relpath(path, os.path.dirname(ctx.cases)), cid))
        diff = difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                    "expected/%s.jsonl" % cid, "replay output")
        for i, line in enumerate(diff):
            if i >= 80:
                print("#   ... (diff truncated)")
                break
            print("#   " + line.rstrip("\n"))
    print("# replay golden: %d checks, %d failed" % (n, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
