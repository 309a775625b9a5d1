#!/usr/bin/env python3
"""test_faults.py - the database goes wrong while docchat serves through lighttpd.

For each fault: a request that needs the database before its stream starts gets HTTP 503
with {"error": "<cause>"}; a stream that is already running ends with an `error` event
naming the cause, then `done`, and its answer is not lost (docchat keeps it in memory
and stores it, as streamed, once the database takes it again); docchat does not crash
(the same process serves before, during and after); the database passes
PRAGMA integrity_check; and once the fault goes away docchat answers normally again
without a restart.

- Locked: another process holds an exclusive lock (BEGIN EXCLUSIVE). Writers wait for
  SQLite's busy timeout (5 s, store.c) and then fail; reads go on (WAL). A lock shorter
  than the busy timeout only delays the end of a stream.
- Read-only database file (chmod 0444) and read-only directory (0555: no -wal/-shm can
  be created): docchat refuses to use a database it cannot write (503 naming the path)
  and uses it as soon as the modes are fixed. As root, file modes do not bind, so
  docchat runs as `nobody` here.
- Disk full (a 1 MiB tmpfs, root only; skipped where mounting is not allowed).
- Missing directory: at start (503 until the directory is created) and moved away while
  serving (503 naming it; an answer that was streaming lands in the moved database, so
  nothing is lost when the directory comes back).
"""

import os
import sqlite3
import threading
import time

import faultlib as fl
import harness as h
from harness import check, eq, fakelib, test

ctx = {}
Q = "How long should green tea steep?"
BUSY_TIMEOUT_S = 5.0        # STORE_BUSY_TIMEOUT_MS in src/store.c
RECOVER_S = 10.0            # a fault gone -> docchat writes again (kept answers too)


def setup():
    tmp = h.TmpDir("faults")
    fl.open_up(tmp.path)
    ctx["tmp"] = tmp
    ctx["fake"] = h.FakeModel(tmp)


# ---------------------------------------------------------------------------------------
# Shared checks

def expect_503(status, body, words, what):
    eq(status, 503, "%s: status (body %s)" % (what, h.short(body)))
    check(isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"],
          "%s: body is not {\"error\": \"...\"}: %s" % (what, h.short(body)))
    for w in words:
        check(w in body["error"], "%s: error %r does not mention %r" % (what, body["error"], w))
    return body["error"]


def refused_stream(srv, sid, words, what):
    """A stream request the database refuses before the stream starts."""
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": "extractive"})
    return expect_503(st.status, st.body, words, what)


def good_answer(srv):
    """A new session and a complete answer from the fake model, stored complete."""
    model = h.fake_model("openai", tokens=6)
    sid = srv.new_session()
    st = h.chat(srv, sid, Q, model=model)
    parts = h.split_events(st.events, sid, model)
    eq(parts["text"], fakelib.expected_text(model), "answer after the fault")
    asst = srv.final_assistant(sid)
    eq(asst["status"], "complete", "stored status after the fault")
    eq(asst["content"], parts["text"], "stored answer after the fault")
    return sid


def wait_good(srv, timeout=RECOVER_S):
    """Poll until docchat writes again: POST /sessions answers 201."""
    def ok():
        status, _, _ = srv.request("POST", "/api/sessions", {"title": "probe"})
        return status == 201
    h.wait_for(ok, timeout, "docchat to write to the database again", 0.1)


def same_process(srv, before, what):
    """docchat did not crash: lighttpd still talks to the processes it started, and no
    sanitizer report reached the log."""
    now = fl.docchat_pids(srv)
    eq(now, before, "docchat processes after %s (a restart means one crashed)" % what)
    log = srv.log_text()
    for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "Segmentation"):
        check(bad not in log, "%s in docchat's log after %s" % (bad, what))


def pids(srv):
    return h.wait_for(lambda: fl.docchat_pids(srv), 10, "the docchat process")


def read_chunks(st, n):
    got = []
    for _, ev in st:
        if ev.get("type") == "chunk":
            got.append(ev["content"])
            if len(got) == n:
                return got
        check(ev.get("type") not in ("metadata", "error", "done"),
              "the stream ended early: %s" % h.short(ev))
    h.fail("the stream ended after %d chunks" % len(got))


def rest_of(st):
    return [ev for _, ev in st]


