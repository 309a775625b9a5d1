#!/usr/bin/env python3
"""test_stream.py - the chat stream through lighttpd, per doc/API.md "The stream".

Checks, for the extractive, OpenAI and Ollama backends: the exact event sequence (start,
status "Searching documents...", sources, status "Generating response...", chunks,
metadata, done) with ids 1..N and exact framing; the SSE response headers; that the chunks
join to exactly the fake model's text (multi-byte UTF-8 included, also when the upstream
splits lines inside characters, uses CRLF, sends comments or \\u escapes); metadata fields
and usage; that events arrive as they are produced (lighttpd does not buffer); ": ping"
while the model is silent; the prompt sent upstream (system message, numbered sources,
history, search modes, document selection, top_k, temperature); the stored messages; the
EventSource GET form; and concurrent streams.
"""

import threading
import time
import urllib.parse

import faultlib as fl
import harness as h
from harness import check, eq, fakelib, test

ctx = {}

TEA_Q = "How long should green tea steep?"
TEA_PHRASE = "eighty degrees"          # only in tea.txt
JAPAN_PHRASE = "Fushimi Inari"         # only in japan.md


def setup():
    tmp = h.TmpDir("stream")
    fake = h.FakeModel(tmp)
    ctx["tmp"] = tmp
    ctx["fake"] = fake
    # One user opens up to 40 streams at once here (more_streams_than_worker_threads).
    ctx["srv"] = h.Docchat(tmp, fake, overrides={"DOCCHAT_PING_S": "1",
                                                 "DOCCHAT_MAX_STREAMS_PER_USER": "0"})


def model_stream(provider, question=TEA_Q, sid=None, **opts):
    """Stream one answer from the fake; check sequence, text, metadata and usage.
    Returns (stream, parts, fake request, session id)."""
    srv, fake = ctx["srv"], ctx["fake"]
    model = h.fake_model(provider, **opts)
    sid = sid or srv.new_session()
    st = h.chat(srv, sid, question, model=model)
    parts = h.split_events(st.events, sid, model)
    want = fakelib.expected_text(model)
    eq(parts["text"], want, "joined chunks")
    # (Not req["finished"]: a client may rightly hang up once it has read [DONE].)
    req = fake.request_for(model)
    h.check_metadata(parts["final"]["content"], model, want, "all",
                     usage=(req["prompt_tokens"], req["tokens_sent"]))
    eq(req["tokens_sent"], fakelib.parse_scenario(model).tokens, "tokens the fake sent")
    return st, parts, req, sid


def last_user(body):
    msgs = body["messages"]
    eq(msgs[-1].get("role"), "user", "role of the last message sent upstream")
    return msgs[-1]["content"]


@test
def extractive_event_sequence():
    srv = ctx["srv"]
    sid = srv.new_session()
    st = h.chat(srv, sid, TEA_Q, model="extractive")
    parts = h.split_events(st.events, sid, "extractive")
    check(parts["sources"], "no sources for a question that tea.txt answers")
    eq(parts["sources"][0]["metadata"]["document"], "tea.txt", "best source's document")
    check(parts["chunks"], "the extractive answer has no chunks")
    check("two minutes" in parts["text"], "the extractive answer does not quote tea.txt: %s"
          % h.short(parts["text"]))
    check("[1]" in parts["text"], "the extractive answer cites no [1]: %s"
          % h.short(parts["text"]))
    h.check_metadata(parts["final"]["content"], "extractive", parts["text"], "all",
                     finish_reason=None)


@test
def default_model_is_extractive():
    srv = ctx["srv"]
    sid = srv.new_session()
    st = h.chat(srv, sid, TEA_Q)
    parts = h.split_events(st.events, sid, "extractive")
    h.check_metadata(parts["final"]["content"], "extractive", parts["text"], "all",
                     finish_reason=None)


