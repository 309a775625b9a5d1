#!/usr/bin/env python3
"""test_load.py - many answers streaming at once through lighttpd, round after round.

Each round opens STREAMS streams at the same moment (asyncio, raw sockets), each asking
the fake model for TOKENS tokens paced PACE_MS apart after a first token that comes
FIRST_MS late, and reads every one to its end. Then it checks that
- every stream is a complete, well-framed event sequence (start, status, sources,
  status, chunk..., metadata, done) whose chunks join to exactly the model's answer;
- the streams really ran at once: at one moment the fake model was serving all of
  them (its own log of when each request started and ended says so). docchat stores
  each question and a 'streaming' row before it calls the model, and SQLite lets one
  writer in at a time, so the requests reach the model over about a second; the late
  first token (FIRST_MS) makes every stream still be running when the last one starts;
- every answer is stored exactly once: each session holds its question and one
  assistant message, status complete, equal to what was streamed, with the id the
  metadata named;
- docchat's memory stays flat: the resident size of its processes (/proc/PID/status
  VmRSS) is taken after each round. A warm-up round 0 first runs the same load, so
  that every worker thread has served and the relay has held as many streams as it
  will. From round 1 to the last, growth must stay below RSS_SLACK; with five
  rounds or more it must also slow down: over the later half of the rounds at most
  half the earlier half's growth a round, or RSS_STEP. A leak per stream grows by
  the same amount every round and fails this. (Measured without sanitizers: the heap
  in use grows about 1 MiB a round of 200 streams at first, over the four processes,
  and the growth fades, to 0.1-0.2 MiB a round after 20 rounds; valgrind finds
  nothing lost at exit, so it is memory still held, not leaked.)
- afterwards the database passes PRAGMA integrity_check and docchat still answers,
  and once lighttpd stops, the docchat processes exit without a LeakSanitizer report
  (with the sanitizer build of tests/run).

Sizing: a worker thread serves a stream only until the model is called; then the
stream moves to the process's relay thread (relay.h), which holds any number of them. So
PROCS docchat processes (fastcgi max-procs) of THREADS worker threads each (2 x 8) carry
all 200 streams; lighttpd's own defaults (1024 connections, 4096 fds) are enough; the
test raises its own fd limit for the client sockets. Under AddressSanitizer freed
memory sits in a quarantine (256 MiB by default) and in per-thread caches and would
look like growth, so the docchat processes here run with ASAN_FLAT.

DOCCHAT_LOAD_STREAMS, DOCCHAT_LOAD_ROUNDS, DOCCHAT_LOAD_TOKENS, DOCCHAT_LOAD_PACE_MS and
DOCCHAT_LOAD_FIRST_MS change the load (defaults 200, 5, 20, 50, 2000); e.g.
DOCCHAT_LOAD_ROUNDS=30 for a soak run.
"""

import asyncio
import json
import os
import resource
import sqlite3
import time

import faultlib as fl
import harness as h
from harness import check, eq, fakelib, test

STREAMS = int(os.environ.get("DOCCHAT_LOAD_STREAMS", "200"))
ROUNDS = int(os.environ.get("DOCCHAT_LOAD_ROUNDS", "5"))
TOKENS = int(os.environ.get("DOCCHAT_LOAD_TOKENS", "20"))
PACE_MS = int(os.environ.get("DOCCHAT_LOAD_PACE_MS", "50"))
FIRST_MS = int(os.environ.get("DOCCHAT_LOAD_FIRST_MS", "2000"))
PROCS = 2
THREADS = 8
RSS_SLACK_KIB = 24 * 1024          # allowed growth after the warm-up round, summed over
RSS_SLACK_SHARE = 0.10             # processes: the larger of 24 MiB and 10 %
RSS_STEP_KIB = 2048                # a later round may still grow this much (10 KiB a
                                   # stream), or half the early rounds' growth
# AddressSanitizer keeps freed memory in a quarantine and in per-thread caches, which
# looks like growth: for this test it hands memory back at once. Leaks are judged by
# LeakSanitizer when the processes exit at the end.
ASAN_FLAT = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0:" \
            "allocator_release_to_os_interval_ms=0"
