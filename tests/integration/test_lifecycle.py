#!/usr/bin/env python3
"""test_lifecycle.py - docchat's process life under lighttpd: SIGTERM drains, kill -9
loses nothing, a restart marks half-written answers, an unusable database is a 503.

- SIGTERM with a running stream: docchat stops accepting, lets the stream finish within
  DOCCHAT_GRACE_S, and the answer is stored complete.
- SIGTERM with a stream longer than the grace period: the stream ends with an `error`
  event saying the server is shutting down, then `done`; the answer is stored as
  `interrupted`, and the model server sees its connection closed.
- kill -9 mid-stream: the database passes PRAGMA integrity_check, lighttpd brings
  docchat back on the next request, and the restarted docchat marks the answer that was
  left `streaming` as `interrupted`.
- A database that cannot be opened: /health answers 503 naming the cause, other
  endpoints 503 with {"error"}, and nothing crashes.
- Running out of file descriptors: workers whose accept fails with EMFILE pause and go on
  (every worker thread is still there afterwards) and docchat answers again once
  descriptors are free.
- One log line per request on stderr (which lighttpd passes on): method, path, status,
  duration, model, tokens, and the error if any.
"""

import os
import re
import signal
import threading
import sqlite3

import harness as h
from harness import check, eq, fakelib, test

ctx = {}
Q = "How long should green tea steep?"


def setup():
    tmp = h.TmpDir("lifecycle")
    ctx["tmp"] = tmp
    ctx["fake"] = h.FakeModel(tmp)


def docchat_pids(srv):
    """PIDs of the docchat processes lighttpd spawned for this configuration."""
    want = ("DOCCHAT_CONFIG=" + srv.config_path).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/exe" % d) != os.path.realpath(h.DOCCHAT_BIN):
                continue
            with open("/proc/%s/environ" % d, "rb") as f:
                if want in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            continue
    return pids


def one_pid(srv):
    pids = h.wait_for(lambda: docchat_pids(srv), 10, "the docchat process")
    eq(len(pids), 1, "docchat processes for this configuration")
    return pids[0]


def read_until_chunks(st, n):
    got = []
    for _, ev in st:
        if ev.get("type") == "chunk":
            got.append(ev["content"])
            if len(got) == n:
                return got
    h.fail("the stream ended after %d chunks" % len(got))


def integrity_ok(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def wait_healthy(srv, timeout=20):
    """lighttpd starts a new docchat on demand once the old one is gone."""
    def healthy():
        try:
            status, _, body = srv.request("GET", "/api/health", timeout=5)
        except OSError:
            return False
        return status == 200 and body.get("status") == "ok"
    h.wait_for(healthy, timeout, "docchat to answer again", 0.2)


def wait_gone(pid, timeout):
    def gone():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(")")[-1].split()[0] == "Z"
        except OSError:
            return True
    h.wait_for(gone, timeout, "docchat %d to exit" % pid)


@test
def sigterm_lets_a_running_answer_finish():
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="drain", overrides={"DOCCHAT_GRACE_S": "20"})
    model = h.fake_model("openai", tokens=20, pace_ms=100)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    read_until_chunks(st, 3)
    pid = one_pid(srv)
    os.kill(pid, signal.SIGTERM)
    events = [ev for _, ev in st]
    types = [ev.get("type") for ev in events]
    eq(types[-2:], ["metadata", "done"], "the last events after SIGTERM")
    check("error" not in types, "an error event during the drain: %s" % h.short(events))
    wait_gone(pid, 10)
    wait_healthy(srv)
    asst = srv.final_assistant(sid)
    eq(asst["status"], "complete", "stored status of the drained answer")
    eq(asst["content"], fakelib.expected_text(model), "stored content of the drained answer")


@test
def sigterm_past_the_grace_period_interrupts_and_stores():
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="grace", overrides={"DOCCHAT_GRACE_S": "1"})
    model = h.fake_model("ollama", tokens=300, pace_ms=100)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    got = read_until_chunks(st, 2)
    pid = one_pid(srv)
    os.kill(pid, signal.SIGTERM)
    rest = [ev for _, ev in st]
    types = [ev.get("type") for ev in rest]
    eq(types[-2:], ["error", "done"], "the last events when the grace period ran out")
    check("shutting down" in rest[-2].get("content", ""),
          "error event content: %s" % h.short(rest[-2]))
    streamed = "".join(got + [ev["content"] for ev in rest if ev.get("type") == "chunk"])
    req = ctx["fake"].request_for(model, timeout=10, pred=lambda r: r["closed_by_client"])
    check(req["tokens_sent"] < 300, "the model was not stopped")
    wait_gone(pid, 10)
    wait_healthy(srv)
    asst = srv.final_assistant(sid)
    eq(asst["status"], "interrupted", "stored status after the grace period")
    eq(asst["content"], streamed, "stored content equals what was streamed")
    eq(integrity_ok(srv.db_path), "ok", "integrity_check")