def integrity_ok(path, what):
    eq(fl.integrity(path), "ok", "PRAGMA integrity_check %s" % what)


class Locker:
    """Another process's exclusive lock on the database (Python's sqlite3 stands in)."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10,
                                  check_same_thread=False)
        self.mutex = threading.Lock()
        self.db.execute("BEGIN EXCLUSIVE")
        self.held = True
        h.on_exit(lambda failed: self.release())

    def release(self):
        with self.mutex:
            if self.held:
                self.held = False
                self.db.execute("COMMIT")
                self.db.close()


def measure(msg):
    fl.log("measured: " + msg)


# ---------------------------------------------------------------------------------------
# Locked

@test
def locked_database_is_503_before_the_stream_after_the_busy_timeout():
    srv = fl.Served(ctx["tmp"], ctx["fake"], name="locked")
    sid = srv.new_session()
    before = pids(srv)
    lock = Locker(srv.db_path)
    t0 = time.monotonic()
    status, _, body = srv.request("POST", "/api/sessions", {"title": "x"})
    took = time.monotonic() - t0
    expect_503(status, body, ["locked"], "POST /api/sessions while locked")
    measure("POST /sessions on a locked database: 503 after %.2fs" % took)
    check(BUSY_TIMEOUT_S - 0.5 <= took <= 4 * BUSY_TIMEOUT_S,
          "503 came after %.2fs, want about the busy timeout (%.0fs)" % (took, BUSY_TIMEOUT_S))
    t0 = time.monotonic()
    refused_stream(srv, sid, ["locked"], "stream while locked")
    measure("POST /chat/ID/stream on a locked database: 503 after %.2fs" %
            (time.monotonic() - t0))
    t0 = time.monotonic()
    status, _, s = srv.request("GET", "/api/sessions/" + sid)
    eq(status, 200, "GET a session while another process writes (WAL readers go on)")
    measure("GET /sessions/ID on a locked database: %d after %.2fs" %
            (status, time.monotonic() - t0))
    lock.release()
    eq(srv.session(sid)["messages"], [], "messages stored by the refused stream")
    good_answer(srv)
    same_process(srv, before, "the lock")
    integrity_ok(srv.db_path, "after the lock")


@test
def lock_shorter_than_the_busy_timeout_only_delays_the_end():
    srv = fl.Served(ctx["tmp"], ctx["fake"], name="shortlock")
    before = pids(srv)
    model = h.fake_model("openai", tokens=10, pace_ms=100)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    got = read_chunks(st, 2)
    lock = Locker(srv.db_path)
    # The answer ends about 0.8 s from now; its row waits for the lock.
    timer = threading.Timer(BUSY_TIMEOUT_S / 2, lock.release)
    timer.start()
    try:
        rest = rest_of(st)
    finally:
        timer.cancel()
        lock.release()
    types = [ev.get("type") for ev in rest]
    eq(types[-2:], ["metadata", "done"], "the end of a stream that waited for a lock")
    text = "".join(got + [ev["content"] for ev in rest if ev.get("type") == "chunk"])
    eq(text, fakelib.expected_text(model), "streamed text")
    asst = srv.final_assistant(sid)
    eq(asst["status"], "complete", "stored status")
    eq(asst["content"], text, "stored content")
    same_process(srv, before, "a short lock")


@test
def lock_past_the_busy_timeout_ends_the_stream_in_error_and_keeps_the_answer():
    srv = fl.Served(ctx["tmp"], ctx["fake"], name="longlock")
    before = pids(srv)
    model = h.fake_model("ollama", tokens=10, pace_ms=100)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    got = read_chunks(st, 2)
    lock = Locker(srv.db_path)
    t0 = time.monotonic()
    rest = rest_of(st)
    took = time.monotonic() - t0
    events = st.events
    h.check_framing(st.parser)
    parts = h.split_events(events, sid, model, outcome="error")
    err = parts["final"]["content"]
    check("database" in err and "locked" in err, "error event %r does not say the database "
          "is locked" % err)
    eq(parts["text"], fakelib.expected_text(model), "chunks streamed before the error")
    eq("".join(got + [ev["content"] for ev in rest if ev.get("type") == "chunk"]),
       parts["text"], "chunks read")
    measure("stream whose end met a lock: error event %.2fs after the lock was taken" % took)
    # While the lock is held the answer is kept in memory; the row says 'streaming'.
    status, _, s = srv.request("GET", "/api/sessions/" + sid)
    eq(status, 200, "GET the session while locked")
    eq(s["messages"][-1]["status"], "streaming", "the row while its end is kept back")
    lock.release()
    asst = srv.final_assistant(sid, timeout=RECOVER_S)
    eq(asst["status"], "error", "stored status once the lock is gone")
    eq(asst["content"], parts["text"], "stored content: everything that was streamed")
    eq(asst["error"], err, "stored error: the one the client saw")
    eq(len(srv.session(sid)["messages"]), 2, "messages in the session (question, answer)")
    check("kept in memory" in srv.log_text(), "the log does not say the answer was kept")
    good_answer(srv)
    same_process(srv, before, "a long lock")
    integrity_ok(srv.db_path, "after a long lock")


# ---------------------------------------------------------------------------------------
# Read-only

def unprivileged(name, dmode, fmode):
    """A docchat run as nobody (when root) on tmp/NAME/db/docchat.db, with the modes set
    before lighttpd starts it."""
    tmp = ctx["tmp"]
    wrapper, uid, gid = fl.unprivileged_wrapper(tmp.path)
    dbdir = tmp.join(name, "db")
    os.makedirs(dbdir)

    def prepare(srv):
        fl.open_up(srv.state)
        fl.chown_tree(srv.state, uid, gid)
        os.chmod(srv.db_path, fmode)
        os.chmod(dbdir, dmode)
    srv = fl.Served(tmp, ctx["fake"], name=name, wrapper=wrapper,
                    overrides={"DOCCHAT_DB": os.path.join(dbdir, "docchat.db")},
                    before_serve=prepare)
    return srv, dbdir


def check_unusable(srv, words, what):
    status, _, body = srv.request("GET", "/api/health")
    eq(status, 503, "%s: /health status (body %s)" % (what, h.short(body)))
    eq(body.get("status"), "error", "%s: /health status field" % what)
    for w in words:
        check(w in body.get("database", ""), "%s: /health database %r lacks %r" % (
            what, body.get("database"), w))
    status, _, body = srv.request("POST", "/api/sessions", {})
    expect_503(status, body, words, "%s: POST /api/sessions" % what)
    status, _, body = srv.request("GET", "/api/sessions")
    expect_503(status, body, words, "%s: GET /api/sessions" % what)
    refused_stream(srv, "00000000-0000-4000-8000-000000000000", words, "%s: stream" % what)


def check_no_readonly_leftovers(dbdir):
    """No -wal/-shm was left with a read-only mode (it would keep docchat from writing
    after the database's own mode is fixed)."""
    for n in os.listdir(dbdir):
        if not n.endswith(("-wal", "-shm")):
            continue
        mode = os.stat(os.path.join(dbdir, n)).st_mode & 0o777
        check(mode & 0o200, "%s was left with mode %o" % (n, mode))


@test
def read_only_database_file_is_503_until_it_is_writable():
    srv, dbdir = unprivileged("rofile", 0o755, 0o444)
    before = pids(srv)
    check_unusable(srv, [srv.db_path, "cannot write"], "database file 0444")
    check_no_readonly_leftovers(dbdir)
    os.chmod(srv.db_path, 0o644)
    wait_good(srv)
    good_answer(srv)
    same_process(srv, before, "a read-only database file")
    srv.stop()
    integrity_ok(srv.db_path, "after a read-only database file")


@test
def read_only_directory_is_503_until_it_is_writable():
    srv, dbdir = unprivileged("rodir", 0o555, 0o644)
    before = pids(srv)
    # The file may be written, but the -wal and -shm files cannot be created.
    check_unusable(srv, [srv.db_path], "directory 0555")
    os.chmod(srv.db_path, 0o444)
    check_unusable(srv, [srv.db_path, "cannot write"], "directory 0555, file 0444")
    check_no_readonly_leftovers(dbdir)
    os.chmod(srv.db_path, 0o644)
    os.chmod(dbdir, 0o755)
    wait_good(srv)
    good_answer(srv)
    same_process(srv, before, "a read-only directory")
    srv.stop()
    integrity_ok(srv.db_path, "after a read-only directory")


# ---------------------------------------------------------------------------------------
# Disk full

@test
def full_disk_is_503_before_and_an_error_event_during_a_stream():
    if not fl.is_root():
        h.skip("mounting a small file system needs root")
    tmp = ctx["tmp"]
    dbdir = tmp.join("full-db")
    fl.Tmpfs(dbdir, "1m")
    srv = fl.Served(tmp, ctx["fake"], name="full",
                    overrides={"DOCCHAT_DB": os.path.join(dbdir, "docchat.db")})
    before = pids(srv)
    sid = srv.new_session()
    # Empty the WAL so that new writes need new space.
    db = sqlite3.connect(srv.db_path, timeout=10)
    try:
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        db.close()
    eq(busy, 0, "wal_checkpoint(TRUNCATE) was blocked")
    filler = fl.fill_disk(dbdir)
    status, _, body = srv.request("POST", "/api/sessions", {})
    expect_503(status, body, ["full"], "POST /api/sessions on a full disk")
    refused_stream(srv, sid, ["full"], "stream on a full disk")
    os.unlink(filler)

    # The disk fills up while an answer streams: its end cannot be stored.
    model = h.fake_model("openai", tokens=10, pace_ms=100)
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    read_chunks(st, 2)
    filler = fl.fill_disk(dbdir)
    rest_of(st)
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, model, outcome="error")
    err = parts["final"]["content"]
    check("database" in err and "full" in err, "error event %r does not say the disk is "
          "full" % err)
    eq(parts["text"], fakelib.expected_text(model), "chunks streamed before the error")
    same_process(srv, before, "a full disk")
    os.unlink(filler)
    asst = srv.final_assistant(sid, timeout=RECOVER_S)
    eq(asst["status"], "error", "stored status once there is room again")
    eq(asst["content"], parts["text"], "stored content: everything that was streamed")
    eq(asst["error"], err, "stored error")
    wait_good(srv)
    good_answer(srv)
    same_process(srv, before, "a full disk")
    integrity_ok(srv.db_path, "after a full disk")