Q = "How long should green tea steep?"

h.TEST_TIMEOUT_S = max(h.TEST_TIMEOUT_S, 60 + ROUNDS * 60)
ctx = {}


def setup():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 8 * STREAMS + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    check(want >= 4 * STREAMS, "the fd limit (%d) is too low for %d streams" % (want, STREAMS))
    tmp = h.TmpDir("load")
    fake = h.FakeModel(tmp)
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + ASAN_FLAT
    ctx["fake"] = fake
    ctx["srv"] = fl.Served(tmp, fake, name="load", max_procs=PROCS,
                           overrides={"DOCCHAT_THREADS": str(THREADS)},
                           env={"ASAN_OPTIONS": asan})


# ---------------------------------------------------------------------------------------
# The client: one coroutine per stream on a raw socket

class Result:
    def __init__(self, sid, model):
        self.sid = sid
        self.model = model
        self.status = None
        self.body = b""
        self.first_chunk = None
        self.done_at = None
        self.error = None


async def read_body(reader, headers, res, t0):
    """The response body, decoding chunked transfer; notes when the first chunk event and
    the end arrive."""
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    data = bytearray()
    loop = asyncio.get_running_loop()

    def took(piece):
        data.extend(piece)
        if res.first_chunk is None and b'"type":"chunk"' in data:
            res.first_chunk = loop.time() - t0
    if chunked:
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            took(await reader.readexactly(size))
            await reader.readexactly(2)
    else:
        while True:
            piece = await reader.read(65536)
            if not piece:
                break
            took(piece)
    res.done_at = loop.time() - t0
    return bytes(data)


async def one_stream(port, res, t0, start):
    body = json.dumps({"question": Q, "model": res.model}).encode()
    req = (b"POST /api/chat/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream"
           b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close"
           b"\r\n\r\n%s" % (res.sid.encode(), len(body), body))
    writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        await start.wait()
        writer.write(req)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        res.status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k:
                headers[k.strip().lower()] = v.strip()
        res.body = await read_body(reader, headers, res, t0)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        res.error = "%s: %s" % (type(e).__name__, e)
    finally:
        if writer is not None:
            writer.close()


async def run_round(port, results):
    loop = asyncio.get_running_loop()
    start = asyncio.Event()
    t0 = loop.time()
    tasks = [asyncio.ensure_future(one_stream(port, r, t0, start)) for r in results]
    await asyncio.sleep(0.2)         # every connection is open: send all requests at once
    start.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=h.TEST_TIMEOUT_S - 30)


# ---------------------------------------------------------------------------------------
# Checks

def stored_rows(srv, sids):
    db = sqlite3.connect("file:%s?mode=ro" % srv.db_path, uri=True, timeout=30)
    try:
        rows = {}
        q = ",".join("?" * len(sids))
        for sid, mid, role, status, content in db.execute(
                "SELECT session_id, id, role, status, content FROM messages"
                " WHERE session_id IN (%s) ORDER BY id" % q, sids):
            rows.setdefault(sid, []).append((mid, role, status, content))
        return rows
    finally:
        db.close()


def check_round(srv, results, rnd):
    for r in results:
        check(r.error is None, "round %d, %s: %s" % (rnd, r.sid, r.error))
        eq(r.status, 200, "round %d: stream status" % rnd)
        p = h.parse_sse_bytes(r.body)
        h.check_framing(p)
        parts = h.split_events(p.events, r.sid, r.model)
        eq(parts["text"], fakelib.expected_text(r.model), "round %d: streamed answer" % rnd)
        h.check_metadata(parts["final"]["content"], r.model, parts["text"], "all")
        r.text = parts["text"]
        r.message_id = parts["final"]["content"]["message_id"]

    def all_final():
        rows = stored_rows(srv, [r.sid for r in results])
        return rows if all(any(m[2] != "streaming" for m in rows.get(r.sid, [])[1:])
                           for r in results) else None
    rows = h.wait_for(all_final, 30, "every answer of round %d to be stored" % rnd, 0.2)
    for r in results:
        msgs = rows.get(r.sid, [])
        eq([(m[1], m[2]) for m in msgs], [("user", "complete"), ("assistant", "complete")],
           "round %d, session %s: stored messages" % (rnd, r.sid))
        eq(msgs[0][3], Q, "round %d: stored question" % rnd)
        eq(msgs[1][3], r.text, "round %d: stored answer equals the streamed one" % rnd)
        eq(msgs[1][0], r.message_id, "round %d: stored id equals metadata.message_id" % rnd)
    return max(r.done_at for r in results)


