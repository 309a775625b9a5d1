#!/usr/bin/env python3
"""test_api.py - the JSON API through lighttpd, per doc/API.md's table.

Checks /health (status, version, database, threads), the sessions resource (create with
the default and a given title, list newest first, get with messages oldest first, rename,
delete and its 404s afterwards), /models (extractive plus the fake model server's OpenAI
and Ollama models, "default") and /documents (the ingested files with sizes and chunk
counts), with exact status codes, JSON bodies and Content-Type.
"""

import re
import time

import harness as h
from harness import check, eq, fakelib, test

ctx = {}


def setup():
    tmp = h.TmpDir("api")
    fake = h.FakeModel(tmp)
    ctx["fake"] = fake
    ctx["srv"] = h.Docchat(tmp, fake)


def json_ok(status, headers, body, want, what):
    eq(status, want, "%s status (body %s)" % (what, h.short(body)))
    ctype = headers.get("Content-Type") or ""
    check(ctype.startswith("application/json"), "%s Content-Type %r" % (what, ctype))
    return body


def check_session(s, title=None, count=None):
    check(isinstance(s, dict), "session is not an object: %s" % h.short(s))
    check(isinstance(s.get("id"), str) and h.UUID_RE.match(s["id"]),
          "session id is not a UUIDv4: %s" % h.short(s.get("id")))
    for k in ("created_at", "updated_at", "message_count"):
        check(h.is_int(s.get(k)), "session.%s: %s" % (k, h.short(s)))
    now = time.time()
    check(abs(s["created_at"] - now) < 120, "created_at %s is not now" % s["created_at"])
    check(s["updated_at"] >= s["created_at"], "updated_at before created_at: %s" % s)
    if title is not None:
        eq(s.get("title"), title, "session title")
    if count is not None:
        eq(s.get("message_count"), count, "message_count")


@test
def health_is_ok():
    srv = ctx["srv"]
    st, hd, body = srv.request("GET", "/api/health")
    json_ok(st, hd, body, 200, "GET /api/health")
    eq(body.get("status"), "ok", "health status")
    eq(body.get("database"), "ok", "health database")
    check(isinstance(body.get("version"), str) and
          re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", body["version"]),
          "health version: %s" % h.short(body.get("version")))
    eq(body.get("threads"), 4, "health threads (DOCCHAT_THREADS=4)")
    ctx["version"] = body["version"]


@test
def version_matches_the_binary():
    r = ctx["srv"].cli(["--version"])
    eq(r.returncode, 0, "docchat --version exit status")
    out = r.stdout.decode("utf-8", "replace")
    check(ctx.get("version", "?") in out, "--version %r does not show %r" % (
        out, ctx.get("version")))


@test
def create_session_with_default_title():
    srv = ctx["srv"]
    st, hd, s = srv.request("POST", "/api/sessions", {})
    json_ok(st, hd, s, 201, "POST /api/sessions")
    check_session(s, title="New chat", count=0)
    st, hd, s2 = srv.request("POST", "/api/sessions", {"title": ""})
    json_ok(st, hd, s2, 201, "POST /api/sessions with an empty title")
    check_session(s2, title="New chat", count=0)
    check(s["id"] != s2["id"], "two sessions got the same id")


@test
def create_session_with_title():
    srv = ctx["srv"]
    title = "Tea & café — 日本 🙂 \"quoted\" <b>"
    st, hd, s = srv.request("POST", "/api/sessions", {"title": title})
    json_ok(st, hd, s, 201, "POST /api/sessions with a title")
    check_session(s, title=title, count=0)
    st, hd, got = srv.request("GET", "/api/sessions/" + s["id"])
    json_ok(st, hd, got, 200, "GET the new session")
    eq(got.get("title"), title, "title read back")
    eq(got.get("messages"), [], "messages of a new session")
    for k in ("id", "created_at", "updated_at", "message_count"):
        eq(got.get(k), s.get(k), "session.%s read back" % k)