# ---------------------------------------------------------------------------------------
# Missing directory

@test
def missing_directory_at_start_is_503_until_it_is_created():
    tmp = ctx["tmp"]
    dbdir = tmp.join("missing", "db")
    srv = fl.Served(tmp, ctx["fake"], name="missing", ingest=False,
                    overrides={"DOCCHAT_DB": os.path.join(dbdir, "docchat.db")})
    before = pids(srv)
    check_unusable(srv, [dbdir, "No such file or directory"], "missing directory")
    os.makedirs(dbdir)
    wait_good(srv)
    good_answer(srv)
    same_process(srv, before, "a missing directory")
    integrity_ok(srv.db_path, "of a database created after start")


@test
def directory_moved_away_while_serving_is_503_and_loses_nothing():
    tmp = ctx["tmp"]
    dbdir = tmp.join("moving", "db")
    os.makedirs(dbdir)
    srv = fl.Served(tmp, ctx["fake"], name="moving",
                    overrides={"DOCCHAT_DB": os.path.join(dbdir, "docchat.db")})
    before = pids(srv)
    kept = good_answer(srv)
    model = h.fake_model("openai", tokens=10, pace_ms=100)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    read_chunks(st, 2)
    away = dbdir + ".away"
    os.rename(dbdir, away)
    try:
        # The running answer goes on: its connection holds the (moved) file.
        rest = rest_of(st)
        eq([ev.get("type") for ev in rest][-2:], ["metadata", "done"],
           "the end of a stream whose directory moved")
        # New requests open the path again and find no directory.
        check_unusable(srv, [dbdir, "No such file or directory"], "directory moved away")
    finally:
        if os.path.exists(away):
            os.rename(away, dbdir)
    wait_good(srv)
    asst = srv.final_assistant(sid)
    eq(asst["status"], "complete", "the answer that streamed while the directory was away")
    eq(asst["content"], fakelib.expected_text(model), "its content")
    eq(srv.final_assistant(kept)["status"], "complete", "an answer from before the move")
    good_answer(srv)
    same_process(srv, before, "a moved directory")
    integrity_ok(srv.db_path, "after the directory came back")


if __name__ == "__main__":
    h.run(setup)
