#!/usr/bin/env python3
"""test_disconnect.py - a client that hangs up mid-answer, through lighttpd.

When the browser leaves, docchat must notice within about 2 s, both while tokens flow
and while the model is silent, hang up on the model server (the fake records when its
client closed), and store the assistant message as `interrupted` with the text streamed
so far. Afterwards the server still answers normally.

lighttpd (1.4.69, measured) does not watch the client socket while a response is in
progress: it learns that the client left only when it next writes to it, and only then
closes the FastCGI connection. While the model is silent, the write that reveals the close
is docchat's liveness probe (a lone line end after DOCCHAT_PROBE_MS of quiet, default
1000 ms), so this file runs with the default ping interval (15 s, far longer than any
test here); docchat then has to notice the closed FastCGI connection (failed write, or
poll/peek on the socket) promptly.
"""

import harness as h
from harness import check, eq, fakelib, test

ctx = {}
Q = "How long should green tea steep?"
NOTICE_FLOWING_S = 2.0     # client close -> upstream closed, while tokens flow
NOTICE_SILENT_S = 2.5      # the same while the model sends nothing (probes every 1 s)


def setup():
    tmp = h.TmpDir("disconnect")
    fake = h.FakeModel(tmp)
    ctx["tmp"] = tmp
    ctx["fake"] = fake
    ctx["srv"] = h.Docchat(tmp, fake)


def leave_after(model, nchunks, stop=None):
    """Open a stream, read nchunks chunk events (or up to the first event for which
    stop(event) holds), then hang up. Returns (stream, session id, text of the chunks)."""
    srv = ctx["srv"]
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model})
    h.check_stream_headers(st)
    got = []
    for _, ev in st:
        if stop is not None and stop(ev):
            break
        if ev.get("type") == "chunk":
            got.append(ev["content"])
            if len(got) == nchunks:
                break
        check(ev.get("type") not in ("metadata", "error", "done"),
              "the stream ended before the client left: %s" % h.short(ev))
    st.close()
    h.check_framing(st.parser)
    return st, sid, "".join(got)


def check_upstream_closed(st, model, within):
    """The fake saw its client (docchat) hang up within `within` s of our close."""
    fake = ctx["fake"]
    req = fake.request_for(model, timeout=within + 8, pred=lambda r: r["closed_by_client"])
    delay = req["closed_at"] - st.closed_at
    check(delay >= -0.05, "the upstream closed %.2fs before the client left?" % -delay)
    check(delay <= within, "docchat closed the upstream %.2fs after the client left, want "
          "<= %.1fs" % (delay, within))
    return req


def check_interrupted(sid, model, read_text):
    asst = ctx["srv"].final_assistant(sid, timeout=10)
    eq(asst.get("status"), "interrupted", "stored status after the client left")
    content = asst.get("content")
    want = fakelib.expected_text(model)
    check(isinstance(content, str) and want.startswith(content),
          "stored content is not a prefix of the answer: %s" % h.short(content))
    check(content.startswith(read_text), "stored content %s lacks the streamed %s" % (
        h.short(content), h.short(read_text)))
    eq(asst.get("model"), model, "stored model")
    return asst


def flowing_test(provider):
    def fn():
        model = h.fake_model(provider, tokens=200, pace_ms=100)
        st, sid, text = leave_after(model, 3)
        eq(text, "".join(fakelib.token(i) for i in range(3)), "the 3 chunks read")
        req = check_upstream_closed(st, model, NOTICE_FLOWING_S)
        check(req["tokens_sent"] < 200, "the fake sent all its tokens: nothing stopped it")
        check_interrupted(sid, model, text)
    fn.__name__ = "%s_client_leaves_while_tokens_flow" % provider
    return test(fn)


def silent_test(provider):
    def fn():
        model = h.fake_model(provider, tokens=50, fault="stall_after=1")
        st, sid, text = leave_after(model, 1)
        eq(text, fakelib.token(0), "the chunk read")
        check_upstream_closed(st, model, NOTICE_SILENT_S)
        asst = check_interrupted(sid, model, text)
        eq(asst["content"], fakelib.token(0), "stored content of the silent model")
    fn.__name__ = "%s_client_leaves_while_model_is_silent" % provider
    return test(fn)