@test
def openai_event_sequence_and_request():
    st, parts, req, sid = model_stream("openai", tokens=12)
    eq(req["path"], "/v1/chat/completions", "upstream path")
    eq(req["authorization_ok"], True, "Authorization: Bearer <key> sent upstream")
    model = parts["start"]["model"]
    eq(req["model"], model[len("openai:"):], "model name sent upstream (prefix removed)")
    body = req["body"]
    eq(body.get("stream"), True, "stream flag sent upstream")
    eq((body.get("stream_options") or {}).get("include_usage"), True,
       "stream_options.include_usage sent upstream")
    eq(parts["final"]["content"]["finish_reason"], "stop", "finish_reason")


@test
def ollama_event_sequence_and_request():
    st, parts, req, sid = model_stream("ollama", tokens=12)
    eq(req["path"], "/api/chat", "upstream path")
    model = parts["start"]["model"]
    eq(req["model"], model[len("ollama:"):], "model name sent upstream (prefix removed)")
    check(req["body"].get("stream", True) is True, "Ollama request asked for no stream: %s"
          % h.short(req["body"]))


@test
def stored_messages_match_the_stream():
    srv = ctx["srv"]
    st, parts, req, sid = model_stream("openai", tokens=7)
    md = parts["final"]["content"]
    s = srv.session(sid)
    eq(s.get("id"), sid, "session id")
    eq(s.get("message_count"), 2, "message_count")
    msgs = s.get("messages")
    eq([m.get("role") for m in msgs], ["user", "assistant"], "message roles")
    user, asst = msgs
    eq(user.get("content"), TEA_Q, "user message content")
    eq(user.get("status"), "complete", "user message status")
    eq(asst.get("status"), "complete", "assistant message status")
    eq(asst.get("content"), parts["text"], "assistant message content")
    eq(asst.get("model"), parts["start"]["model"], "assistant message model")
    eq(asst.get("error"), None, "assistant message error")
    eq(asst.get("id"), md["message_id"], "assistant message id == metadata.message_id")
    eq(asst.get("sources"), parts["sources"], "stored sources")
    smd = asst.get("metadata")
    check(isinstance(smd, dict), "stored metadata: %s" % h.short(smd))
    for k in ("model", "finish_reason", "usage", "search_mode", "confidence",
              "hallucination", "total_response", "message_id"):
        eq(smd.get(k), md.get(k), "stored metadata.%s" % k)
    check(user["id"] < asst["id"], "message ids not increasing: %s %s" % (user["id"], asst["id"]))
    for m in msgs:
        check(h.is_int(m.get("created_at")), "created_at: %s" % h.short(m))


@test
def utf8_split_inside_characters_openai():
    model_stream("openai", tokens=20, split=1)


@test
def utf8_split_inside_characters_ollama():
    model_stream("ollama", tokens=20, split=1)


@test
def openai_crlf_and_comment_lines():
    model_stream("openai", tokens=16, crlf=1, comments=1)
    model_stream("openai", tokens=16, crlf=1, comments=1, split=1)


@test
def unicode_escapes_and_surrogate_pairs():
    model_stream("openai", tokens=16, ascii=1)
    model_stream("ollama", tokens=16, ascii=1)


@test
def long_answer_is_exact():
    model_stream("openai", tokens=400)


def check_incremental(provider):
    srv, fake = ctx["srv"], ctx["fake"]
    model = h.fake_model(provider, tokens=10, pace_ms=200)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": TEA_Q, "model": model})
    h.check_stream_headers(st)
    times = [t for t, ev in st if ev.get("type") == "chunk"]
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, model)
    eq(parts["text"], fakelib.expected_text(model), "joined chunks")
    eq(len(times), 10, "chunk events (one per token)")
    spread = times[-1] - times[0]
    check(spread > 1.2, "chunks arrived within %.2fs, want > 1.2s (buffered?)" % spread)
    moments = 1
    for a, b in zip(times, times[1:]):
        if b - a > 0.05:
            moments += 1
    check(moments >= 5, "chunks arrived at only %d distinct moments: %s" % (
        moments, [round(t - times[0], 3) for t in times]))
    req = fake.request_for(model, pred=lambda r: r["ended"] is not None)
    check(times[0] < req["ended"] - 1.0, "the first chunk arrived %.2fs before the fake "
          "finished, want > 1s" % (req["ended"] - times[0]))