@test
def kill_9_mid_answer_then_restart_marks_it_interrupted():
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="kill9")
    model = h.fake_model("openai", tokens=300, pace_ms=50)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    read_until_chunks(st, 3)
    pid = one_pid(srv)
    os.kill(pid, signal.SIGKILL)
    for _ in st:
        pass
    wait_gone(pid, 10)
    eq(integrity_ok(srv.db_path), "ok", "integrity_check after kill -9")
    wait_healthy(srv)
    check(one_pid(srv) != pid, "the same process answered after kill -9")
    asst = srv.final_assistant(sid)
    eq(asst["status"], "interrupted", "stored status after kill -9 and restart")
    again = h.fake_model("openai", tokens=5)
    st2 = h.chat(srv, sid, Q, model=again)
    parts = h.split_events(st2.events, sid, again)
    eq(parts["text"], fakelib.expected_text(again), "an answer in the same session after the restart")


@test
def unusable_database_is_503_not_a_crash():
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="nodb", ingest=False, serve=False,
                    overrides={"DOCCHAT_DB": "/nonexistent-dir/docchat.db"})
    r = srv.cgi("GET", "/health")
    eq(r.returncode, 0, "exit status")
    eq(r.status, 503, "/health status with no database")
    body = r.json()
    eq(body.get("status"), "error", "health status field")
    check("/nonexistent-dir" in body.get("database", ""), "database cause: %s" % h.short(body))
    r = srv.cgi("POST", "/sessions", {})
    eq(r.status, 503, "POST /sessions status with no database")
    check("database" in r.json().get("error", ""), "error: %s" % h.short(r.json()))


@test
def one_log_line_per_request():
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="logs")
    sid = srv.new_session()
    ok = h.fake_model("openai", tokens=7)
    h.chat(srv, sid, Q, model=ok)
    bad = h.fake_model("ollama", fault="http500")
    h.chat(srv, sid, Q, model=bad)
    srv.request("GET", "/api/nope")
    log = os.path.join(srv.state, "lighttpd.out")

    def lines():
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        found = [l for l in text.splitlines() if "/chat/%s/stream" % sid in l or "/nope" in l]
        return found if len(found) >= 3 else None
    found = h.wait_for(lines, 10, "three request log lines in %s" % log)
    line_re = r"^docchat\[\d+\]: %s %s %d \d+ms user=- model=%s tokens=%s%s$"
    path = "/chat/%s/stream" % sid
    check(re.match(line_re % ("POST", re.escape(path), 200, re.escape(ok), "7", ""), found[0]),
          "log line of a complete answer: %r" % found[0])
    check(re.match(line_re % ("POST", re.escape(path), 200, re.escape(bad), "-1",
                              " error=error: ollama: HTTP 500: .*"), found[1]),
          "log line of a failed answer: %r" % found[1])
    check(re.match(line_re % ("GET", "/nope", 404, "-", "-1",
                              " error=no such resource: /nope"), found[2]),
          "log line of a 404: %r" % found[2])
    eq(srv.secret_leaks(), [], "files holding the API key")


def thread_count(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


@test
def workers_survive_running_out_of_descriptors():
    # Four workers and the relay's finishing thread each hold their database connection
    # (3 descriptors) from the start, the relay thread its epoll, eventfd and curl's
    # wake-up pair; with 24 descriptors in all, a few streams at once leave none for the
    # next accept.
    tmp = ctx["tmp"]
    wrapper = tmp.join("docchat-few-files")
    with open(wrapper, "w") as f:
        # soft and hard limit alike, so docchat cannot raise it
        f.write("#!/bin/sh\nulimit -n 24\nexec '%s' \"$@\"\n" % h.DOCCHAT_BIN)
    os.chmod(wrapper, 0o755)
    real = h.DOCCHAT_BIN
    h.DOCCHAT_BIN = wrapper
    try:
        srv = h.Docchat(tmp, ctx["fake"], name="fewfiles",
                        overrides={"DOCCHAT_THREADS": "4", "DOCCHAT_RATE_PER_MIN": "0",
                                   "DOCCHAT_MAX_STREAMS_PER_USER": "0",
                                   "DOCCHAT_EXTRACTIVE_DELAY_MS": "40"})
    finally:
        h.DOCCHAT_BIN = real
    pid = one_pid(srv)
    eq(thread_count(pid), 7, "threads before the burst (4 workers, the main thread, the "
       "relay and its finishing thread)")
    idle_fds = len(os.listdir("/proc/%d/fd" % pid))
    check(idle_fds < 22, "docchat holds %d descriptors idle: too many for this test" % idle_fds)
    sids = [srv.new_session() for _ in range(12)]
    done = []

    def one(sid):
        try:
            st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q})
            for _ in st:
                pass
        except Exception:   # refused or cut: the point is what is left afterwards
            pass
        done.append(sid)
    threads = [threading.Thread(target=one, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    eq(len(done), len(sids), "streams that ended")
    log = os.path.join(srv.state, "lighttpd.out")
    with open(log, encoding="utf-8", errors="replace") as f:
        check("accept failed: Too many open files" in f.read(),
              "the burst never ran docchat out of descriptors (see %s)" % log)
    eq(thread_count(pid), 7, "threads after the burst")
    for _ in range(4):
        sid = srv.new_session()
        st = h.chat(srv, sid, Q)
        parts = h.split_events(st.events, sid, "extractive")
        check(parts["text"], "an answer after the burst")


if __name__ == "__main__":
    h.run(setup)
