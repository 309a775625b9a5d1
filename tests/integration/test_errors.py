#!/usr/bin/env python3
"""test_errors.py - what goes wrong, before and during a stream, per doc/API.md.

Before the stream: every invalid request gets the documented status with a JSON
{"error": "..."} body and stores nothing (bad JSON, non-objects, bad question, body over
DOCCHAT_MAX_BODY, unknown session/path, wrong method with Allow, unknown provider,
bad search_mode/top_k/temperature/document_ids).
During the stream: each upstream failure of the fake model (HTTP 401/404/429/500, dropped
connection, malformed line, 2 MiB line, in-stream error, silence past
DOCCHAT_UPSTREAM_IDLE_S, connection refused) ends the stream with an `error` event
"<backend>: <cause>" (carrying the upstream's own message where it has one) then `done`;
the assistant message is stored with status error and the partial answer; the API key
never appears in an event, the database or the logs. A failed answer gives its worker
thread back: with DOCCHAT_THREADS=2, a run of failures of every kind, one after another,
is followed by two answers streaming at once.
"""

import json
import re
import socket
import uuid

import harness as h
from harness import check, eq, fakelib, test

ctx = {}
MAX_BODY = 4096
MAX_QUESTION = 1000
IDLE_S = 2
Q = "How long should green tea steep?"


def setup():
    tmp = h.TmpDir("errors")
    fake = h.FakeModel(tmp)
    ctx["tmp"] = tmp
    ctx["fake"] = fake
    ctx["srv"] = h.Docchat(tmp, fake, overrides={
        "DOCCHAT_UPSTREAM_IDLE_S": str(IDLE_S),
        "DOCCHAT_MAX_BODY": str(MAX_BODY),
        "DOCCHAT_MAX_QUESTION": str(MAX_QUESTION),
    })
    # A port nothing listens on, for "connection refused".
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    ctx["refused"] = h.Docchat(tmp, fake, name="refused", overrides={
        "DOCCHAT_OPENAI_URL": "http://127.0.0.1:%d/v1" % closed,
        "DOCCHAT_OLLAMA_URL": "http://127.0.0.1:%d" % closed,
        "DOCCHAT_UPSTREAM_CONNECT_S": "2",
    })


# ---------------------------------------------------------------------------------------
# Before the stream

def expect_error(status, headers, body, want, what):
    eq(status, want, "%s: status (body %s)" % (what, h.short(body)))
    ctype = headers.get("Content-Type") or ""
    check(ctype.startswith("application/json"), "%s: Content-Type %r" % (what, ctype))
    check(isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"],
          "%s: body is not {\"error\": \"...\"}: %s" % (what, h.short(body)))
    return body["error"]


def post_stream(sid, body, headers=None):
    """POST a stream request that must fail before streaming: (status, headers, body)."""
    return ctx["srv"].request("POST", "/api/chat/%s/stream" % sid, body, headers=headers)


def nothing_stored(sid):
    eq(ctx["srv"].session(sid)["messages"], [], "messages stored by rejected requests")


@test
def body_not_json_or_not_object():
    sid = ctx["srv"].new_session()
    for body, what in (("this is not json", "plain text"), ('{"question": "x"', "cut JSON"),
                       ("[1, 2]", "array"), ('"just a string"', "string"), ("42", "number"),
                       ("null", "null"), ("", "empty body")):
        st, hd, b = post_stream(sid, body, {"Content-Type": "application/json"})
        expect_error(st, hd, b, 400, what)
    nothing_stored(sid)


@test
def question_missing_empty_wrong_type_or_too_long():
    sid = ctx["srv"].new_session()
    cases = [({}, "missing"), ({"question": ""}, "empty"), ({"question": 7}, "number"),
             ({"question": None}, "null"), ({"question": ["a"]}, "array"),
             ({"question": "x" * (MAX_QUESTION + 1)}, "over DOCCHAT_MAX_QUESTION")]
    for body, what in cases:
        st, hd, b = post_stream(sid, body)
        expect_error(st, hd, b, 400, "question " + what)
    nothing_stored(sid)
    # Exactly the limit is fine (and ends in a normal stream).
    st = h.chat(ctx["srv"], sid, "tea " + "y" * (MAX_QUESTION - 4), model="extractive")
    h.split_events(st.events, sid, "extractive")


@test
def body_over_max_body_is_413():
    sid = ctx["srv"].new_session()
    body = json.dumps({"question": "tea", "pad": "z" * (MAX_BODY + 100)})
    st, hd, b = post_stream(sid, body, {"Content-Type": "application/json"})
    expect_error(st, hd, b, 413, "body over DOCCHAT_MAX_BODY")
    st, hd, b = ctx["srv"].request("POST", "/api/sessions", {"title": "t" * (MAX_BODY + 10)})
    expect_error(st, hd, b, 413, "session body over DOCCHAT_MAX_BODY")
    nothing_stored(sid)


