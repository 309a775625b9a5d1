#!/usr/bin/env python3
"""test_fake_model.py - the fake model server itself (needs no docchat binary).

The other integration tests trust tests/fake_model.py to speak the OpenAI SSE and Ollama
NDJSON wire formats exactly, to fail in the ways it claims, and to record when its client
hung up. This checks that on the raw bytes: event and line shapes, usage and finish
reasons, max_tokens, split writes cut inside UTF-8 characters, CRLF, comments, \\u escapes,
every fault mode, authentication, the request log with close detection (paced, stalled),
keep-alive, and 50 concurrent paced streams.
"""

import http.client
import json
import socket
import threading
import time

import harness as h
from harness import check, eq, fakelib, test

ctx = {}
KEY = h.SECRET


def setup():
    tmp = h.TmpDir("fake")
    ctx["fake"] = h.FakeModel(tmp)


def auth():
    return {"Authorization": "Bearer " + KEY}


def chat_body(model, stream=True, usage=True, **extra):
    b = {"model": model, "messages": [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": "What is café? 日本"}],
         "stream": stream}
    if usage:
        b["stream_options"] = {"include_usage": True}
    b.update(extra)
    return b


class Raw:
    """A raw HTTP/1.1 exchange that keeps the chunk boundaries of the response."""

    def __init__(self, path, body, headers=None, connect=True):
        self.sock = socket.create_connection(("127.0.0.1", ctx["fake"].port), timeout=20)
        data = json.dumps(body).encode()
        hdrs = {"Host": "127.0.0.1", "Content-Type": "application/json",
                "Content-Length": str(len(data))}
        hdrs.update(headers or {})
        req = "POST %s HTTP/1.1\r\n%s\r\n" % (path, "".join(
            "%s: %s\r\n" % kv for kv in hdrs.items()))
        self.sock.sendall(req.encode() + data)
        self.buf = b""
        self.status, self.headers = self._head()
        self.chunks = []          # payload of each HTTP chunk, in order
        self.complete = False     # the terminating 0-size chunk arrived

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError()
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _head(self):
        status = int(self._line().split()[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                return status, headers
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()

    def next_chunk(self):
        """The next chunk's payload, or None at the end (or when the server hung up)."""
        try:
            size = int(self._line().split(b";")[0], 16)
            if size == 0:
                self._line()
                self.complete = True
                return None
            while len(self.buf) < size + 2:
                self._more()
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            self.chunks.append(data)
            return data
        except (EOFError, ConnectionResetError):
            return None

    def body(self):
        if self.headers.get("transfer-encoding") != "chunked":
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._more()
            return self.buf[:n]
        while self.next_chunk() is not None:
            pass
        return b"".join(self.chunks)

    def close(self):
        t = time.monotonic()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        return t


def openai_events(data, nl="\n"):
    text = data.decode("utf-8")
    check(text.endswith(nl + nl), "SSE body does not end with a blank line: %s" % h.short(text[-50:]))
    blocks = text[:-2 * len(nl)].split(nl + nl)
    out = []
    for b in blocks:
        check(b.startswith("data: ") and nl not in b, "not one data line: %r" % b[:100])
        p = b[len("data: "):]
        out.append(p if p == "[DONE]" else json.loads(p))
    return out


def ollama_lines(data):
    text = data.decode("utf-8")
    check(text.endswith("\n"), "NDJSON does not end with a newline")
    return [json.loads(l) for l in text[:-1].split("\n")]


def check_openai_stream(evs, model, n, finish, usage=True, prompt_tokens=None):
    eq(evs[-1], "[DONE]", "last event")
    role = evs[0]
    eq(role["choices"][0]["delta"].get("role"), "assistant", "first delta role")
    eq(role["choices"][0]["delta"].get("content"), "", "first delta content")
    content = evs[1:1 + n]
    for i, ev in enumerate(content):
        eq(ev["object"], "chat.completion.chunk", "object")
        eq(ev["id"], "chatcmpl-fake", "id")
        eq(ev["model"], model, "model echoed")
        check(isinstance(ev["created"], int), "created")
        eq(ev["choices"][0]["delta"], {"content": fakelib.token(i)}, "delta %d" % i)
        eq(ev["choices"][0]["finish_reason"], None, "finish_reason while streaming")
        eq(ev["choices"][0]["index"], 0, "choice index")
    fin = evs[1 + n]
    eq(fin["choices"][0]["delta"], {}, "final delta")
    eq(fin["choices"][0]["finish_reason"], finish, "finish_reason")
    if usage:
        u = evs[2 + n]
        eq(u["choices"], [], "usage chunk choices")
        eq(u["usage"]["completion_tokens"], n, "completion_tokens")
        if prompt_tokens is not None:
            eq(u["usage"]["prompt_tokens"], prompt_tokens, "prompt_tokens")
        eq(u["usage"]["total_tokens"], u["usage"]["prompt_tokens"] + n, "total_tokens")
        eq(len(evs), n + 4, "event count")
        for ev in evs[:-2]:
            check("usage" in ev and ev["usage"] is None, "usage:null on ordinary chunks")
    else:
        eq(len(evs), n + 3, "event count")
        for ev in evs[:-1]:
            check("usage" not in ev, "usage field without include_usage")
    return "".join(ev["choices"][0]["delta"]["content"] for ev in content)


@test
def expected_text_is_deterministic_and_multibyte():
    t = fakelib.expected_text("fake")
    eq(t, fakelib.expected_text("openai:fake;tag=x"), "prefix and tag do not change the text")
    eq(len(t.split(" ")) >= 12, True, "12 tokens")
    for ch in ("é", "日本", "🙂"):
        check(ch in t, "default answer lacks %r: %r" % (ch, t))
    eq(fakelib.expected_text("fake;tokens=3"), "Fake café 日本", "three tokens")
    eq(fakelib.expected_text("fake;tokens=30", max_tokens=2), "Fake café", "max_tokens")
    eq(fakelib.expected_partial("fake;fault=drop_after=1"), "Fake", "partial of drop_after=1")
    eq(fakelib.expected_partial("fake;giant_line"), "Fake café", "partial of giant_line")
    eq(fakelib.expected_partial("fake;fault=http500"), "", "partial of an HTTP error")
    eq(fakelib.expected_partial("fake;tokens=2"), "Fake café", "partial without a fault")
    for bad in ("fake;tokens=x", "fake;nope=1", "fake;fault=drop_after", "fake;pace_ms=-1",
                "fake;fault=http401=3"):
        try:
            fakelib.parse_scenario(bad)
        except ValueError:
            continue
        h.fail("parse_scenario(%r) accepted it" % bad)


@test
def openai_stream_shape():
    model = "fake;tokens=12;tag=shape"
    r = Raw("/v1/chat/completions", chat_body(model), auth())
    eq(r.status, 200, "status")
    eq(r.headers.get("content-type"), "text/event-stream; charset=utf-8", "content-type")
    eq(r.headers.get("transfer-encoding"), "chunked", "transfer-encoding")
    data = r.body()
    check(r.complete, "stream not terminated")
    text = check_openai_stream(openai_events(data), model, 12, "stop")
    eq(text, fakelib.expected_text(model), "text")
    check("🙂".encode() in data, "emoji not sent as raw UTF-8")
    rec = ctx["fake"].requests("shape")
    eq(len(rec), 1, "recorded requests")
    rec = rec[0]
    eq(rec["path"], "/v1/chat/completions", "recorded path")
    eq(rec["model"], model, "recorded model")
    eq(rec["body"]["messages"][1]["content"], "What is café? 日本", "recorded body")
    eq(rec["authorization_ok"], True, "recorded auth")
    eq(rec["tokens_sent"], 12, "tokens_sent")
    eq(rec["finished"], True, "finished")
    eq(rec["closed_by_client"], False, "closed_by_client")
    check(rec["started"] <= rec["ended"], "started/ended")
    eq(rec["status"], 200, "recorded status")


@test
def openai_without_usage_and_with_max_tokens():
    model = "fake;tokens=10"
    r = Raw("/v1/chat/completions", chat_body(model, usage=False), auth())
    check_openai_stream(openai_events(r.body()), model, 10, "stop", usage=False)
    r = Raw("/v1/chat/completions", chat_body(model, max_tokens=4), auth())
    t = check_openai_stream(openai_events(r.body()), model, 4, "length")
    eq(t, fakelib.expected_text(model, max_tokens=4), "text cut by max_tokens")
    r = Raw("/v1/chat/completions", chat_body(model, max_completion_tokens=3), auth())
    check_openai_stream(openai_events(r.body()), model, 3, "length")
    r = Raw("/v1/chat/completions", chat_body(model, max_tokens=50), auth())
    check_openai_stream(openai_events(r.body()), model, 10, "stop")


@test
def openai_non_streaming():
    conn = http.client.HTTPConnection("127.0.0.1", ctx["fake"].port, timeout=10)
    conn.request("POST", "/v1/chat/completions", json.dumps(chat_body("fake", stream=False)),
                 dict(auth(), **{"Content-Type": "application/json"}))
    r = conn.getresponse()
    body = json.loads(r.read())
    eq(r.status, 200, "status")
    eq(body["choices"][0]["message"]["content"], fakelib.expected_text("fake"), "content")
    eq(body["choices"][0]["finish_reason"], "stop", "finish_reason")
    conn.close()


@test
def ollama_stream_shape():
    model = "fake;tokens=7;tag=oshape"
    r = Raw("/api/chat", chat_body(model, usage=False))
    eq(r.status, 200, "status")
    eq(r.headers.get("content-type"), "application/x-ndjson", "content-type")
    lines = ollama_lines(r.body())
    eq(len(lines), 8, "lines")
    for i, l in enumerate(lines[:-1]):
        eq(l["model"], model, "model")
        eq(l["message"], {"role": "assistant", "content": fakelib.token(i)}, "message %d" % i)
        eq(l["done"], False, "done")
        check(l["created_at"].endswith("Z"), "created_at")
    last = lines[-1]
    eq(last["done"], True, "final done")
    eq(last["done_reason"], "stop", "done_reason")
    eq(last["message"], {"role": "assistant", "content": ""}, "final message")
    eq(last["eval_count"], 7, "eval_count")
    rec = ctx["fake"].requests("oshape")[0]
    eq(last["prompt_eval_count"], rec["prompt_tokens"], "prompt_eval_count")
    check(h.is_int(last["total_duration"]), "total_duration")
    # num_predict cuts it with done_reason "length"; "stream": false gives one object.
    r = Raw("/api/chat", dict(chat_body(model, usage=False), options={"num_predict": 2}))
    lines = ollama_lines(r.body())
    eq(len(lines), 3, "lines with num_predict 2")
    eq(lines[-1]["done_reason"], "length", "done_reason with num_predict")
    r = Raw("/api/chat", chat_body(model, stream=False, usage=False))
    one = json.loads(r.body())
    eq(one["message"]["content"], fakelib.expected_text(model), "non-streaming content")
    eq(one["done"], True, "non-streaming done")


@test
def model_lists():
    conn = http.client.HTTPConnection("127.0.0.1", ctx["fake"].port, timeout=10)
    conn.request("GET", "/v1/models", headers=auth())
    r = conn.getresponse()
    body = json.loads(r.read())
    eq(r.status, 200, "/v1/models status")
    eq(body["object"], "list", "object")
    eq([m["id"] for m in body["data"]], fakelib.OPENAI_MODELS, "OpenAI models")
    eq({m["object"] for m in body["data"]}, {"model"}, "model objects")
    conn.request("GET", "/v1/models")
    r = conn.getresponse()
    r.read()
    eq(r.status, 401, "/v1/models without a key")
    conn.request("GET", "/api/tags")
    r = conn.getresponse()
    body = json.loads(r.read())
    eq([m["name"] for m in body["models"]], fakelib.OLLAMA_MODELS, "Ollama models")
    conn.close()


def drain_error(path, body, headers=None):
    r = Raw(path, body, headers)
    data = r.body()
    return r.status, json.loads(data)


@test
def http_error_shapes():
    cases = [
        ("http401", 401, "invalid_api_key", "Incorrect API key provided: sk-t****",
         401, "unauthorized"),
        ("http404", 404, "model_not_found", "does not exist", 404, "not found"),
        ("http429", 429, "rate_limit_exceeded", "Rate limit reached", 429, "server busy"),
        ("http500", 500, None, "The server had an error", 500, "llama runner"),
    ]
    for fault, ost, ocode, omsg, lst, lmsg in cases:
        model = "fake;fault=%s" % fault
        st, b = drain_error("/v1/chat/completions", chat_body(model), auth())
        eq(st, ost, "OpenAI %s status" % fault)
        eq(sorted(b["error"].keys()), ["code", "message", "param", "type"], "error keys")
        eq(b["error"]["code"], ocode, "OpenAI %s code" % fault)
        check(omsg in b["error"]["message"], "OpenAI %s message %r" % (fault, b))
        st, b = drain_error("/api/chat", chat_body(model))
        eq(st, lst, "Ollama %s status" % fault)
        eq(list(b.keys()), ["error"], "Ollama error keys")
        check(lmsg in b["error"], "Ollama %s message %r" % (fault, b))
    st, b = drain_error("/api/chat", chat_body("llama9"))
    eq((st, b), (404, {"error": "model \"llama9\" not found, try pulling it first"}),
       "Ollama unknown model")
    r = Raw("/api/chat", chat_body("fake:latest;tokens=1"))
    eq(r.status, 200, "Ollama fake:latest")
    eq(len(ollama_lines(r.body())), 2, "Ollama fake:latest lines")
    st, b = drain_error("/v1/chat/completions", chat_body("gpt-9"), auth())
    eq((st, b["error"]["code"]), (404, "model_not_found"), "OpenAI unknown model")
    st, b = drain_error("/v1/chat/completions", chat_body("fake"),
                        {"Authorization": "Bearer sk-wrong-key"})
    eq(st, 401, "wrong key")
    eq(b["error"]["message"], "Incorrect API key provided: sk-w****", "wrong key message")
    check(KEY not in json.dumps(b), "the key appears in the 401 body")
    st, b = drain_error("/v1/chat/completions", chat_body("fake"))
    eq(st, 401, "missing key")
    st, b = drain_error("/v1/chat/completions", chat_body("fake;bogus=1"), auth())
    eq(st, 400, "unknown scenario option")


@test
def split_writes_cut_utf8():
    for path, model in (("/v1/chat/completions", "fake;tokens=16;split=1"),
                        ("/api/chat", "fake;tokens=16;split=1")):
        r = Raw(path, chat_body(model), auth())
        data = r.body()
        cut = 0
        for c in r.chunks:
            try:
                c.decode("utf-8")
            except UnicodeDecodeError:
                cut += 1
        check(cut >= 8, "%s: only %d chunks end or start inside a character" % (path, cut))
        check(len(r.chunks) >= 16 * 3, "%s: only %d chunks" % (path, len(r.chunks)))
        if path.startswith("/v1"):
            t = check_openai_stream(openai_events(data), model, 16, "stop")
        else:
            t = "".join(l["message"]["content"] for l in ollama_lines(data))
        eq(t, fakelib.expected_text(model), "%s text" % path)


@test
def crlf_comments_and_ascii():
    model = "fake;tokens=9;crlf=1;comments=1"
    r = Raw("/v1/chat/completions", chat_body(model), auth())
    data = r.body().decode()
    check(": keep-alive\r\n\r\n" in data, "no CRLF comment")
    check("\n" not in data.replace("\r\n", ""), "a bare LF with crlf=1")
    stripped = data.replace(": keep-alive\r\n\r\n", "")
    t = check_openai_stream(openai_events(stripped.encode(), "\r\n"), model, 9, "stop")
    eq(t, fakelib.expected_text(model), "text")
    for path in ("/v1/chat/completions", "/api/chat"):
        model = "fake;tokens=16;ascii=1"
        r = Raw(path, chat_body(model), auth())
        data = r.body()
        check(all(b < 0x80 for b in data), "%s: non-ASCII byte with ascii=1" % path)
        check(b"\\ud83d\\ude42" in data, "%s: emoji not a surrogate pair" % path)
        if path.startswith("/v1"):
            t = check_openai_stream(openai_events(data), model, 16, "stop")
        else:
            t = "".join(l["message"]["content"] for l in ollama_lines(data))
        eq(t, fakelib.expected_text(model), "%s text with ascii=1" % path)


@test
def drop_garbage_giant_and_error_in_stream():
    for path in ("/v1/chat/completions", "/api/chat"):
        oa = path.startswith("/v1")
        r = Raw(path, chat_body("fake;tokens=8;fault=drop_after=3"), auth())
        data = r.body()
        check(not r.complete, "%s drop_after: stream was terminated properly" % path)
        if oa:
            evs = openai_events(data)
            eq(len(evs), 4, "events before the drop")
        else:
            eq(len(ollama_lines(data)), 3, "lines before the drop")

        r = Raw(path, chat_body("fake;tokens=5;fault=garbage_after=2"), auth())
        lines = [l for l in r.body().decode().split("\n") if l]
        bad = 0
        for l in lines:
            p = l[len("data: "):] if oa else l
            if p == "[DONE]":
                continue
            try:
                json.loads(p)
            except ValueError:
                bad += 1
        eq(bad, 1, "%s: malformed lines" % path)

        r = Raw(path, chat_body("fake;tokens=5;giant_line"), auth())
        lines = r.body().split(b"\n")
        eq(max(len(l) for l in lines) >= 2 * 1024 * 1024, True, "%s: 2 MiB line" % path)

        r = Raw(path, chat_body("fake;tokens=5;fault=error_in_stream"), auth())
        data = r.body()
        check(r.complete, "error_in_stream ends the stream normally")
        if oa:
            evs = openai_events(data)
            check("error" in evs[-1] and "server had an error" in evs[-1]["error"]["message"],
                  "last event: %s" % h.short(evs[-1]))
            eq(len(evs), 4, "role + 2 tokens + error")
        else:
            ls = ollama_lines(data)
            eq(list(ls[-1].keys()), ["error"], "last line")
            eq(len(ls), 3, "2 tokens + error")


def wait_closed(tag, t_close, bound):
    fake = ctx["fake"]
    rec = h.wait_for(lambda: [r for r in fake.requests(tag) if r["closed_by_client"]],
                     5, "closed_by_client for %s" % tag)[0]
    d = rec["closed_at"] - t_close
    check(-0.01 <= d <= bound, "%s: closed_at %.3fs after the close, want <= %.2f" % (
        tag, d, bound))
    return rec


@test
def close_detected_while_paced_and_stalled():
    for path in ("/v1/chat/completions", "/api/chat"):
        tag = "paced" + path.replace("/", "_")
        r = Raw(path, chat_body("fake;tokens=200;pace_ms=100;tag=" + tag), auth())
        for _ in range(4):
            r.next_chunk()
        t = r.close()
        rec = wait_closed(tag, t, 0.2)
        check(rec["tokens_sent"] < 10, "tokens_sent %d" % rec["tokens_sent"])
        check(rec["ended"] is not None and not rec["finished"], "ended/finished")

        tag = "stall" + path.replace("/", "_")
        r = Raw(path, chat_body("fake;tokens=9;fault=stall_after=2;tag=" + tag), auth())
        for _ in range(3 if path.startswith("/v1") else 2):
            r.next_chunk()
        rec = ctx["fake"].requests(tag)[0]
        eq(rec["closed_by_client"], False, "closed_by_client while stalled")
        # Stay silent a while: the fake must not give up or finish on its own.
        time.sleep(0.5)
        rec = ctx["fake"].requests(tag)[0]
        eq((rec["ended"], rec["tokens_sent"]), (None, 2), "stalled state")
        t = r.close()
        rec = wait_closed(tag, t, 0.2)
        eq(rec["tokens_sent"], 2, "tokens before the stall")

        tag = "first" + path.replace("/", "_")
        r = Raw(path, chat_body("fake;tokens=3;first_ms=10000;tag=" + tag), auth())
        t = r.close()
        wait_closed(tag, t, 0.2)


@test
def pacing_and_first_token_delay():
    model = "fake;tokens=5;pace_ms=100;first_ms=400"
    r = Raw("/v1/chat/completions", chat_body(model), auth())
    r.next_chunk()           # role chunk comes at once
    t0 = time.monotonic()
    times = []
    while r.next_chunk() is not None:
        times.append(time.monotonic() - t0)
    check(0.35 <= times[0] <= 1.0, "first token after %.2fs, want ~0.4" % times[0])
    check(0.35 <= times[4] - times[0] <= 1.0, "tokens 2-5 took %.2fs, want ~0.4" %
          (times[4] - times[0]))


@test
def keep_alive_and_reset():
    fake = ctx["fake"]
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    for i in range(3):
        conn.request("POST", "/api/chat", json.dumps(chat_body("fake;tokens=2;tag=ka")))
        r = conn.getresponse()
        eq(len(ollama_lines(r.read())), 3, "lines on request %d of one connection" % i)
    conn.close()
    eq(len(fake.requests("ka")), 3, "recorded keep-alive requests")
    fake.reset()
    eq(fake.requests(), [], "requests after reset")


@test
def fifty_concurrent_streams():
    n = 60
    results = [None] * n

    def one(i):
        try:
            path = "/v1/chat/completions" if i % 2 else "/api/chat"
            model = "fake;tokens=10;pace_ms=100;split=%d;tag=c%d" % (i % 3 == 0, i)
            r = Raw(path, chat_body(model), auth())
            data = r.body()
            if i % 2:
                t = check_openai_stream(openai_events(data), model, 10, "stop")
            else:
                t = "".join(l["message"]["content"] for l in ollama_lines(data)[:-1])
            eq(t, fakelib.expected_text(model), "text")
            results[i] = "ok"
        except Exception as e:  # noqa: BLE001
            results[i] = repr(e)

    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    took = time.monotonic() - t0
    bad = [(i, r) for i, r in enumerate(results) if r != "ok"]
    eq(bad, [], "failed streams")
    check(took < 6, "%d paced streams of ~1s took %.1fs: not concurrent" % (n, took))


if __name__ == "__main__":
    h.run(setup)
