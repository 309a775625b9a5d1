#!/usr/bin/env python3
"""test_limits.py - issue #5, the limits, through lighttpd and as CGI (a process of its
own that shares the database), per README "Limits" and doc/API.md.

Each limit is set small in an instance of its own and every refusal is checked exactly:
status, headers, body, and that nothing was stored.
- DOCCHAT_MAX_STREAMS_PER_USER 1: a second stream of the user, from the same process or
  another one, is 429 with Retry-After before anything is stored; requests racing for the
  one slot from several processes at once get exactly one stream; the slot of a process
  killed mid-answer is free again for the next request.
- DOCCHAT_RATE_PER_MIN 3: the fourth request within the window (wherever it is served)
  is 429 with a Retry-After that matches the time left in the window; /health is exempt;
  `docchat` on the command line is not limited.
- DOCCHAT_MAX_STREAM_S 2: a model that paces its answer, one that stays silent and the
  extractive backend are stopped at 2 s with an error event naming the limit, then done;
  the partial answer is stored as interrupted with that error; the model server sees
  docchat hang up.
- DOCCHAT_MAX_TOKENS 5: the extractive answer and a model that ignores max_tokens (OpenAI
  and Ollama) stop after 5 pieces with finish_reason "length", stored complete; a model
  that obeys is not cut (its own usage comes through), and an answer of exactly 5
  tokens ends with "stop".
- DOCCHAT_MAX_DOCUMENTS 5: uploads beyond it are 403 (before the body is read, or for
  the file of a form that goes beyond, after which the earlier files stay); two uploads
  racing for the last place from two processes store exactly one; `docchat ingest` is
  not limited.
- The limits that existed before: DOCCHAT_MAX_BODY (413), DOCCHAT_MAX_QUESTION (400) and
  DOCCHAT_MAX_UPLOAD (413), with their exact messages.
"""

import json
import os
import sqlite3
import subprocess
import threading
import time
import urllib.parse

import harness as h
from harness import check, eq, fakelib, test

ctx = {}

Q = "How long should green tea steep?"
STREAM_RETRY_S = 10            # LIMIT_STREAM_RETRY_MAX_S: the hint for a refused stream
MAX_DOCUMENTS = 5
MAX_TOKENS = 5
MAX_STREAM_S = 2
RATE = 3
MAX_BODY = 2048
MAX_QUESTION = 100
MAX_UPLOAD = 4096

STREAMS_MSG = ("too many answers at once: DOCCHAT_MAX_STREAMS_PER_USER allows 1 streaming "
               "at a time; try again in %d s" % STREAM_RETRY_S)
DOCS_MSG = ("document limit reached: DOCCHAT_MAX_DOCUMENTS allows %d documents per user; "
            "delete some to add more" % MAX_DOCUMENTS)
TIME_MSG = "docchat: the answer took longer than DOCCHAT_MAX_STREAM_S (%d s)" % MAX_STREAM_S


def setup():
    tmp = h.TmpDir("limits")
    fake = h.FakeModel(tmp)
    ctx["fake"] = fake
    ctx["streams"] = h.Docchat(tmp, fake, name="streams", overrides={
        "DOCCHAT_MAX_STREAMS_PER_USER": "1", "DOCCHAT_RATE_PER_MIN": "0"})
    ctx["rate"] = h.Docchat(tmp, fake, name="rate", overrides={
        "DOCCHAT_RATE_PER_MIN": str(RATE)})
    ctx["time"] = h.Docchat(tmp, fake, name="time", overrides={
        "DOCCHAT_MAX_STREAM_S": str(MAX_STREAM_S), "DOCCHAT_RATE_PER_MIN": "0",
        "DOCCHAT_EXTRACTIVE_DELAY_MS": "200"})
    ctx["answers"] = h.Docchat(tmp, fake, name="answers", overrides={
        "DOCCHAT_MAX_TOKENS": str(MAX_TOKENS), "DOCCHAT_MAX_DOCUMENTS": str(MAX_DOCUMENTS),
        "DOCCHAT_RATE_PER_MIN": "0", "DOCCHAT_MAX_BODY": str(MAX_BODY),
        "DOCCHAT_MAX_QUESTION": str(MAX_QUESTION), "DOCCHAT_MAX_UPLOAD": str(MAX_UPLOAD)})