flowing_test("openai")
flowing_test("ollama")
silent_test("openai")
silent_test("ollama")


@test
def client_leaves_before_the_first_token():
    fake = ctx["fake"]
    model = h.fake_model("openai", tokens=5, first_ms=20000)
    st, sid, text = leave_after(model, 0, stop=lambda ev: ev.get("content") ==
                                h.STATUS_GENERATING)
    asst = check_interrupted(sid, model, "")
    eq(asst["content"], "", "stored content when nothing was streamed")
    # The server may have noticed before it called the model; if it did call it, it must
    # have hung up on it as promptly as in the other cases.
    rs = fake.requests(fakelib.parse_scenario(model).tag)
    if rs:
        check_upstream_closed(st, model, NOTICE_SILENT_S)


@test
def many_clients_leave_at_once():
    srv = ctx["srv"]
    models = [h.fake_model("openai" if i % 2 else "ollama", tokens=200, pace_ms=50)
              for i in range(4)]
    streams = []
    for m in models:
        sid = srv.new_session()
        st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": m})
        h.check_stream_headers(st)
        streams.append((st, sid, m))
    for st, sid, m in streams:
        for _, ev in st:
            if ev.get("type") == "chunk":
                break
    for st, sid, m in streams:
        st.close()
    for st, sid, m in streams:
        check_upstream_closed(st, m, NOTICE_FLOWING_S + 1.0)
        check_interrupted(sid, m, fakelib.token(0))


def slow_embedding_server(name, embed_ms, ping_s=15):
    """A second docchat whose embedding server takes embed_ms to embed each question (no
    documents, so nothing else is embedded)."""
    if name not in ctx:
        ctx[name] = h.Docchat(ctx["tmp"], ctx["fake"], name=name, ingest=False, overrides={
            "DOCCHAT_EMBED_MODEL": "ollama:fake-embed;first_ms=%d" % embed_ms,
            "DOCCHAT_PING_S": str(ping_s)})
    return ctx[name]


@test
def pings_go_on_while_the_question_is_embedded():
    """The search's embedding request ticks like the model's stream: pings every
    DOCCHAT_PING_S (1 s here) while the embedding server takes 3 s."""
    srv = slow_embedding_server("embed3", 3000, ping_s=1)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": "extractive"},
                    timeout=30)
    searching = sources = None
    for t, ev in st:
        if ev.get("type") == "status" and ev.get("content") == h.STATUS_SEARCHING:
            searching = t
        if ev.get("type") == "sources":
            sources = t
    check(searching is not None and sources is not None, "status and sources events")
    between = [p for p in st.pings if searching < p < sources]
    check(len(between) >= 2, "%d pings during the %.1fs search, want >= 2" % (
        len(between), sources - searching))


@test
def client_leaves_while_the_question_is_embedded():
    """A client that leaves while the embedding server is slow (6 s) is noticed within
    NOTICE_SILENT_S, not when the embedding comes back: the answer is stored as
    interrupted and the model is never called."""
    srv = slow_embedding_server("embed6", 6000)
    model = h.fake_model("openai", tokens=5)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model}, timeout=30)
    for _, ev in st:
        if ev.get("type") == "status" and ev.get("content") == h.STATUS_SEARCHING:
            break
    st.close()
    asst = srv.final_assistant(sid, timeout=NOTICE_SILENT_S + 1.0)
    eq(asst.get("status"), "interrupted", "stored status after the client left")
    eq(asst.get("content"), "", "stored content")
    eq(ctx["fake"].requests(fakelib.parse_scenario(model).tag), [], "chat requests the "
       "model got")


@test
def server_answers_normally_afterwards():
    srv = ctx["srv"]
    st, _, body = srv.request("GET", "/api/health")
    eq(st, 200, "health after disconnects")
    eq(body.get("status"), "ok", "health status")
    for provider in ("openai", "ollama"):
        model = h.fake_model(provider, tokens=10)
        sid = srv.new_session()
        stream = h.chat(srv, sid, Q, model=model)
        parts = h.split_events(stream.events, sid, model)
        eq(parts["text"], fakelib.expected_text(model), "joined chunks after disconnects")
        eq(srv.final_assistant(sid)["status"], "complete", "stored status")


if __name__ == "__main__":
    h.run(setup)
