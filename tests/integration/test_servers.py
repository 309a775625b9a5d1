#!/usr/bin/env python3
"""test_servers.py - the shipped deploy/ configs, run under the web servers Debian packages.

For each of lighttpd (docchat spawned with bin-path), lighttpd + spawn-fcgi, Apache +
mod_fcgid, Apache + mod_proxy_fcgi + spawn-fcgi, nginx + spawn-fcgi and Apache running
docchat as plain CGI (mod_cgid), started from the shipped config with only its @...@
placeholders filled in (see servers.py), this checks:

- the page at / and docchat at /api/, both with the security headers (Content-Security-
  Policy, one X-Content-Type-Options, Referrer-Policy);
- the exact event sequence and text for the OpenAI, Ollama and extractive backends, with
  the client asking for gzip (the stream must still come uncompressed);
- that events arrive as the model produces them (10 tokens 200 ms apart: spread over more
  than 1.2 s, at several distinct moments);
- that a request served while an answer streams (under mod_fcgid, by a newly started
  docchat process) leaves that answer's stored status alone;
- that three concurrent streams run side by side (under mod_fcgid, one docchat process
  each);
- that a client leaving mid-answer makes the fake model server see its connection closed
  within about 2 s, while tokens flow and while the model is silent;
- idle timeouts. The shipped idle limits (120 s for mod_fcgid's FcgidIOTimeout,
  mod_proxy_fcgi's timeout=, mod_cgid's CGIDScriptTimeout and nginx's
  fastcgi_read_timeout; 360 s for lighttpd's server.max-write-idle) sit far above
  docchat's ping interval (DOCCHAT_PING_S, 15 s). The same relation is tested in a copy
  of each config whose idle limit is cut to 3 s, with DOCCHAT_PING_S=1 and a model that is
  silent for 6 s: the answer must arrive complete. As a control, the same copy with pings
  off (DOCCHAT_PING_S=3600, DOCCHAT_PROBE_MS=0) must cut that stream, which shows the
  short limit is really in force;
- that the server stops cleanly, leaving no docchat process behind.

Also: the systemd units pass `systemd-analyze verify`, and docchat started the way
docchat-socket.service starts it (the listening socket on fd 0, as StandardInput=socket
does) still serves after a restart on the same socket, as systemd does it.

A server whose Debian package is not installed is reported as "SKIP name: reason"
(tests/run installs them all). What was measured per server is printed at the end.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import harness as h
import servers as sv
from harness import check, eq, fail, fakelib, test

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
Q = "How long should green tea steep?"
NOTICE_FLOWING_S = 2.0     # client close -> upstream closed, while tokens flow
# The same while the model sends nothing. docchat then writes a probe every second
# (DOCCHAT_PROBE_MS); Apache learns that the client left only when its second write
# after the close fails, so about 2.25 s is normal there.
NOTICE_SILENT_S = 3.0
SHORT_IDLE_S = 3           # the idle limit in the timeout test copies
SILENCE_MS = 6000          # how long the model stays silent there

ctx = {"measured": {}}

# (test name prefix, Site kind, files it needs, Debian packages that provide them)
SERVERS = [
    ("lighttpd", "lighttpd", [h.LIGHTTPD], "lighttpd"),
    ("lighttpd_spawnfcgi", "lighttpd-spawnfcgi", [h.LIGHTTPD, sv.SPAWN_FCGI],
     "lighttpd spawn-fcgi"),
    ("apache_fcgid", "apache-fcgid", [sv.APACHE, sv.APACHE_MODULES + "/mod_fcgid.so"],
     "apache2 libapache2-mod-fcgid"),
    ("apache_proxy_fcgi", "apache-proxy-fcgi",
     [sv.APACHE, sv.APACHE_MODULES + "/mod_proxy_fcgi.so", sv.SPAWN_FCGI],
     "apache2 spawn-fcgi"),
    ("nginx_spawnfcgi", "nginx-spawnfcgi", [sv.NGINX, sv.SPAWN_FCGI], "nginx-light spawn-fcgi"),
    ("apache_cgi", "apache-cgi", [sv.APACHE, sv.APACHE_MODULES + "/mod_cgid.so"], "apache2"),
]


def setup():
    tmp = h.TmpDir("servers")
    # The servers' workers (www-data when run as root) must reach their files in here.
    sv.stage(tmp)
    ctx["tmp"] = tmp
    ctx["fake"] = h.FakeModel(tmp)
    h.on_exit(print_measurements)


def measure(name, key, value):
    ctx["measured"].setdefault(name, {})[key] = value
    print("# measured %s %s=%s" % (name, key, value), flush=True)


def print_measurements(failed):
    m = ctx["measured"]
    if not m:
        return
    keys = ["start_event_ms", "first_chunk_ms", "concurrent_start_s", "notice_flowing_s",
            "notice_silent_s", "idle_control"]
    sys.stderr.write("# %-20s %s\n" % ("server", "  ".join(keys)))
    for name, _, _, _ in SERVERS:
        if name in m:
            sys.stderr.write("# %-20s %s\n" % (name, "  ".join(
                str(m[name].get(k, "-")) for k in keys)))


# ---------------------------------------------------------------------------------------
# Checks shared by every server

def check_security_headers(headers, what):
    eq(headers.get_all("Content-Security-Policy"), [CSP], "%s: Content-Security-Policy" % what)
    eq(headers.get_all("X-Content-Type-Options"), ["nosniff"],
       "%s: X-Content-Type-Options (exactly once)" % what)
    eq(headers.get_all("Referrer-Policy"), ["no-referrer"], "%s: Referrer-Policy" % what)


def open_stream(srv, sid, model, question=Q):
    """POST a question asking for gzip, as browsers do; returns the open Stream."""
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": question, "model": model},
                    headers={"Accept-Encoding": "gzip, deflate, br"})
    h.check_stream_headers(st)
    eq(st.headers.get("Content-Encoding"), None, "Content-Encoding of the stream")
    return st


def full_answer(srv, fake, model, question=Q):
    """Stream one answer and check it completely; returns (stream, parts)."""
    sid = srv.new_session()
    st = open_stream(srv, sid, model, question)
    st.read_all()
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, model)
    if model == "extractive":
        h.check_metadata(parts["final"]["content"], model, parts["text"], "all",
                         finish_reason=None)
        check("two minutes" in parts["text"], "the extractive answer does not quote "
              "tea.txt: %s" % h.short(parts["text"]))
    else:
        want = fakelib.expected_text(model)
        eq(parts["text"], want, "joined chunks")
        req = fake.request_for(model)
        h.check_metadata(parts["final"]["content"], model, want, "all",
                         usage=(req["prompt_tokens"], req["tokens_sent"]))
    eq(srv.final_assistant(sid).get("status"), "complete", "stored status")
    return st, parts


def leave_after(srv, model, nchunks):
    """Open a stream, read nchunks chunk events, hang up. Returns (stream, sid, text)."""
    sid = srv.new_session()
    st = open_stream(srv, sid, model)
    got = []
    for _, ev in st:
        if ev.get("type") == "chunk":
            got.append(ev["content"])
            if len(got) == nchunks:
                break
        check(ev.get("type") not in ("metadata", "error", "done"),
              "the stream ended before the client left: %s" % h.short(ev))
    st.close()
    h.check_framing(st.parser)
    return st, sid, "".join(got)


def upstream_closed_after(fake, st, model, within):
    """Seconds from the client's close to the fake seeing docchat hang up (<= within)."""
    req = fake.request_for(model, timeout=within + 8, pred=lambda r: r["closed_by_client"])
    delay = req["closed_at"] - st.closed_at
    check(delay >= -0.05, "the upstream closed %.2fs before the client left?" % -delay)
    check(delay <= within, "docchat closed the upstream %.2fs after the client left, want "
          "<= %.1fs" % (delay, within))
    return delay


