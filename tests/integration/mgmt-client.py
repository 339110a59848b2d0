#!/usr/bin/python3
"""mgmt-client.py: a test-only client of conduitd's control protocol
(src/mgmt/control.h) for the integration tests: well-formed calls and
deliberate protocol abuse that conduitctl can never send.

Connection (before the mode):
  --unix PATH                          the local control socket
  --tls HOST PORT --ca FILE [--cert FILE --key FILE] [--src ADDR]
                                       the TLS management endpoint (from
                                       the local address ADDR)

Modes:
  call REQ...      send each request (a JSON object; "id" added when
                   missing) and print each response as one JSON line.
                   Exit 0, or 3 when the connection closed first.
  send [--login USER PWFILE] [--payload JSON | --payload-hex HEX]
       [--length N] [--version V] [--type T] [--magic XX]
       [--cut K] [--wait S]
                   one hand-made frame (after an optional login: PWFILE
                   holds the password and the TOTP code), optionally cut
                   after K bytes (a frame left hanging), then print every
                   frame received ("frame {json}") and how it ended:
                   "closed after S s" (exit 0) or "open after S s" (exit 1,
                   the server neither answered nor closed within --wait).
  login USER PWFILE [N]
                   N (default 1) logins on fresh connections, each
                   timed: prints "ok|fail SECONDS" per attempt.
  pty [--banner TEXT] --password PW [--totp CODE] -- CMD...
                   runs CMD on a pseudo terminal, answers its "Password:"
                   and "TOTP code:" prompts, prints the transcript and
                   "banner-before-prompt yes|no", "echoed yes|no" (the
                   password visible on the terminal); exits with CMD's
                   exit status.
  flood --host H --port P --count N --hold S [--rate R]
        [--src A.B.C. --from X --to Y]
                   N plain TCP connections that never start TLS (half-open
                   from the endpoint's point of view), from source
                   addresses A.B.C.X..A.B.C.Y in turn; ones the server
                   closes are reopened (at most R per second, default
                   50) until S
                   seconds passed. Prints "opened K" when the first round
                   is up, and a summary at the end.

Frame: 'C' 'D', version 1, type 1 (request), uint32 BE length, payload.
"""
import json
import os
import select
import socket
import ssl
import struct
import sys
import time


def die(msg, code=2):
    print("mgmt-client: " + msg, file=sys.stderr)
    sys.exit(code)


def frame(payload, length=None, version=1, ftype=1, magic=b"CD"):
    n = len(payload) if length is None else length
    return magic + bytes([version, ftype]) + struct.pack(">I", n) + payload