@test
def events_arrive_as_produced_openai():
    check_incremental("openai")


@test
def events_arrive_as_produced_ollama():
    check_incremental("ollama")


@test
def pings_while_model_is_silent():
    srv = ctx["srv"]
    for provider in ("openai", "ollama"):
        model = h.fake_model(provider, tokens=3, first_ms=3500)
        sid = srv.new_session()
        st = h.chat(srv, sid, TEA_Q, model=model)
        parts = h.split_events(st.events, sid, model)
        eq(parts["text"], fakelib.expected_text(model), "joined chunks")
        first = parts["chunks"][0].time
        before = [t for t in st.pings if t < first]
        check(len(before) >= 2, "%s: %d ': ping' before the first chunk, want >= 2 "
              "(DOCCHAT_PING_S=1, model silent 3.5s)" % (provider, len(before)))
        check(first - before[0] >= 1.0, "%s: the first ping arrived only %.2fs before the "
              "first chunk (held back?)" % (provider, first - before[0]))


@test
def prompt_has_system_sources_and_history():
    srv, fake = ctx["srv"], ctx["fake"]
    sid = srv.new_session()
    _, p1, r1, _ = model_stream("openai", question=TEA_Q, sid=sid, tokens=5)
    msgs = r1["body"]["messages"]
    eq(msgs[0].get("role"), "system", "first message role")
    check(isinstance(msgs[0].get("content"), str) and msgs[0]["content"].strip(),
          "empty system message")
    eq(len(msgs), 2, "messages in the first question's prompt (system, user)")
    u = last_user(r1["body"])
    check("[1]" in u, "numbered source [1] missing from the user message: %s" % h.short(u))
    check(TEA_PHRASE in u, "tea.txt's text missing from the user message: %s" % h.short(u))
    check(TEA_Q in u, "question missing from the user message: %s" % h.short(u))
    check(u.index(TEA_PHRASE) < u.rindex(TEA_Q), "sources must come before the question")

    q2 = "And how long for black tea?"
    _, p2, r2, _ = model_stream("openai", question=q2, sid=sid, tokens=4)
    msgs = [{"role": m.get("role"), "content": m.get("content")} for m in r2["body"]["messages"]]
    eq(msgs[0]["role"], "system", "first message role (second question)")
    eq(msgs[1:3], [{"role": "user", "content": TEA_Q},
                   {"role": "assistant", "content": p1["text"]}],
       "earlier turns in the second prompt")
    eq(len(msgs), 4, "messages in the second prompt")
    check(q2 in last_user(r2["body"]), "second question missing from the last message")

    # The same prompt shape goes to Ollama.
    _, _, r3, _ = model_stream("ollama", question=TEA_Q, tokens=3)
    msgs = r3["body"]["messages"]
    eq([m.get("role") for m in msgs], ["system", "user"], "Ollama message roles")
    check("[1]" in msgs[-1]["content"] and TEA_PHRASE in msgs[-1]["content"],
          "Ollama prompt lacks the numbered sources: %s" % h.short(msgs[-1]["content"]))