def check_interrupted(srv, sid, model, read_text):
    asst = srv.final_assistant(sid, timeout=10)
    eq(asst.get("status"), "interrupted", "stored status after the client left")
    content = asst.get("content")
    check(isinstance(content, str) and fakelib.expected_text(model).startswith(content)
          and content.startswith(read_text),
          "stored content %s is not the streamed %s or more of the answer" % (
              h.short(content), h.short(read_text)))


def silent_answer(site, model, results, key):
    """Read a whole answer from a model that starts with a long silence; store what
    happened in results[key] (never raises)."""
    srv = site.srv
    r = {"complete": False}
    try:
        sid = srv.new_session()
        st = open_stream(srv, sid, model)
        try:
            st.read_all()
            r["how"] = "ended"
        except h.TestFailure as e:
            r["how"] = "broken: %s" % e
        r["elapsed"] = time.monotonic() - st.opened_at
        r["types"] = [e.get("type") for e in st.events]
        r["pings"] = len(st.pings)
        r["errors"] = list(st.parser.errors)
        r["sid"] = sid
        r["stream"] = st
        r["complete"] = (not st.parser.errors and r["types"][-2:] == ["metadata", "done"]
                         and r["how"] == "ended")
    except Exception as e:  # noqa: BLE001 - reported by the caller
        r["how"] = "%s: %s" % (type(e).__name__, e)
    results[key] = r