# ---------------------------------------------------------------------------------------
# helpers

def db_value(srv, sql):
    """The first column of the first row of sql on srv's database (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % srv.db_path, uri=True, timeout=10)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def wait_no_streams(srv):
    """Wait until every stream slot was given back."""
    h.wait_for(lambda: db_value(srv, "SELECT count(*) FROM limit_streams") == 0, 15,
               "every stream slot to be given back")


def stream_path(sid):
    return "/api/chat/%s/stream" % sid


def json_error(status, headers, body, want_status, what):
    eq(status, want_status, "%s: status (body %s)" % (what, h.short(body)))
    eq((headers.get("Content-Type") or "").split(";")[0], "application/json",
       "%s: Content-Type" % what)
    check(isinstance(body, dict) and isinstance(body.get("error"), str),
          "%s: body is not {\"error\": ...}: %s" % (what, h.short(body)))
    return body


def check_429(status, headers, body, message, retry, what):
    """A 429 with Retry-After: retry and exactly {"error": message, "retry_after": retry}."""
    json_error(status, headers, body, 429, what)
    eq(headers.get("Retry-After"), str(retry), "%s: Retry-After" % what)
    eq(headers.get("Cache-Control"), "no-store", "%s: Cache-Control" % what)
    eq(body, {"error": message, "retry_after": retry}, "%s: body" % what)


def check_cgi_429(r, message, retry, what):
    eq(r.status, 429, "%s: status (body %s)" % (what, h.short(r.body)))
    eq(r.headers.get("retry-after"), str(retry), "%s: Retry-After" % what)
    eq(r.json(), {"error": message, "retry_after": retry}, "%s: body" % what)


def nothing_stored(srv, sid):
    eq(srv.session(sid)["messages"], [], "messages of session %s" % sid)


def as_user(name):
    """CGI variables of a request the web server authenticated as name (auth.h)."""
    return {"REMOTE_USER": name, "AUTH_TYPE": "Basic"}


def user_session(srv, name):
    r = srv.cgi("POST", "/sessions", {}, env=as_user(name))
    eq(r.status, 201, "POST /sessions as %s (%s)" % (name, h.short(r.body)))
    return r.json()["id"]


def cgi_env(srv, method, path_info, body=None, query=""):
    """The environment of a CGI run as harness.Docchat.cgi makes it."""
    e = h.clean_env({
        "DOCCHAT_CONFIG": srv.config_path, "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_SOFTWARE": "docchat-tests",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": method, "SCRIPT_NAME": "/api", "PATH_INFO": path_info,
        "QUERY_STRING": query})
    if body is not None:
        e["CONTENT_LENGTH"] = str(len(body))
        e["CONTENT_TYPE"] = "application/json"
    return e


def race(calls):
    """Run every call (a function returning a status) at once; the statuses in order."""
    results = [None] * len(calls)
    errors = []
    go = threading.Barrier(len(calls))

    def run(i):
        try:
            go.wait(10)
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%s: %s" % (type(e).__name__, e))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, "racing requests failed: %s" % errors)
    return results


# ---------------------------------------------------------------------------------------
# DOCCHAT_MAX_STREAMS_PER_USER

@test
def second_stream_of_a_user_is_429_with_retry_after():
    srv, fake = ctx["streams"], ctx["fake"]
    sid1, sid2 = srv.new_session(), srv.new_session()
    model = h.fake_model("openai", tokens=3, first_ms=20000)
    st = srv.stream(stream_path(sid1), {"question": Q, "model": model})
    h.check_stream_headers(st)
    fake.request_for(model)            # the first answer is being generated
    # The same process (another of its threads) ...
    status, hd, body = srv.request("POST", stream_path(sid2), {"question": Q})
    check_429(status, hd, body, STREAMS_MSG, STREAM_RETRY_S, "second stream")
    # ... the EventSource form ...
    status, hd, body = srv.request("GET", stream_path(sid2) + "?question=tea")
    check_429(status, hd, body, STREAMS_MSG, STREAM_RETRY_S, "second stream (GET)")
    # ... and another process on the same database.
    r = srv.cgi("POST", "/chat/%s/stream" % sid2, {"question": Q})
    check_cgi_429(r, STREAMS_MSG, STREAM_RETRY_S, "second stream as CGI")
    nothing_stored(srv, sid2)
    eq(db_value(srv, "SELECT count(*) FROM limit_streams"), 1, "stream slots taken")
    # The limit is per user: another user streams meanwhile.
    sid3 = user_session(srv, "alice")
    r = srv.cgi("POST", "/chat/%s/stream" % sid3, {"question": Q, "model": "extractive"},
                env=as_user("alice"))
    eq(r.status, 200, "alice's stream while the local user's runs (%s)" % h.short(r.body))
    h.split_events(h.parse_sse_bytes(r.body).events, sid3, "extractive")
    st.close()
    eq(srv.final_assistant(sid1)["status"], "interrupted", "the first answer")
    wait_no_streams(srv)
    st = h.chat(srv, sid2, Q, model="extractive")
    h.split_events(st.events, sid2, "extractive")
    wait_no_streams(srv)


@test
def requests_racing_for_one_slot_get_one_stream():
    srv = ctx["streams"]
    sids = [srv.new_session() for _ in range(4)]
    for rnd in range(3):
        model = h.fake_model("openai", tokens=2, first_ms=3000)
        body = {"question": Q, "model": model}

        def via_lighttpd(sid):
            def call():
                st = srv.stream(stream_path(sid), body, timeout=60)
                if st.status == 200:
                    st.read_all()
                else:
                    eq(st.headers.get("Retry-After"), str(STREAM_RETRY_S), "Retry-After")
                    eq(st.body, {"error": STREAMS_MSG, "retry_after": STREAM_RETRY_S},
                       "429 body")
                return st.status
            return call

        def via_cgi(sid):
            def call():
                r = srv.cgi("POST", "/chat/%s/stream" % sid, body)
                if r.status != 200:
                    check_cgi_429(r, STREAMS_MSG, STREAM_RETRY_S, "racing CGI request")
                return r.status
            return call
        statuses = race([via_lighttpd(sids[0]), via_lighttpd(sids[1]), via_cgi(sids[2]),
                         via_cgi(sids[3])])
        eq(sorted(statuses), [200, 429, 429, 429], "statuses of round %d (%s)" % (
            rnd, statuses))
        wait_no_streams(srv)
    stored = sum(len(srv.session(s)["messages"]) for s in sids)
    eq(stored, 3 * 2, "messages stored: a question and an answer per round")


@test
def slot_of_a_killed_process_is_free_again():
    srv, fake = ctx["streams"], ctx["fake"]
    sid1, sid2 = srv.new_session(), srv.new_session()
    model = h.fake_model("openai", tokens=3, first_ms=30000)
    data = json.dumps({"question": Q, "model": model}).encode()
    p = subprocess.Popen([h.DOCCHAT_BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL,
                         env=cgi_env(srv, "POST", "/chat/%s/stream" % sid1, data),
                         cwd=srv.state)
    try:
        p.stdin.write(data)
        p.stdin.close()
        fake.request_for(model)        # the CGI process holds the slot and is generating
        status, hd, body = srv.request("POST", stream_path(sid2), {"question": Q})
        check_429(status, hd, body, STREAMS_MSG, STREAM_RETRY_S, "while the CGI streams")
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    st = h.chat(srv, sid2, Q, model="extractive")
    h.split_events(st.events, sid2, "extractive")
    wait_no_streams(srv)


# ---------------------------------------------------------------------------------------
# DOCCHAT_RATE_PER_MIN

def rate_msg(retry):
    return ("rate limit reached: DOCCHAT_RATE_PER_MIN allows %d requests per minute; "
            "try again in %d s" % (RATE, retry))


@test
def fourth_request_within_a_minute_is_429_with_retry_after():
    srv = ctx["rate"]
    for _ in range(3):
        eq(srv.request("GET", "/api/health")[0], 200, "/health before")   # not counted
    t1_sent = time.monotonic()
    status, _, _ = srv.request("GET", "/api/sessions")
    t1_got = time.monotonic()
    eq(status, 200, "first request")
    eq(srv.cgi("GET", "/sessions").status, 200, "second request (CGI, another process)")
    status, _, _ = srv.request("POST", "/api/sessions", {"title": "third"})
    eq(status, 201, "third request")
    t4_sent = time.monotonic()
    status, hd, body = srv.request("GET", "/api/sessions")
    t4_got = time.monotonic()
    eq(status, 429, "fourth request (body %s)" % h.short(body))
    retry = body.get("retry_after") if isinstance(body, dict) else None
    check(h.is_int(retry), "retry_after: %s" % h.short(body))
    # The window opened when the server saw the first request: the time left is 60 s
    # less what passed between then and the fourth, rounded up.
    lo = int(60 - (t4_got - t1_sent)) - 1
    hi = int(60 - (t4_sent - t1_got)) + 1
    check(lo <= retry <= hi and 1 <= retry <= 60,
          "Retry-After %s outside %d..%d" % (retry, lo, hi))
    check_429(status, hd, body, rate_msg(retry), retry, "fourth request")
    # Refused everywhere, whatever the method, and nothing was done.
    status, hd, body = srv.request("POST", "/api/sessions", {"title": "refused"})
    eq(status, 429, "a POST over the limit")
    check(body["retry_after"] in (retry, retry - 1), "Retry-After counts down: %s" % body)
    r = srv.cgi("GET", "/sessions")
    eq(r.status, 429, "CGI over the limit")
    eq(r.json()["error"], rate_msg(int(r.headers["retry-after"])), "CGI 429 message")
    # Every user has a window of their own.
    for i in range(RATE):
        r = srv.cgi("GET", "/sessions", env=as_user("alice"))
        eq(r.status, 200, "alice's request %d while the local user is refused" % (i + 1))
    r = srv.cgi("GET", "/sessions", env=as_user("alice"))
    eq(r.status, 429, "alice's fourth request")
    eq(srv.request("GET", "/api/health")[0], 200, "/health over the limit")
    eq(srv.cgi("GET", "/health").status, 200, "/health over the limit (CGI)")
    out = srv.cli(["sessions"])
    eq(out.returncode, 0, "docchat sessions over the limit (%s)" % h.short(out.stderr))
    titles = out.stdout.decode()
    check("third" in titles and "refused" not in titles,
          "sessions on the command line: %s" % h.short(titles))


# ---------------------------------------------------------------------------------------
# DOCCHAT_MAX_STREAM_S

def stopped_by_time(model, want_chunks):
    """Stream an answer that outlasts DOCCHAT_MAX_STREAM_S; check the events, their time
    and the stored message. Returns the joined text."""
    srv = ctx["time"]
    sid = srv.new_session()
    st = srv.stream(stream_path(sid), {"question": Q, "model": model})
    h.check_stream_headers(st)
    arrivals = [(t, ev) for t, ev in st]
    st.close()
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, model, outcome="error")
    eq(parts["final"], {"type": "error", "content": TIME_MSG}, "error event")
    err_at = [t for t, ev in arrivals if ev.get("type") == "error"][0] - st.opened_at
    check(MAX_STREAM_S - 0.1 <= err_at <= MAX_STREAM_S + 1.5,
          "the error came %.2f s after the request, the limit is %d s" % (err_at, MAX_STREAM_S))
    if want_chunks:
        check(len(parts["chunks"]) >= 3, "chunks before the limit: %d" % len(parts["chunks"]))
    else:
        eq(parts["chunks"], [], "chunks from a silent model")
    m = srv.final_assistant(sid)
    eq((m["status"], m["error"], m["content"]), ("interrupted", TIME_MSG, parts["text"]),
       "stored answer (status, error, content)")
    return parts["text"]


@test
def paced_model_is_stopped_at_max_stream_s():
    fake = ctx["fake"]
    model = h.fake_model("openai", tokens=100, pace_ms=100)
    text = stopped_by_time(model, True)
    n = 0
    while len("".join(fakelib.token(i) for i in range(n + 1))) <= len(text):
        n += 1
    eq(text, "".join(fakelib.token(i) for i in range(n)), "partial text: the model's first "
       "%d tokens" % n)
    req = fake.request_for(model, pred=lambda e: e["closed_by_client"])
    check(req["tokens_sent"] < 100, "the model sent all %d tokens" % req["tokens_sent"])


@test
def silent_model_is_stopped_at_max_stream_s():
    fake = ctx["fake"]
    model = h.fake_model("ollama", tokens=3, first_ms=20000)
    eq(stopped_by_time(model, False), "", "text")
    req = fake.request_for(model, pred=lambda e: e["closed_by_client"])
    eq(req["tokens_sent"], 0, "tokens the silent model sent")


@test
def extractive_answer_is_stopped_at_max_stream_s():
    # 200 ms between words: the answer would take far longer than 2 s.
    text = stopped_by_time("extractive", True)
    check(text.startswith("According to"), "extractive text: %s" % h.short(text))


# ---------------------------------------------------------------------------------------
# DOCCHAT_MAX_TOKENS

def answer(model, question=Q, sid=None):
    srv = ctx["answers"]
    sid = sid or srv.new_session()
    st = h.chat(srv, sid, question, model=model)
    return h.split_events(st.events, sid, model), sid


def check_cut(parts, sid, want_chunks, usage_prompt):
    srv = ctx["answers"]
    eq([c["content"] for c in parts["chunks"]], want_chunks, "chunks")
    md = parts["final"]["content"]
    eq(md["finish_reason"], "length", "finish_reason")
    eq(md["usage"], {"prompt_tokens": usage_prompt, "completion_tokens": MAX_TOKENS}, "usage")
    eq(md["total_response"], "".join(want_chunks), "total_response")
    m = srv.final_assistant(sid)
    eq((m["status"], m["error"], m["content"]), ("complete", None, "".join(want_chunks)),
       "stored answer")
    eq(m["metadata"]["finish_reason"], "length", "stored finish_reason")


@test
def extractive_answer_stops_after_max_tokens():
    srv = ctx["answers"]
    # The whole answer, from a CGI process with the limit lifted, to compare with.
    sid = srv.new_session()
    r = srv.cgi("POST", "/chat/%s/stream" % sid, {"question": Q, "model": "extractive"},
                env={"DOCCHAT_MAX_TOKENS": "0"})
    eq(r.status, 200, "unlimited answer")
    full = h.split_events(h.parse_sse_bytes(r.body).events, sid, "extractive")
    words = [c["content"] for c in full["chunks"]]
    check(len(words) > MAX_TOKENS + 2, "the whole answer has %d words" % len(words))
    eq(full["final"]["content"]["finish_reason"], "stop", "unlimited finish_reason")
    parts, sid = answer("extractive")
    check_cut(parts, sid, words[:MAX_TOKENS],
              full["final"]["content"]["usage"]["prompt_tokens"])


@test
def model_ignoring_max_tokens_is_cut():
    fake = ctx["fake"]
    for provider in ("openai", "ollama"):
        model = h.fake_model(provider, tokens=40, pace_ms=20, ignore_max=1)
        eq(fakelib.planned_tokens(fakelib.parse_scenario(model), MAX_TOKENS), (40, "stop"),
           "the fake's plan for a runaway model")
        parts, sid = answer(model)
        check_cut(parts, sid, [fakelib.token(i) for i in range(MAX_TOKENS)], None)
        req = fake.request_for(model, pred=lambda e: e["closed_by_client"])
        eq(req["max_tokens"], MAX_TOKENS, "%s: max_tokens sent upstream" % provider)
        check(req["tokens_sent"] < 40, "%s: the model sent all its tokens" % provider)


@test
def model_obeying_max_tokens_is_not_cut():
    fake = ctx["fake"]
    model = h.fake_model("openai", tokens=40)
    parts, sid = answer(model)
    req = fake.request_for(model)
    eq(req["max_tokens"], MAX_TOKENS, "max_tokens sent upstream")
    # The model's own usage report arrived: docchat did not hang up on it.
    check_cut(parts, sid, [fakelib.token(i) for i in range(MAX_TOKENS)], req["prompt_tokens"])
    # Exactly max_tokens and a normal end: nothing was cut.
    model = h.fake_model("openai", tokens=MAX_TOKENS, ignore_max=1)
    parts, sid = answer(model)
    req = fake.request_for(model)
    want = fakelib.expected_text(model)
    h.check_metadata(parts["final"]["content"], model, want, "all",
                     usage=(req["prompt_tokens"], MAX_TOKENS))
    eq(ctx["answers"].final_assistant(sid)["status"], "complete", "stored status")


# ---------------------------------------------------------------------------------------
# the limits that were there before

@test
def body_question_and_upload_limits_have_exact_messages():
    srv = ctx["answers"]
    sid = srv.new_session()
    data = json.dumps({"question": "tea", "pad": "z" * MAX_BODY})
    status, hd, body = srv.request("POST", stream_path(sid), data,
                                   headers={"Content-Type": "application/json"})
    json_error(status, hd, body, 413, "body over DOCCHAT_MAX_BODY")
    eq(body, {"error": "request body of %d bytes exceeds the limit of %d bytes" % (
        len(data), MAX_BODY)}, "413 body")
    status, hd, body = srv.request("POST", stream_path(sid), {"question": "q" * (MAX_QUESTION + 1)})
    json_error(status, hd, body, 400, "question over DOCCHAT_MAX_QUESTION")
    eq(body, {"error": '"question" is %d bytes, longer than the limit of %d' % (
        MAX_QUESTION + 1, MAX_QUESTION)}, "400 body")
    nothing_stored(srv, sid)
    status, hd, body = srv.request("POST", "/api/documents?filename=big.md", b"x" * (MAX_UPLOAD + 1),
                                   headers={"Content-Type": "text/markdown"})
    json_error(status, hd, body, 413, "upload over DOCCHAT_MAX_UPLOAD")
    eq(body, {"error": "request body of %d bytes exceeds DOCCHAT_MAX_UPLOAD (%d bytes)" % (
        MAX_UPLOAD + 1, MAX_UPLOAD)}, "413 body")


# ---------------------------------------------------------------------------------------
# DOCCHAT_MAX_DOCUMENTS (the harness ingested 3 documents for the local user)

def upload(name, data, srv=None):
    srv = srv or ctx["answers"]
    path = "/api/documents?filename=" + urllib.parse.quote(name, safe="")
    return srv.request("POST", path, data, headers={"Content-Type": "text/markdown"})


def doc_text(word):
    return ("# %s\n\nThe %s document is about %s and nothing else.\n" % (word, word, word)
            ).encode()


def form(files):
    b = "----docchat-limits"
    out = []
    for name, data in files:
        out += [("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                 "Content-Type: text/markdown\r\n\r\n" % (b, name)).encode(), data, b"\r\n"]
    out.append(("--%s--\r\n" % b).encode())
    return "multipart/form-data; boundary=%s" % b, b"".join(out)


@test
def uploads_beyond_max_documents_are_403():
    srv = ctx["answers"]
    eq(len(srv.documents()), 3, "documents before")
    status, _, body = upload("alpha.md", doc_text("alpha"))
    eq(status, 201, "fourth document (body %s)" % h.short(body))
    # A form with two files where one place is left: the first is stored, the second
    # is refused by name and the first is listed.
    ctype, data = form([("bravo.md", doc_text("bravo")), ("charlie.md", doc_text("charlie"))])
    status, hd, body = srv.request("POST", "/api/documents", data,
                                   headers={"Content-Type": ctype})
    json_error(status, hd, body, 403, "form going beyond the limit")
    eq(body["error"], '"charlie.md": ' + DOCS_MSG, "403 message")
    eq([d["name"] for d in body["documents"]], ["bravo.md"], "documents listed in the 403")
    # At the limit every upload is refused before its body is read, even a copy of a
    # stored file.
    for name, data in (("delta.md", doc_text("delta")), ("alpha-again.md", doc_text("alpha"))):
        status, hd, body = upload(name, data)
        json_error(status, hd, body, 403, "upload of %s at the limit" % name)
        eq(body, {"error": DOCS_MSG}, "403 body for %s" % name)
    docs = srv.documents()
    eq(sorted(docs), sorted(list(h.DOCS) + ["alpha.md", "bravo.md"]), "documents stored")
    # Deleting one makes room for one.
    eq(srv.request("DELETE", "/api/documents/%d" % docs["alpha.md"]["id"])[0], 204, "delete")
    status, _, body = upload("delta.md", doc_text("delta"))
    eq(status, 201, "upload after a delete (body %s)" % h.short(body))
    eq(len(srv.documents()), MAX_DOCUMENTS, "documents after")
    # The command line is the administrator's and is not limited.
    path = os.path.join(srv.state, "echo.md")
    with open(path, "wb") as f:
        f.write(doc_text("echo"))
    r = srv.cli(["ingest", path])
    eq(r.returncode, 0, "docchat ingest over the limit (%s)" % h.short(r.stderr))
    eq(len(srv.documents()), MAX_DOCUMENTS + 1, "documents after docchat ingest")
    status, _, body = upload("foxtrot.md", doc_text("foxtrot"))
    eq((status, body), (403, {"error": DOCS_MSG}), "upload over the limit")
    # The limit is per user: alice has none of the shared library's documents.
    r = srv.cgi("POST", "/documents", doc_text("foxtrot"), query="filename=foxtrot.md",
                content_type="text/markdown", env=as_user("alice"))
    eq(r.status, 201, "alice's upload (%s)" % h.short(r.body))
    eq([(d["name"], d["shared"]) for d in r.json()["documents"]], [("foxtrot.md", False)],
       "alice's document")


@test
def uploads_racing_for_the_last_place_store_one():
    srv = ctx["answers"]
    for rnd, (a, b) in enumerate((("golf", "hotel"), ("india", "juliet"), ("kilo", "lima"))):
        docs = srv.documents()
        # Make exactly one place.
        for name in sorted(docs)[:len(docs) - MAX_DOCUMENTS + 1]:
            eq(srv.request("DELETE", "/api/documents/%d" % docs[name]["id"])[0], 204,
               "delete %s" % name)
        eq(len(srv.documents()), MAX_DOCUMENTS - 1, "round %d: documents before" % rnd)

        def via_lighttpd():
            status, _, body = upload(a + ".md", doc_text(a))
            if status == 403:
                eq(body["error"], '"%s.md": %s' % (a, DOCS_MSG) if "documents" in body
                   else DOCS_MSG, "403 message")
            return status

        def via_cgi():
            r = srv.cgi("POST", "/documents", doc_text(b), query="filename=%s.md" % b,
                        content_type="text/markdown")
            return r.status
        statuses = race([via_lighttpd, via_cgi])
        eq(sorted(statuses), [201, 403], "round %d: statuses %s" % (rnd, statuses))
        docs = srv.documents()
        eq(len(docs), MAX_DOCUMENTS, "round %d: documents after" % rnd)
        check((a + ".md" in docs) != (b + ".md" in docs), "round %d: stored %s" % (
            rnd, sorted(docs)))


if __name__ == "__main__":
    h.run(setup)