@test
def search_mode_none_sends_no_sources():
    srv, fake = ctx["srv"], ctx["fake"]
    model = h.fake_model("openai", tokens=4)
    sid = srv.new_session()
    st = h.chat(srv, sid, TEA_Q, model=model, search_mode="none")
    parts = h.split_events(st.events, sid, model)
    eq(parts["sources"], [], "sources.content with search_mode none")
    eq(parts["sources_event"]["chunks_used"], 0, "chunks_used with search_mode none")
    text = fakelib.expected_text(model)
    eq(parts["text"], text, "joined chunks")
    req = fake.request_for(model)
    md = parts["final"]["content"]
    h.check_metadata(md, model, text, "none", usage=(req["prompt_tokens"], req["tokens_sent"]))
    u = last_user(req["body"])
    check(TEA_Q in u, "question missing: %s" % h.short(u))
    check(TEA_PHRASE not in u and "[1]" not in u,
          "search_mode none still sent sources: %s" % h.short(u))
    asst = srv.final_assistant(sid)
    check(asst.get("sources") in ([], None), "stored sources with none: %s"
          % h.short(asst.get("sources")))


@test
def selected_documents_restrict_retrieval():
    srv, fake = ctx["srv"], ctx["fake"]
    docs = srv.documents()
    tea, japan = docs["tea.txt"]["id"], docs["japan.md"]["id"]
    q = "Does the shinkansen to Kyoto take longer than green tea takes to steep?"

    model = h.fake_model("openai", tokens=3)
    sid = srv.new_session()
    st = h.chat(srv, sid, q, model=model)
    got = {s["metadata"]["document_id"] for s in h.split_events(st.events, sid, model)["sources"]}
    check({tea, japan} <= got, "search_mode all should find both documents, got %s" % got)

    model = h.fake_model("openai", tokens=3)
    sid = srv.new_session()
    st = h.chat(srv, sid, q, model=model, search_mode="selected", document_ids=[tea])
    parts = h.split_events(st.events, sid, model)
    check(parts["sources"], "no sources with selected [tea.txt]")
    for s in parts["sources"]:
        eq(s["metadata"]["document_id"], tea, "document_id of a selected source")
        eq(s["metadata"]["document"], "tea.txt", "document of a selected source")
    eq(parts["final"]["content"]["search_mode"], "selected", "metadata.search_mode")
    u = last_user(fake.request_for(model)["body"])
    check(TEA_PHRASE in u, "selected document's text missing from the prompt")
    check(JAPAN_PHRASE not in u, "an unselected document reached the prompt: %s" % h.short(u))


@test
def top_k_limits_sources():
    srv = ctx["srv"]
    q = "Does the shinkansen to Kyoto take longer than green tea takes to steep?"
    sid = srv.new_session()
    st = h.chat(srv, sid, q, model="extractive", top_k=1)
    parts = h.split_events(st.events, sid, "extractive")
    eq(len(parts["sources"]), 1, "sources with top_k 1")


@test
def temperature_is_sent_upstream():
    srv, fake = ctx["srv"], ctx["fake"]
    for provider in ("openai", "ollama"):
        model = h.fake_model(provider, tokens=2)
        sid = srv.new_session()
        st = h.chat(srv, sid, TEA_Q, model=model, temperature=0.25)
        h.split_events(st.events, sid, model)
        body = fake.request_for(model)["body"]
        got = body.get("temperature") if provider == "openai" else \
            (body.get("options") or {}).get("temperature")
        eq(got, 0.25, "%s temperature sent upstream" % provider)


@test
def eventsource_get_stream():
    srv, fake = ctx["srv"], ctx["fake"]
    model = h.fake_model("openai", tokens=9)
    sid = srv.new_session()
    q = "Green tea: café temperature? 日本 🙂 & more"
    qs = urllib.parse.urlencode({"question": q, "model": model})
    st = srv.stream("/api/chat/%s/stream?%s" % (sid, qs))
    h.check_stream_headers(st)
    st.read_all()
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, model)
    text = fakelib.expected_text(model)
    eq(parts["text"], text, "joined chunks")
    req = fake.request_for(model)
    h.check_metadata(parts["final"]["content"], model, text, "all",
                     usage=(req["prompt_tokens"], req["tokens_sent"]))
    check(q in last_user(req["body"]), "the GET question did not reach the prompt intact")
    msgs = srv.session(sid)["messages"]
    eq(msgs[0]["content"], q, "stored question from the query string")

    # search_mode and top_k work in the query string too.
    sid = srv.new_session()
    qs = urllib.parse.urlencode({"question": TEA_Q, "model": "extractive",
                                 "search_mode": "none", "top_k": "2"})
    st = srv.stream("/api/chat/%s/stream?%s" % (sid, qs))
    h.check_stream_headers(st)
    st.read_all()
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, "extractive")
    eq(parts["sources"], [], "sources with search_mode=none in the query")