@test
def create_session_rejects_bad_titles():
    srv = ctx["srv"]
    for body in ({"title": 5}, {"title": ["x"]}, [1], "nope"):
        st, hd, b = srv.request("POST", "/api/sessions", body,
                                headers={"Content-Type": "application/json"})
        json_ok(st, hd, b, 400, "POST /api/sessions %s" % h.short(body))
        check(isinstance(b.get("error"), str), "error body: %s" % h.short(b))


def next_second():
    """Wait until the wall clock enters a new second, so unix-second timestamps differ."""
    now = int(time.time())
    h.wait_for(lambda: int(time.time()) > now, 2.0, "the next second", 0.01)


@test
def list_sessions_newest_first():
    srv = ctx["srv"]
    next_second()
    a = srv.new_session("older")
    next_second()
    b = srv.new_session("newer")
    st, hd, body = srv.request("GET", "/api/sessions")
    json_ok(st, hd, body, 200, "GET /api/sessions")
    sessions = body.get("sessions")
    check(isinstance(sessions, list), "sessions: %s" % h.short(body))
    for s in sessions:
        check_session(s)
    ids = [s["id"] for s in sessions]
    check(a in ids and b in ids, "new sessions missing from the list")
    check(ids.index(b) < ids.index(a), "the newer session is not listed first")
    ups = [s["updated_at"] for s in sessions]
    eq(ups, sorted(ups, reverse=True), "updated_at order of the list")
    eq(len(set(ids)), len(ids), "duplicate ids in the list")


@test
def session_with_messages_oldest_first():
    srv, fake = ctx["srv"], ctx["fake"]
    next_second()
    sid = srv.new_session("chat")
    other = srv.new_session("other")
    q1, q2 = "How long should green tea steep?", "And black tea?"
    m1 = h.fake_model("openai", tokens=3)
    m2 = h.fake_model("ollama", tokens=4)
    next_second()
    h.chat(srv, sid, q1, model=m1)
    h.chat(srv, sid, q2, model=m2)
    s = srv.session(sid)
    check_session(s, title="chat", count=4)
    msgs = s["messages"]
    eq([(m["role"], m["content"]) for m in msgs],
       [("user", q1), ("assistant", fakelib.expected_text(m1)),
        ("user", q2), ("assistant", fakelib.expected_text(m2))], "messages")
    eq([m["status"] for m in msgs], ["complete"] * 4, "message statuses")
    eq([m["model"] for m in msgs[1::2]], [m1, m2], "assistant models")
    ids = [m["id"] for m in msgs]
    eq(ids, sorted(ids), "message order")
    for m in msgs:
        for k in ("id", "role", "content", "status", "model", "error", "sources",
                  "metadata", "created_at"):
            check(k in m, "message lacks %r: %s" % (k, h.short(m)))
    for m in msgs[0::2]:
        eq(m["model"], None, "user message model")
    # Chatting bumps updated_at: the session is listed before the one made after it.
    st, hd, body = srv.request("GET", "/api/sessions")
    ids = [x["id"] for x in body["sessions"]]
    check(ids.index(sid) < ids.index(other), "a session that was just used is not first")
    check(s["updated_at"] > s["created_at"], "updated_at did not move with new messages")


@test
def rename_session():
    srv = ctx["srv"]
    sid = srv.new_session("before")
    st, hd, s = srv.request("PATCH", "/api/sessions/" + sid, {"title": "after ✓"})
    json_ok(st, hd, s, 200, "PATCH /api/sessions/{id}")
    check_session(s, title="after ✓")
    eq(s["id"], sid, "renamed session id")
    eq(srv.session(sid)["title"], "after ✓", "title after rename")
    for body in ({}, {"title": 3}, {"title": None}, "x"):
        st, hd, b = srv.request("PATCH", "/api/sessions/" + sid, body,
                                headers={"Content-Type": "application/json"})
        json_ok(st, hd, b, 400, "PATCH with %s" % h.short(body))
    eq(srv.session(sid)["title"], "after ✓", "title after rejected renames")