class Conn:
    def __init__(self, opts):
        self.buf = b""
        self.next_id = 1
        if opts.get("unix"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(opts["unix"])
            self.s = s
            return
        host, port = opts["tls"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(opts["ca"])
        if opts.get("cert"):
            ctx.load_cert_chain(opts["cert"], opts["key"])
        src = (opts["src"], 0) if opts.get("src") else None
        raw = socket.create_connection((host, int(port)), timeout=10,
                                       source_address=src)
        self.s = ctx.wrap_socket(raw, server_hostname=host)

    def send(self, data):
        self.s.sendall(data)

    def request(self, obj):
        if "id" not in obj:
            obj["id"] = self.next_id
            self.next_id += 1
        self.send(frame(json.dumps(obj).encode()))

    def read_frame(self, timeout):
        """The next frame's JSON, None when closed, False on timeout."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 8:
                n = struct.unpack(">I", self.buf[4:8])[0]
                if len(self.buf) >= 8 + n:
                    p = self.buf[8:8 + n]
                    self.buf = self.buf[8 + n:]
                    try:
                        return json.loads(p.decode())
                    except ValueError:
                        return {"undecodable": p[:200].hex()}
            left = end - time.monotonic()
            if left <= 0:
                return False
            pending = isinstance(self.s, ssl.SSLSocket) and self.s.pending()
            if not pending:
                r, _, _ = select.select([self.s], [], [], left)
                if not r:
                    return False
            try:
                self.s.settimeout(max(left, 0.01))
                d = self.s.recv(65536)
            except (ssl.SSLError, ConnectionError, OSError):
                return None
            if not d:
                return None
            self.buf += d

    def call(self, obj, timeout=30):
        self.request(obj)
        return self.read_frame(timeout)


def conn_opts(argv):
    o = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--unix":
            o["unix"] = argv[i + 1]
            i += 2
        elif a == "--tls":
            o["tls"] = (argv[i + 1], argv[i + 2])
            i += 3
        elif a in ("--ca", "--cert", "--key", "--src"):
            o[a[2:]] = argv[i + 1]
            i += 2
        else:
            break
    if not o.get("unix") and not o.get("tls"):
        die("--unix PATH or --tls HOST PORT --ca FILE first")
    return o, argv[i:]


def mode_call(opts, reqs):
    c = Conn(opts)
    for r in reqs:
        resp = c.call(json.loads(r))
        if resp is None or resp is False:
            print("closed" if resp is None else "timeout")
            return 3
        print(json.dumps(resp, sort_keys=True))
        sys.stdout.flush()
    return 0


def login(c, user, pwfile):
    with open(pwfile) as f:
        lines = f.read().split("\n")
    args = {"user": user, "password": lines[0]}
    if len(lines) > 1 and lines[1]:
        args["totp"] = lines[1]
    c.call({"cmd": "hello"})
    r = c.call({"cmd": "auth.login", "args": args})
    if not r or not r.get("ok"):
        die("login as %s failed: %s" % (user, json.dumps(r)), 4)


def mode_send(opts, argv):
    payload, length, version, ftype, magic = b"", None, 1, 1, b"CD"
    cut, wait, lg = None, 15.0, None
    i = 0
    while i < len(argv):
        a, v = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if a == "--payload":
            payload = v.encode()
        elif a == "--payload-hex":
            payload = bytes.fromhex(v)
        elif a == "--length":
            length = int(v)
        elif a == "--version":
            version = int(v)
        elif a == "--type":
            ftype = int(v)
        elif a == "--magic":
            magic = v.encode()
        elif a == "--cut":
            cut = int(v)
        elif a == "--wait":
            wait = float(v)
        elif a == "--login":
            lg = (v, argv[i + 2])
            i += 1
        else:
            die("send: unknown option " + a)
        i += 2
    c = Conn(opts)
    if lg:
        login(c, *lg)
    data = frame(payload, length, version, ftype, magic)
    if cut is not None:
        data = data[:cut]
    t0 = time.monotonic()
    try:
        c.send(data)
    except OSError as e:
        print("closed after 0.0 s (send: %s)" % e)
        return 0
    while True:
        left = wait - (time.monotonic() - t0)
        r = c.read_frame(max(left, 0))
        if r is None:
            print("closed after %.1f s" % (time.monotonic() - t0))
            return 0
        if r is False:
            print("open after %.1f s" % (time.monotonic() - t0))
            return 1
        print("frame " + json.dumps(r, sort_keys=True))
        sys.stdout.flush()


def mode_login(opts, argv):
    """Timed logins, each on a fresh connection (the handshake is outside
    the measured time: only auth.login's round trip counts)."""
    user, pwfile = argv[0], argv[1]
    n = int(argv[2]) if len(argv) > 2 else 1
    with open(pwfile) as f:
        lines = f.read().split("\n")
    args = {"user": user, "password": lines[0]}
    if len(lines) > 1 and lines[1]:
        args["totp"] = lines[1]
    bad = 0
    for _ in range(n):
        c = Conn(opts)
        c.call({"cmd": "hello"})
        t0 = time.monotonic()
        r = c.call({"cmd": "auth.login", "args": dict(args)})
        dt = time.monotonic() - t0
        ok = bool(r) and r.get("ok") is True
        err = "" if ok or not r else r.get("error", {}).get("message", "")
        print("%s %.4f %s" % ("ok" if ok else "fail", dt, err))
        bad += 0 if ok else 1
        c.s.close()
    return 0 if bad == 0 else 1


def mode_pty(argv):
    import pty
    pw, code, banner, i = None, None, None, 0
    while argv[i] != "--":
        if argv[i] == "--banner":
            banner = argv[i + 1]
        elif argv[i] == "--password":
            pw = argv[i + 1]
        elif argv[i] == "--totp":
            code = argv[i + 1]
        i += 2
    cmd = argv[i + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    answered = set()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            continue
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
        if b"Password: " in out and "pw" not in answered:
            answered.add("pw")
            os.write(fd, pw.encode() + b"\n")
        if b"TOTP code: " in out and "totp" not in answered:
            answered.add("totp")
            os.write(fd, (code or "").encode() + b"\n")
    # bounded: a client stuck at a prompt is killed, not waited for
    done, st = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        time.sleep(2)
        done, st = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, 9)
        _, st = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    print(text)
    k = text.find("Password: ")
    b = text.find(banner) if banner else -1
    print("--- end of transcript")
    print("password-prompt %s" % ("yes" if k >= 0 else "no"))
    print("banner-before-prompt %s" % ("yes" if 0 <= b < k else "no"))
    print("echoed %s" % ("yes" if pw and pw in text else "no"))
    return os.waitstatus_to_exitcode(st)


def mode_flood(argv):
    o = {"src": None, "from": 0, "to": 0, "rate": 50}
    i = 0
    while i < len(argv):
        o[argv[i][2:]] = argv[i + 1]
        i += 2
    host, port = o["host"], int(o["port"])
    n, hold, rate = int(o["count"]), float(o["hold"]), float(o["rate"])
    srcs = [None]
    if o["src"]:
        srcs = ["%s%d" % (o["src"], k)
                for k in range(int(o["from"]), int(o["to"]) + 1)]
    socks, stats = [], {"connected": 0, "failed": 0, "closed_by_server": 0}
    k = 0

    def one():
        nonlocal k
        src = srcs[k % len(srcs)]
        k += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if src:
            s.bind((src, 0))
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            stats["failed"] += 1
            s.close()
            return
        socks.append(s)

    for _ in range(n):
        one()
    # wait for the handshakes of the first round
    t0 = time.monotonic()
    up = 0
    while time.monotonic() - t0 < 5:
        _, w, _ = select.select([], socks, [], 0.5)
        up = sum(1 for s in socks if s.getsockopt(
            socket.SOL_SOCKET, socket.SO_ERROR) == 0)
        if len(w) == len(socks):
            break
    stats["connected"] = up
    print("opened %d of %d" % (up, n))
    sys.stdout.flush()
    end = t0 + hold
    owed, last = 0, time.monotonic()
    while time.monotonic() < end:
        r, _, _ = select.select(socks, [], [], 0.1)
        gone = []
        for s in r:
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                gone.append(s)
        for s in gone:
            socks.remove(s)
            s.close()
            stats["closed_by_server"] += 1
        owed += len(gone)
        now = time.monotonic()
        budget = int((now - last) * rate)
        if budget > 0:
            last = now
            for _ in range(min(owed, budget)):
                one()
                owed -= 1
                stats["reopened"] = stats.get("reopened", 0) + 1
    for s in socks:
        s.close()
    print("flood done: %s" % json.dumps(stats, sort_keys=True))
    return 0


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "flood":
        return mode_flood(argv[1:])
    if argv and argv[0] == "pty":
        return mode_pty(argv[1:])
    opts, rest = conn_opts(argv)
    if not rest:
        die("a mode: call, send or flood")
    try:
        if rest[0] == "call":
            return mode_call(opts, rest[1:])
        if rest[0] == "send":
            return mode_send(opts, rest[1:])
        if rest[0] == "login":
            return mode_login(opts, rest[1:])
    except (OSError, ssl.SSLError) as e:
        print("mgmt-client: %s" % e, file=sys.stderr)
        return 3
    die("unknown mode " + rest[0])
    return 2


if __name__ == "__main__":
    sys.exit(main())