def overlapping_streams(srv, fake, n, tokens=8, pace_ms=100):
    """n streams opened at once, alternating openai / ollama / extractive: each must be
    complete and exact, and the model streams must all have been running at one moment.
    Returns the most threads docchat had meanwhile."""
    kinds = ["openai", "ollama", "extractive"]
    models = [h.fake_model(kinds[i % 3], tokens=tokens, pace_ms=pace_ms)
              if kinds[i % 3] != "extractive" else "extractive" for i in range(n)]
    sids = [srv.new_session() for _ in range(n)]
    results = [None] * n
    pids = fl.docchat_pids(srv)
    most = [0]

    def one(i):
        try:
            st = srv.stream("/api/chat/%s/stream" % sids[i], {"question": TEA_Q,
                                                              "model": models[i]})
            h.check_stream_headers(st)
            st.read_all()
            h.check_framing(st.parser)
            parts = h.split_events(st.events, sids[i], models[i])
            if models[i] != "extractive":
                eq(parts["text"], fakelib.expected_text(models[i]), "joined chunks")
            else:
                check("[1]" in parts["text"], "an extractive answer cites a source: %s"
                      % h.short(parts["text"]))
            results[i] = "ok"
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = "%s: %s" % (type(e).__name__, e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        most[0] = max([most[0]] + [thread_count(p) for p in pids])
        time.sleep(0.05)
    for t in threads:
        t.join(60)
    eq(results, ["ok"] * n, "concurrent stream results")
    upstream = [m for m in models if m != "extractive"]
    reqs = [fake.request_for(m, pred=lambda r: r["ended"] is not None) for m in upstream]
    latest_start = max(r["started"] for r in reqs)
    earliest_end = min(r["ended"] for r in reqs)
    check(latest_start < earliest_end, "the %d streams did not overlap upstream (one ended "
          "%.2fs before the last started)" % (n, latest_start - earliest_end))
    return most[0]


def thread_count(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@test
def concurrent_streams():
    overlapping_streams(ctx["srv"], ctx["fake"], 4)


@test
def more_streams_than_worker_threads():
    """Forty answers at once on a process of four worker threads: the workers hand each
    stream to the relay thread once the model is called, so none waits for a worker
    and docchat starts no thread for them."""
    srv, fake = ctx["srv"], ctx["fake"]
    pids = h.wait_for(lambda: fl.docchat_pids(srv), 10, "the docchat process")
    before = max(thread_count(p) for p in pids)
    eq(before, 4 + 3, "threads: 4 workers, the main thread, the relay and its finishing "
       "thread")
    most = overlapping_streams(srv, fake, 40, tokens=10, pace_ms=150)
    eq(most, before, "most threads while 40 answers streamed")


@test
def answers_stream_on_their_workers_with_the_relay_off():
    """DOCCHAT_RELAY_THREADS=0: each answer streams on its worker thread, as under CGI."""
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="norelay",
                    overrides={"DOCCHAT_RELAY_THREADS": "0", "DOCCHAT_PING_S": "1"})
    pids = h.wait_for(lambda: fl.docchat_pids(srv), 10, "the docchat process")
    eq(max(thread_count(p) for p in pids), 4 + 1, "threads: 4 workers and the main thread")
    overlapping_streams(srv, ctx["fake"], 4)


if __name__ == "__main__":
    h.run(setup)