@test
def delete_session():
    srv = ctx["srv"]
    sid = srv.new_session("doomed")
    h.chat(srv, sid, "green tea?", model="extractive")
    st, hd, body = srv.request("DELETE", "/api/sessions/" + sid)
    eq(st, 204, "DELETE status")
    eq(body, "", "DELETE body")
    st, hd, body = srv.request("GET", "/api/sessions/" + sid)
    json_ok(st, hd, body, 404, "GET after DELETE")
    check(isinstance(body.get("error"), str), "404 body: %s" % h.short(body))
    st, hd, body = srv.request("DELETE", "/api/sessions/" + sid)
    json_ok(st, hd, body, 404, "DELETE again")
    st, hd, body = srv.request("POST", "/api/chat/%s/stream" % sid, {"question": "tea"})
    json_ok(st, hd, body, 404, "stream into a deleted session")
    st, hd, body = srv.request("GET", "/api/sessions")
    check(sid not in [s["id"] for s in body["sessions"]], "deleted session still listed")


@test
def models_lists_extractive_and_the_fake():
    srv, fake = ctx["srv"], ctx["fake"]
    st, hd, body = srv.request("GET", "/api/models")
    json_ok(st, hd, body, 200, "GET /api/models")
    eq(body.get("default"), "extractive", "default model")
    models = body.get("models")
    check(isinstance(models, list), "models: %s" % h.short(body))
    by_id = {}
    for m in models:
        check(isinstance(m, dict) and isinstance(m.get("id"), str) and
              isinstance(m.get("provider"), str), "model entry: %s" % h.short(m))
        by_id[m["id"]] = m["provider"]
        check(m["id"].startswith(m["provider"]), "id %r does not start with its "
              "provider %r" % (m["id"], m["provider"]))
    eq(by_id.get("extractive"), "extractive", "extractive entry")
    for name in fakelib.OPENAI_MODELS:
        eq(by_id.get("openai:" + name), "openai", "openai:%s entry" % name)
    for name in fakelib.OLLAMA_MODELS:
        short_name = name[:-len(":latest")]
        check(by_id.get("ollama:" + name) == "ollama" or
              by_id.get("ollama:" + short_name) == "ollama",
              "ollama:%s missing from %s" % (name, sorted(by_id)))
    errs = body.get("errors", {})
    check(errs in ({}, None), "errors with both model servers up: %s" % h.short(errs))
    for r in fake.requests():
        if r["path"] == "/v1/models":
            eq(r["authorization_ok"], True, "Authorization on GET /v1/models")


@test
def documents_lists_the_ingested_files():
    srv = ctx["srv"]
    st, hd, body = srv.request("GET", "/api/documents")
    json_ok(st, hd, body, 200, "GET /api/documents")
    docs = body.get("documents")
    check(isinstance(docs, list), "documents: %s" % h.short(body))
    eq(sorted(d.get("name") for d in docs), sorted(h.DOCS), "document names")
    ids = set()
    for d in docs:
        check(h.is_int(d.get("id")), "document id: %s" % h.short(d))
        ids.add(d["id"])
        eq(d.get("size"), len(h.DOCS[d["name"]].encode("utf-8")), "size of %s" % d["name"])
        check(h.is_int(d.get("chunks")) and d["chunks"] >= 1, "chunks of %s" % h.short(d))
        check(h.is_int(d.get("created_at")) and abs(d["created_at"] - time.time()) < 600,
              "created_at of %s" % h.short(d))
    eq(len(ids), len(docs), "distinct document ids")
    # The ids are the ones sources refer to.
    sid = srv.new_session()
    st = h.chat(srv, sid, "How long should green tea steep?", model="extractive")
    src = h.split_events(st.events, sid, "extractive")["sources"]
    by_name = {d["name"]: d["id"] for d in docs}
    for s in src:
        eq(s["metadata"]["document_id"], by_name.get(s["metadata"]["document"]),
           "document_id of source %s" % s["metadata"]["document"])


if __name__ == "__main__":
    h.run(setup)