@test
def unknown_session_is_404():
    srv = ctx["srv"]
    for sid in (str(uuid.uuid4()), "not-a-uuid"):
        st, hd, b = post_stream(sid, {"question": Q})
        expect_error(st, hd, b, 404, "stream of unknown session %s" % sid)
        st, hd, b = srv.request("GET", "/api/chat/%s/stream?question=tea" % sid)
        expect_error(st, hd, b, 404, "GET stream of unknown session %s" % sid)
        for method, body in (("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)):
            st, hd, b = srv.request(method, "/api/sessions/" + sid, body)
            expect_error(st, hd, b, 404, "%s unknown session" % method)


@test
def wrong_method_is_405_with_allow():
    srv = ctx["srv"]
    sid = srv.new_session()
    cases = [("DELETE", "/api/health", {"GET"}), ("POST", "/api/health", {"GET"}),
             ("PUT", "/api/sessions", {"GET", "POST"}), ("DELETE", "/api/sessions", {"GET", "POST"}),
             ("POST", "/api/sessions/" + sid, {"GET", "PATCH", "DELETE"}),
             ("PUT", "/api/chat/%s/stream" % sid, {"GET", "POST"}),
             ("DELETE", "/api/chat/%s/stream" % sid, {"GET", "POST"}),
             ("POST", "/api/models", {"GET"}), ("DELETE", "/api/documents", {"GET"})]
    for method, path, allowed in cases:
        st, hd, b = srv.request(method, path, {} if method in ("POST", "PUT") else None)
        expect_error(st, hd, b, 405, "%s %s" % (method, path))
        allow = hd.get("Allow")
        check(allow is not None, "%s %s: 405 without an Allow header" % (method, path))
        got = {m.strip() for m in allow.split(",") if m.strip()}
        check(allowed <= got and method not in got,
              "%s %s: Allow %r, want %s" % (method, path, allow, sorted(allowed)))
    nothing_stored(sid)


@test
def unknown_path_is_404():
    srv = ctx["srv"]
    for path in ("/api/nope", "/api/sessions/a/b/c", "/api/chat", "/api/chat/x",
                 "/api/healthz", "/api/"):
        st, hd, b = srv.request("GET", path)
        expect_error(st, hd, b, 404, "GET %s" % path)


@test
def unknown_provider_names_the_providers():
    sid = ctx["srv"].new_session()
    for model in ("nope:x", "foo:bar"):
        st, hd, b = post_stream(sid, {"question": Q, "model": model})
        msg = expect_error(st, hd, b, 400, "model %s" % model)
        for p in ("openai", "ollama", "extractive"):
            check(p in msg, "the error for model %r does not name %r: %s" % (model, p, msg))
    nothing_stored(sid)


@test
def bad_search_mode_top_k_temperature_document_ids():
    sid = ctx["srv"].new_session()
    cases = [
        ({"search_mode": "fuzzy"}, "search_mode fuzzy"), ({"search_mode": 1}, "search_mode 1"),
        ({"search_mode": ""}, "search_mode empty"),
        ({"top_k": 0}, "top_k 0"), ({"top_k": 51}, "top_k 51"), ({"top_k": -1}, "top_k -1"),
        ({"top_k": "5"}, "top_k string"), ({"top_k": 2.5}, "top_k 2.5"),
        ({"top_k": True}, "top_k true"),
        ({"temperature": -0.1}, "temperature -0.1"), ({"temperature": 2.01}, "temperature 2.01"),
        ({"temperature": "hot"}, "temperature string"),
        ({"document_ids": "1"}, "document_ids string"),
        ({"document_ids": [1, "a"]}, "document_ids with a string"),
        ({"document_ids": [1.5]}, "document_ids with a float"),
        ({"search_mode": "selected", "document_ids": []}, "selected with no documents"),
        ({"search_mode": "selected"}, "selected without document_ids"),
    ]
    for extra, what in cases:
        body = {"question": Q, "model": "extractive"}
        body.update(extra)
        st, hd, b = post_stream(sid, body)
        expect_error(st, hd, b, 400, what)
    for qs, what in (("question=", "GET empty question"), ("", "GET no question"),
                     ("question=tea&top_k=0", "GET top_k 0"),
                     ("question=tea&search_mode=fuzzy", "GET bad search_mode"),
                     ("question=tea&model=nope:x", "GET unknown provider")):
        st, hd, b = ctx["srv"].request("GET", "/api/chat/%s/stream?%s" % (sid, qs))
        expect_error(st, hd, b, 400, what)
    nothing_stored(sid)
    # The limits themselves are accepted.
    for extra in ({"top_k": 1}, {"top_k": 50}, {"temperature": 0}, {"temperature": 2}):
        body = {"question": Q, "model": "extractive"}
        body.update(extra)
        st = h.chat(ctx["srv"], sid, **body)
        h.split_events(st.events, sid, "extractive")


# ---------------------------------------------------------------------------------------
# During the stream

def failing_stream(srv, model, partial=""):
    """Stream model; check the error ending, the partial text and the stored message.
    Returns (error text, parts, stream)."""
    sid = srv.new_session()
    st = h.chat(srv, sid, Q, model=model)
    parts = h.split_events(st.events, sid, model, outcome="error")
    err = parts["final"]["content"]
    provider = model.split(":", 1)[0]
    check(err.startswith(provider + ": "), "error %r does not start with %r" % (err, provider + ": "))
    eq(parts["text"], partial, "chunks before the error")
    asst = srv.final_assistant(sid)
    eq(asst.get("status"), "error", "stored status")
    eq(asst.get("content"), partial, "stored (partial) content")
    eq(asst.get("error"), err, "stored error")
    eq(asst.get("model"), model, "stored model")
    return err, parts, st


def stream_fault_test(provider, fault, message=None, pattern=None, extra=None):
    opts = {"tokens": 6}
    opts.update(extra or {})
    name = "%s_%s" % (provider, re.sub(r"[^a-z0-9]+", "_", fault))

    def fn():
        srv, fake = ctx["srv"], ctx["fake"]
        model = h.fake_model(provider, fault=fault, **opts)
        err, parts, st = failing_stream(srv, model, fakelib.expected_partial(model))
        if message:
            check(message in err, "error %r lacks the upstream's message %r" % (err, message))
        if pattern:
            check(re.search(pattern, err, re.I), "error %r does not match %r" % (err, pattern))
        # docchat hangs up on an upstream that went wrong mid-stream.
        fake.request_for(model, timeout=10, pred=lambda r: r["ended"] is not None)
        return err, parts, st
    fn.__name__ = name
    return test(fn)


stream_fault_test("openai", "http401", "Incorrect API key provided")
stream_fault_test("ollama", "http401", "unauthorized")
stream_fault_test("openai", "http404", "does not exist")
stream_fault_test("ollama", "http404", "not found")
stream_fault_test("openai", "http429", "Rate limit reached")
stream_fault_test("ollama", "http429", "server busy")
stream_fault_test("openai", "http500", "The server had an error while processing your request")
stream_fault_test("ollama", "http500", "llama runner process has terminated")
stream_fault_test("openai", "drop_after=3")
stream_fault_test("ollama", "drop_after=3")
stream_fault_test("openai", "drop_after=0")
stream_fault_test("ollama", "drop_after=0")
stream_fault_test("openai", "garbage_after=2")
stream_fault_test("ollama", "garbage_after=2")
stream_fault_test("openai", "giant_line")
stream_fault_test("ollama", "giant_line")
stream_fault_test("openai", "error_in_stream",
                  "The server had an error while processing your request")
stream_fault_test("ollama", "error_in_stream",
                  "an error was encountered while running the model")


@test
def ollama_unknown_model_is_not_found():
    srv = ctx["srv"]
    err, _, _ = failing_stream(srv, "ollama:nope-model")
    check("not found" in err and "nope-model" in err,
          "error %r does not say model nope-model was not found" % err)


@test
def api_key_never_leaks():
    srv, fake = ctx["srv"], ctx["fake"]
    model = h.fake_model("openai", fault="http401")
    err, parts, st = failing_stream(srv, model)
    check("Incorrect API key" in err, "401 error does not mention the key problem: %r" % err)
    raw = "\n".join(st.parser.lines)
    check(h.SECRET not in raw, "the API key appears in the stream")
    leaks = srv.secret_leaks()
    eq(leaks, [], "files of the server containing the API key")
    st2, _, models = srv.request("GET", "/api/models")
    check(h.SECRET not in json.dumps(models), "the API key appears in GET /api/models")


def stall_test(provider, after=2):
    def fn():
        srv, fake = ctx["srv"], ctx["fake"]
        model = h.fake_model(provider, tokens=6, fault="stall_after=%d" % after)
        err, parts, st = failing_stream(srv, model, fakelib.expected_partial(model))
        check(re.search(r"no data|time(d)?[ -]?out", err, re.I),
              "error %r does not say the model sent no data / timed out" % err)
        last = parts["chunks"][-1] if parts["chunks"] else parts["sources_event"]
        gap = parts["final"].time - last.time
        check(IDLE_S - 0.5 <= gap <= IDLE_S + 8, "error came %.2fs after the last chunk, want "
              "about DOCCHAT_UPSTREAM_IDLE_S=%d" % (gap, IDLE_S))
        req = fake.request_for(model, timeout=10, pred=lambda r: r["closed_by_client"])
        check(req["closed_at"] <= parts["final"].time + 1.0,
              "docchat kept the silent upstream open after reporting the timeout")
    fn.__name__ = "%s_silent_upstream_times_out%s" % (provider, "" if after else
                                                        "_before_the_first_token")
    return test(fn)


stall_test("openai")
stall_test("ollama")
stall_test("openai", after=0)
stall_test("ollama", after=0)


@test
def connection_refused():
    srv = ctx["refused"]
    for provider in ("ollama", "openai"):
        model = "%s:fake" % provider
        err, parts, st = failing_stream(srv, model)
        check(re.search(r"connect|refused", err, re.I),
              "error %r does not say the connection failed" % err)
    st, _, body = srv.request("GET", "/api/health")
    eq(st, 200, "health with unreachable model servers")


@test
def models_lists_unreachable_providers_as_errors():
    srv = ctx["refused"]
    st, hd, body = srv.request("GET", "/api/models")
    eq(st, 200, "GET /api/models status with unreachable model servers")
    ids = [m.get("id") for m in body.get("models", [])]
    check("extractive" in ids, "extractive missing from %s" % ids)
    check(not any(i.startswith(("openai:", "ollama:")) for i in ids),
          "unreachable providers listed models: %s" % ids)
    errs = body.get("errors")
    check(isinstance(errs, dict), "errors: %s" % h.short(body))
    for p in ("openai", "ollama"):
        check(isinstance(errs.get(p), str) and errs[p], "errors.%s missing: %s" % (p, h.short(errs)))


@test
def failed_answers_give_their_threads_back():
    """DOCCHAT_THREADS=2 and more failures than threads, one after another: a failure
    that kept its thread would leave none for what follows. Then two answers at once
    prove both threads are free."""
    tmp, fake = ctx["tmp"], ctx["fake"]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    srv = h.Docchat(tmp, fake, name="threads2", overrides={
        "DOCCHAT_THREADS": "2",
        "DOCCHAT_UPSTREAM_IDLE_S": str(IDLE_S),
        "DOCCHAT_OLLAMA_URL": "http://127.0.0.1:%d" % closed,   # refused
        "DOCCHAT_UPSTREAM_CONNECT_S": "2",
    })
    faults = ["http401", "http404", "http429", "http500", "drop_after=2", "garbage_after=2",
              "giant_line", "error_in_stream", "stall_after=1", "drop_after=0"]
    for fault in faults:
        model = h.fake_model("openai", tokens=6, fault=fault)
        failing_stream(srv, model, fakelib.expected_partial(model))
    failing_stream(srv, "ollama:fake")      # connection refused
    status, _, body = srv.request("GET", "/api/health", timeout=10)
    eq(status, 200, "health after %d failed answers on 2 threads" % (len(faults) + 1))
    models = [h.fake_model("openai", tokens=8, pace_ms=150) for _ in range(2)]
    sids = [srv.new_session() for _ in models]
    streams = [srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": m})
               for sid, m in zip(sids, models)]
    firsts = []
    for st in streams:
        h.check_stream_headers(st)
        for t, ev in st:
            if ev.get("type") == "chunk":
                firsts.append(t)
                break
    # Both answered at once: the second's first token came before the first could end.
    eq(len(firsts), 2, "streams that produced a first chunk")
    check(abs(firsts[1] - firsts[0]) < 0.8, "the two answers did not stream at once (first "
          "chunks %.2fs apart): a thread is still held" % abs(firsts[1] - firsts[0]))
    for st, sid, m in zip(streams, sids, models):
        st.read_all()
        parts = h.split_events(st.events, sid, m)
        eq(parts["text"], fakelib.expected_text(m), "answer after the failures")


@test
def server_healthy_after_errors():
    srv = ctx["srv"]
    model = h.fake_model("openai", tokens=5)
    sid = srv.new_session()
    st = h.chat(srv, sid, Q, model=model)
    parts = h.split_events(st.events, sid, model)
    eq(parts["text"], fakelib.expected_text(model), "joined chunks after the failures")


if __name__ == "__main__":
    h.run(setup)