def peak_concurrency(fake, results):
    """The most model requests of this round the fake was serving at one moment."""
    tags = {fakelib.parse_scenario(r.model).tag for r in results}
    marks = []
    for e in fake.requests():
        if e.get("scenario_tag") in tags:
            check(e["ended"] is not None, "a model request that never ended: %s" % e["model"])
            marks += [(e["started"], 1), (e["ended"], -1)]
    eq(len(marks), 2 * len(results), "model requests of the round")
    peak = cur = 0
    for _, d in sorted(marks, key=lambda m: (m[0], m[1])):
        cur += d
        peak = max(peak, cur)
    return peak


@test
def many_streams_at_once_complete_stored_once_and_memory_stays_flat():
    srv, fake = ctx["srv"], ctx["fake"]
    pids = h.wait_for(lambda: len(fl.docchat_pids(srv)) == PROCS and fl.docchat_pids(srv),
                      20, "%d docchat processes" % PROCS)
    rss = []
    for rnd in range(0, ROUNDS + 1):
        # Round 0 fills every worker thread once (each opens its SQLite connection on
        # first use) and is not counted in the memory trend.
        n = STREAMS
        results = []
        for _ in range(n):
            model = h.fake_model("openai" if len(results) % 2 else "ollama",
                                 tokens=TOKENS, pace_ms=PACE_MS, first_ms=FIRST_MS)
            results.append(Result(srv.new_session(), model))
        t0 = time.monotonic()
        asyncio.run(run_round(srv.port, results))
        wall = time.monotonic() - t0
        check_round(srv, results, rnd)
        peak = peak_concurrency(fake, results)
        eq(peak, n, "round %d: model requests running at one moment" % rnd)
        eq(fl.docchat_pids(srv), pids, "docchat processes after round %d (one restarted?)" % rnd)
        kib = fl.rss_kib(pids)
        if rnd > 0:
            rss.append(kib)
        fl.log("round %d: %d streams (%d at once) of %d tokens at %d ms in %.2fs, docchat "
               "RSS %d KiB over %d processes (threads %s)" % (
                   rnd, n, peak, TOKENS, PACE_MS, wall, kib, len(pids),
                   [fl.proc_status(p, "Threads") for p in pids]))
    check_flat(rss)
    eq(fl.integrity(srv.db_path), "ok", "integrity_check after the load")
    st, _, body = srv.request("GET", "/api/health")
    eq(st, 200, "health after the load")
    srv.stop()
    h.wait_for(lambda: not fl.docchat_pids(srv), 30, "the docchat processes to exit")
    log = srv.log_text()
    for bad in ("LeakSanitizer", "AddressSanitizer", "runtime error:"):
        check(bad not in log, "%s in docchat's log: %s" % (bad, h.short(
            log[log.find(bad) - 200:], 1500)))


def check_flat(rss):
    """RSS after each round (KiB): see the module doc."""
    if len(rss) < 2:
        return
    base = rss[0]
    slack = max(RSS_SLACK_KIB, int(base * RSS_SLACK_SHARE))
    check(rss[-1] - base <= slack, "docchat's memory grew from %d KiB after round 1 to %d "
          "KiB after round %d (RSS per round: %s; allowed %d KiB)" % (
              base, rss[-1], len(rss), rss, slack))
    steps = [b - a for a, b in zip(rss, rss[1:])]
    if len(steps) >= 4:
        half = len(steps) // 2
        early = sum(steps[:half]) / half
        late = sum(steps[half:]) / (len(steps) - half)
        check(late <= max(RSS_STEP_KIB, early / 2), "docchat's memory keeps growing: %.0f KiB "
              "a round late, %.0f KiB early (RSS per round: %s)" % (late, early, rss))


if __name__ == "__main__":
    h.run(setup)