# ---------------------------------------------------------------------------------------
# One block of tests per server

def server_tests(name, kind, needs, packages):
    state = {"site": None, "error": None}

    def site():
        gone = [p for p in needs if not os.path.exists(p)]
        if gone:
            h.skip("%s is not installed (Debian packages: %s)" % (gone[0], packages))
        if state["error"]:
            fail("the server did not start: %s" % state["error"])
        if state["site"] is None:
            try:
                state["site"] = sv.Site(ctx["tmp"], ctx["fake"], kind, name)
            except BaseException as e:
                state["error"] = h.short(str(e), 400)
                raise
        return state["site"]

    def named(suffix):
        def deco(fn):
            fn.__name__ = "%s_%s" % (name, suffix)
            return test(fn)
        return deco

    @named("starts_from_the_shipped_config")
    def _():
        t0 = time.monotonic()
        site()
        measure(name, "startup_s", round(time.monotonic() - t0, 2))

    @named("serves_page_and_api_with_security_headers")
    def _():
        srv = site().srv
        status, headers, body = srv.request("GET", "/")
        eq(status, 200, "GET / status")
        check("<title>docchat</title>" in body, "GET / is not the chat page: %s" %
              h.short(body))
        check_security_headers(headers, "GET /")
        status, headers, body = srv.request("GET", "/api/health")
        eq(status, 200, "GET /api/health status")
        eq(body.get("status"), "ok", "health status")
        check_security_headers(headers, "GET /api/health")
        status, headers, body = srv.request("GET", "/api/no-such-thing")
        eq(status, 404, "GET /api/no-such-thing status (docchat's own 404)")
        check(isinstance(body, dict) and "error" in body,
              "docchat's JSON 404 expected, got %s" % h.short(body))

    @named("event_sequence_is_exact")
    def _():
        srv, fake = site().srv, ctx["fake"]
        st, parts = full_answer(srv, fake, h.fake_model("openai", tokens=12))
        check_security_headers(st.headers, "the stream")
        measure(name, "start_event_ms", round((parts["start"].time - st.opened_at) * 1000))
        measure(name, "first_chunk_ms", round((parts["chunks"][0].time - st.opened_at) * 1000))
        full_answer(srv, fake, h.fake_model("ollama", tokens=12))
        full_answer(srv, fake, "extractive")

    @named("chunks_arrive_as_the_model_paces_them")
    def _():
        srv, fake = site().srv, ctx["fake"]
        model = h.fake_model("openai", tokens=10, pace_ms=200)
        sid = srv.new_session()
        st = open_stream(srv, sid, model)
        times = [t for t, ev in st if ev.get("type") == "chunk"]
        h.check_framing(st.parser)
        parts = h.split_events(st.events, sid, model)
        eq(parts["text"], fakelib.expected_text(model), "joined chunks")
        eq(len(times), 10, "chunk events (one per token)")
        spread = times[-1] - times[0]
        check(spread > 1.2, "chunks arrived within %.2fs, want > 1.2s (buffered?)" % spread)
        moments = 1 + sum(1 for a, b in zip(times, times[1:]) if b - a > 0.05)
        check(moments >= 5, "chunks arrived at only %d distinct moments: %s" % (
            moments, [round(t - times[0], 3) for t in times]))
        req = fake.request_for(model, pred=lambda r: r["ended"] is not None)
        check(times[0] < req["ended"] - 1.0, "the first chunk arrived %.2fs before the fake "
              "finished, want > 1s" % (req["ended"] - times[0]))
        measure(name, "paced_spread_s", round(spread, 2))

    @named("a_second_request_leaves_a_running_answer_alone")
    def _():
        # Under mod_fcgid the second request starts a new docchat process (every earlier
        # request here was served by the first one); docchat's start-up recovery must not
        # take the first process's running answer for an abandoned one.
        srv, fake = site().srv, ctx["fake"]
        model = h.fake_model("openai", tokens=40, pace_ms=100)
        sid = srv.new_session()
        st = open_stream(srv, sid, model)
        try:
            for _, ev in st:
                if ev.get("type") == "chunk":
                    break
            full_answer(srv, fake, h.fake_model("ollama", tokens=3))
            msgs = srv.session(sid).get("messages") or []
            eq([m.get("status") for m in msgs if m.get("role") == "assistant"], ["streaming"],
               "stored status of the answer still streaming while another request ran")
        finally:
            st.close()

    @named("concurrent_streams_overlap")
    def _():
        # 3 s answers: under mod_fcgid a request that finds no idle docchat process
        # waits (about 1 s, measured) for mod_fcgid to start one.
        srv, fake = site().srv, ctx["fake"]
        n = 3
        models = [h.fake_model("openai" if i % 2 == 0 else "ollama", tokens=30, pace_ms=100)
                  for i in range(n)]
        results = [None] * n
        started = [None] * n
        t0 = time.monotonic()

        def one(i):
            try:
                st, _ = full_answer(srv, fake, models[i])
                started[i] = st.events[0].time - t0
                results[i] = "ok"
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = "%s: %s" % (type(e).__name__, e)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        eq(results, ["ok"] * n, "concurrent stream results")
        reqs = [fake.request_for(m, pred=lambda r: r["ended"] is not None) for m in models]
        latest_start = max(r["started"] for r in reqs)
        earliest_end = min(r["ended"] for r in reqs)
        check(latest_start < earliest_end, "the %d streams did not overlap upstream (one "
              "ended %.2fs before the last started)" % (n, latest_start - earliest_end))
        measure(name, "concurrent_start_s", round(max(started), 2))

    @named("client_leaves_while_tokens_flow")
    def _():
        srv, fake = site().srv, ctx["fake"]
        model = h.fake_model("openai", tokens=200, pace_ms=100)
        st, sid, text = leave_after(srv, model, 3)
        eq(text, "".join(fakelib.token(i) for i in range(3)), "the 3 chunks read")
        delay = upstream_closed_after(fake, st, model, NOTICE_FLOWING_S)
        measure(name, "notice_flowing_s", round(delay, 2))
        check(fake.request_for(model)["tokens_sent"] < 200,
              "the fake sent all its tokens: nothing stopped it")
        check_interrupted(srv, sid, model, text)

    @named("client_leaves_while_model_is_silent")
    def _():
        srv, fake = site().srv, ctx["fake"]
        model = h.fake_model("ollama", tokens=50, fault="stall_after=1")
        st, sid, text = leave_after(srv, model, 1)
        delay = upstream_closed_after(fake, st, model, NOTICE_SILENT_S)
        measure(name, "notice_silent_s", round(delay, 2))
        check_interrupted(srv, sid, model, text)

    @named("long_silence_is_not_cut_by_a_short_idle_limit_with_pings")
    def _():
        site()
        sites = {}
        try:
            sites["ping"] = sv.Site(ctx["tmp"], ctx["fake"], kind, name + "-idle-ping",
                                    overrides={"DOCCHAT_PING_S": "1", "DOCCHAT_PROBE_MS": "0"},
                                    short_idle_s=SHORT_IDLE_S)
            sites["quiet"] = sv.Site(ctx["tmp"], ctx["fake"], kind, name + "-idle-quiet",
                                     overrides={"DOCCHAT_PING_S": "3600",
                                                "DOCCHAT_PROBE_MS": "0"},
                                     short_idle_s=SHORT_IDLE_S)
            models = {k: h.fake_model("openai", tokens=3, first_ms=SILENCE_MS) for k in sites}
            results = {}
            threads = [threading.Thread(target=silent_answer,
                                        args=(sites[k], models[k], results, k))
                       for k in sites]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            ping, quiet = results.get("ping", {}), results.get("quiet", {})
            check(ping.get("complete"), "with pings every 1 s the stream was cut by a %d s "
                  "idle limit: %s, events %s, framing %s" % (
                      SHORT_IDLE_S, ping.get("how"), ping.get("types"), ping.get("errors")))
            parts = h.split_events(ping["stream"].events, ping["sid"], models["ping"])
            eq(parts["text"], fakelib.expected_text(models["ping"]), "joined chunks")
            check(ping["pings"] >= SILENCE_MS // 1000 - 2, "only %d pings during %d s of "
                  "silence with DOCCHAT_PING_S=1" % (ping["pings"], SILENCE_MS // 1000))
            check(not quiet.get("complete"), "the control stream (no pings, no probes) "
                  "survived %d s of silence: the %d s idle limit of the test copy is not in "
                  "force" % (SILENCE_MS // 1000, SHORT_IDLE_S))
            # How the server cut it: when the client saw the end, and whether anything
            # but events (an error page) came first.
            measure(name, "idle_control", "cut at %.1fs%s" % (
                quiet.get("elapsed", -1),
                " after an error page" if quiet.get("errors") else ""))
        finally:
            for s in sites.values():
                s.stop()

    @named("stops_cleanly")
    def _():
        left = site().stop()
        check(not left, "processes left running after the server stopped: %s" % left)


# ---------------------------------------------------------------------------------------
# systemd units

@test
def systemd_units_pass_systemd_analyze_verify():
    tool = shutil.which("systemd-analyze")
    if not tool or not os.path.isdir("/usr/lib/systemd/system"):
        h.skip("systemd-analyze is not installed (Debian package: systemd)")
    root = ctx["tmp"].join("systemd-root")
    shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"),
                    symlinks=True)
    units = ["docchat.service", "docchat.socket", "docchat-socket.service"]
    etc = os.path.join(root, "etc/systemd/system")
    os.makedirs(etc)
    for u in units:
        shutil.copy(os.path.join(sv.DEPLOY, "systemd", u), etc)
    # verify checks that ExecStart names an executable inside the root.
    for exe in (sv.UNIT_BIN, "/usr/bin/spawn-fcgi"):
        p = os.path.join(root, exe.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(p, 0o755)
    r = subprocess.run([tool, "verify", "--root=" + root] + units, capture_output=True,
                       timeout=60, env=h.clean_env({"SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}))
    out = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
    eq(r.returncode, 0, "systemd-analyze verify exit status (%s)" % h.short(out, 600))
    check(not out, "systemd-analyze verify complained: %s" % h.short(out, 600))
    # The socket-activated service takes the socket on fd 0, where docchat expects it.
    unit = read_unit("docchat-socket.service")
    eq(unit.get("StandardInput"), "socket", "docchat-socket.service StandardInput")
    eq(unit.get("ExecStart"), sv.UNIT_BIN, "docchat-socket.service ExecStart")
    sock = read_unit("docchat.socket")
    eq(sock.get("ListenStream"), sv.UNIT_SOCKET, "docchat.socket ListenStream")
    eq(sock.get("Service"), "docchat-socket.service", "docchat.socket Service")


def read_unit(name):
    out = {}
    with open(os.path.join(sv.DEPLOY, "systemd", name), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                k, _, v = line.partition("=")
                out[k] = v
    return out


def fcgi_get(sock_path, path_info, timeout=5.0):
    """A FastCGI GET of PATH_INFO on a Unix socket, as a web server sends it; returns
    (status, body)."""
    def record(rtype, body):
        return struct.pack("!BBHHBx", 1, rtype, 1, len(body), 0) + body

    def pair(k, v):
        k, v = k.encode(), v.encode()
        return bytes([len(k), len(v)]) + k + v
    params = b"".join(pair(k, v) for k, v in (
        ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/api"), ("PATH_INFO", path_info),
        ("QUERY_STRING", ""), ("REMOTE_ADDR", "127.0.0.1")))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"")
                  + record(5, b""))
        buf, out = b"", b""
        while True:
            data = s.recv(65536)
            if not data:
                fail("docchat closed the FastCGI connection before FCGI_END_REQUEST")
            buf += data
            while len(buf) >= 8:
                _, rtype, _, clen, plen = struct.unpack("!BBHHB", buf[:7])
                if len(buf) < 8 + clen + plen:
                    break
                body, buf = buf[8:8 + clen], buf[8 + clen + plen:]
                if rtype == 6:
                    out += body
                elif rtype == 3:
                    head, _, content = out.partition(b"\r\n\r\n")
                    status = head.split(b"\r\n")[0].decode()
                    check(status.startswith("Status: "), "no Status header: %s" %
                          h.short(out))
                    return int(status.split()[1]), content
    finally:
        s.close()


@test
def socket_activated_docchat_serves_again_after_a_restart():
    # What docchat.socket + docchat-socket.service do: systemd owns the listening socket
    # and keeps it across restarts of the service, which gets it on fd 0 each time.
    tmp = ctx["tmp"]
    fake = ctx["fake"]
    srv = h.Docchat(tmp, fake, name="socket-activation", serve=False)
    sv.give_to_run_as(srv.state)
    sock_path = os.path.join(srv.state, "docchat.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    os.chmod(sock_path, 0o660)
    kw = {"user": sv.RUN_AS, "group": sv.RUN_AS, "extra_groups": []} if sv.RUN_AS else {}
    log_path = os.path.join(srv.state, "docchat.log")
    procs = []

    def start():
        with open(log_path, "ab") as log:
            p = subprocess.Popen([sv.BIN], stdin=listener.fileno(), stdout=log,
                                 stderr=log, cwd=srv.state, umask=0o077, **kw,
                                 env=h.clean_env({"DOCCHAT_CONFIG": srv.config_path}))
        procs.append(p)
        return p

    def health(what):
        try:
            status, body = fcgi_get(sock_path, "/health")
        except OSError as e:
            hint = ""
            if isinstance(e, ConnectionRefusedError):
                hint = " - the listening socket no longer accepts connections, so the " \
                       "docchat that stopped before must have shut it down"
            fail("%s: GET /health over the socket: %s: %s%s (log: %s)" % (
                what, type(e).__name__, e, hint, h.short(h.tail(log_path, 6), 600)))
        eq(status, 200, "%s: /health status (%s)" % (what, h.short(body)))

    try:
        p = start()
        health("first start")
        p.send_signal(signal.SIGTERM)
        try:
            eq(p.wait(10), 0, "docchat's exit status after SIGTERM")
        except subprocess.TimeoutExpired:
            fail("docchat did not stop within 10 s of SIGTERM")
        start()
        health("after a restart on the same socket")
    finally:
        for p in procs:
            sv.stop_process(p, "socket-activated docchat", timeout=10)
        listener.close()


for _spec in SERVERS:
    server_tests(*_spec)


if __name__ == "__main__":
    h.run(setup)
