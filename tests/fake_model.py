#!/usr/bin/env python3
"""fake_model.py - a fake model server speaking the OpenAI and Ollama streaming wire formats.

docchat's integration tests point DOCCHAT_OPENAI_URL at http://127.0.0.1:PORT/v1 and
DOCCHAT_OLLAMA_URL at http://127.0.0.1:PORT, so one process plays both servers:

  POST /v1/chat/completions   OpenAI chat completions (SSE when "stream": true)
  GET  /v1/models             {"object":"list","data":[{"id":"fake",...},...]}
  POST /api/chat              Ollama chat (NDJSON unless "stream": false)
  GET  /api/tags              {"models":[{"name":"fake:latest",...},...]}
  POST /api/embed             Ollama embeddings {"embeddings":[[...],...]}
  POST /v1/embeddings         OpenAI embeddings {"data":[{"index":i,"embedding":[...]}]}
  GET  /_requests[?tag=T]     JSON list of every recorded model request (see Recorder)
  POST /_reset                forget the recorded requests

What a chat request does is chosen by its model name, so concurrent tests never interfere:
"fake" (12 tokens, no pacing) or "fake;tokens=40;pace_ms=100;fault=drop_after=3;tag=t7".
Options, separated by ";":
  tokens=N       answer length in tokens (default 12); the text is deterministic, see token()
  pace_ms=N      pause before every token
  first_ms=N     pause before the first token instead (headers and the role chunk go first)
  split=1        write every line in several small writes, cut inside multi-byte characters
  crlf=1         CRLF line endings (OpenAI)
  comments=1     ": keep-alive" comment lines between events (OpenAI)
  ascii=1        escape non-ASCII as \\uXXXX (emoji as surrogate pairs) instead of raw UTF-8
  ignore_max=1   answer all tokens whatever max_tokens / num_predict asks (a runaway model)
  tag=WORD       ignored by the server; lets a test find its own request in /_requests
  fault=F        one of http401 http404 http429 http500 drop_after=N garbage_after=N
                 giant_line[=N] stall_after=N error_in_stream[=N] (also accepted bare: "http500")
Model names other than fake / fake-mini (Ollama: also with ":latest") get the real
"model not found" 404 of each API. Started with --openai-key K, OpenAI requests must carry
"Authorization: Bearer K" or get the real 401.

Embeddings come from the model "fake-embed" (the same options: "fake-embed;fault=http500",
"fake-embed;dim=8;tag=t3"; pace_ms/first_ms delay the reply). embed_text() makes them
deterministic and meaningful: lower-cased words (letters and digits, any script), a few
stop words dropped, a tiny suffix stemmer, each word hashed (SHA-256) into one of
EMBED_DIM (or dim=N) buckets, the counts scaled to length 1. Texts that share words are
therefore similar, texts that share none are orthogonal. Besides the HTTP faults, three
faults are for embeddings only: wrong_count (one vector fewer than texts), ragged (the
second vector one element short) and nan (the first element NaN).

The tests import this module for expected_text() and the scenario parser, so what the
server sends and what the tests expect come from the same code.
"""

import argparse
import base64
import hashlib
import json
import math
import os
import re
import struct
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# The answer text is these words in turn; multi-byte UTF-8 (2, 3 and 4 bytes), quotes,
# a backslash and newlines make sure the text survives every JSON and SSE layer intact.
WORDS = [
    "Fake", "café", "日本", "🙂", "answer", "\"quoted\"", "naïve", "back\\slash",
    "Ωmega", "tab\there", "中文字", "end.\n\nNext", "zürich", "😀ok", "über", "done",
]

OPENAI_MODELS = ["fake", "fake-mini"]
OLLAMA_MODELS = ["fake:latest", "fake-mini:latest"]

DEFAULT_TOKENS = 12
FAULT_DEFAULT_AT = 2          # giant_line / error_in_stream without a count
GIANT_LINE_BYTES = 2 * 1024 * 1024
SPLIT_PAUSE_S = 0.004         # between the pieces of one line with split=1
MAX_STALL_S = 600.0           # stall_after gives up waiting for the client after this

FAULTS_WITH_COUNT = ("drop_after", "garbage_after", "stall_after", "giant_line", "error_in_stream")
FAULTS_PLAIN = ("http401", "http404", "http429", "http500")
FAULTS_EMBED = ("wrong_count", "ragged", "nan")

EMBED_MODELS = ["fake-embed"]
EMBED_DIM = 256
EMBED_STOP_WORDS = frozenset(
    "a an and are as at be by do does for from how in is it of on or should the to "
    "what when where which who why with".split())
EMBED_SUFFIXES = ("ing", "ed", "es", "s", "ly")
EMBED_WORD_RE = re.compile(r"\w+")
PROVIDER_PREFIXES = ("openai:", "ollama:")


def token(i):
    """The i-th answer token (0-based): the first word, then " word" in turn."""
    w = WORDS[i % len(WORDS)]
    return w if i == 0 else " " + w


class Scenario:
    """A parsed model name: base model and options."""

    def __init__(self, base):
        self.base = base
        self.tokens = DEFAULT_TOKENS
        self.pace_ms = 0
        self.first_ms = None
        self.split = False
        self.crlf = False
        self.comments = False
        self.ascii = False
        self.ignore_max = False
        self.tag = None
        self.fault = None       # name from FAULTS_*
        self.fault_n = None     # its count, where it has one
        self.dim = EMBED_DIM    # embeddings: vector length

    def __repr__(self):
        return "Scenario(%r)" % self.__dict__


def parse_scenario(name):
    """Parse "fake;tokens=3;fault=drop_after=1" (an "openai:"/"ollama:" prefix is dropped).
    Raises ValueError naming the bad option."""
    for p in PROVIDER_PREFIXES:
        if name.startswith(p):
            name = name[len(p):]
            break
    parts = name.split(";")
    sc = Scenario(parts[0])
    for part in parts[1:]:
        if part == "":
            continue
        key, eq, val = part.partition("=")
        if key == "fault":
            key, eq, val = val.partition("=")
        if key in FAULTS_PLAIN or key in FAULTS_EMBED:
            if eq:
                raise ValueError("fault %s takes no count" % key)
            sc.fault = key
            continue
        if key in FAULTS_WITH_COUNT:
            if eq:
                sc.fault_n = _nonneg(key, val)
            elif key in ("giant_line", "error_in_stream"):
                sc.fault_n = FAULT_DEFAULT_AT
            else:
                raise ValueError("fault %s needs a count (%s=N)" % (key, key))
            sc.fault = key
            continue
        if not eq:
            raise ValueError("option %r needs a value" % key)
        if key == "tokens":
            sc.tokens = _nonneg(key, val)
        elif key == "pace_ms":
            sc.pace_ms = _nonneg(key, val)
        elif key == "first_ms":
            sc.first_ms = _nonneg(key, val)
        elif key in ("split", "crlf", "comments", "ascii", "ignore_max"):
            setattr(sc, key, _nonneg(key, val) != 0)
        elif key == "tag":
            sc.tag = val
        elif key == "dim":
            sc.dim = _nonneg(key, val)
            if sc.dim < 1:
                raise ValueError("option dim: must be >= 1")
        else:
            raise ValueError("unknown option %r" % key)
    return sc


def _nonneg(key, val):
    try:
        n = int(val, 10)
    except ValueError:
        raise ValueError("option %s: %r is not an integer" % (key, val)) from None
    if n < 0:
        raise ValueError("option %s: must be >= 0" % key)
    return n


def planned_tokens(sc, max_tokens=None):
    """(number of tokens the full answer has, finish_reason) before any fault."""
    n, finish = sc.tokens, "stop"
    if not sc.ignore_max and max_tokens is not None and max_tokens > 0 and max_tokens < n:
        n, finish = max_tokens, "length"
    return n, finish


def fault_at(sc, n):
    """How many tokens are sent before the fault strikes (n if it never does; 0 for the
    HTTP errors, which come instead of a stream)."""
    if sc.fault in FAULTS_WITH_COUNT:
        return min(n, sc.fault_n)
    if sc.fault in FAULTS_PLAIN:
        return 0
    return n


def expected_text(model, max_tokens=None):
    """The complete answer text a model name yields when nothing goes wrong."""
    sc = parse_scenario(model)
    n, _ = planned_tokens(sc, max_tokens)
    return "".join(token(i) for i in range(n))


def expected_partial(model, max_tokens=None):
    """The text sent before the scenario's fault (drop/garbage/stall/giant/error)."""
    sc = parse_scenario(model)
    n, _ = planned_tokens(sc, max_tokens)
    return "".join(token(i) for i in range(fault_at(sc, n)))


def expected_finish(model, max_tokens=None):
    return planned_tokens(parse_scenario(model), max_tokens)[1]


def estimate_prompt_tokens(messages):
    """What the fake reports as prompt tokens: UTF-8 bytes of all contents / 4, at least 1."""
    total = 0
    for m in messages or []:
        if isinstance(m, dict):
            c = m.get("content")
            if isinstance(c, str):
                total += len(c.encode("utf-8"))
    return max(1, total // 4)


def embed_stem(word):
    """The tiny stemmer: drop one common suffix when at least three letters remain."""
    for suf in EMBED_SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            return word[:-len(suf)]
    return word


def embed_text(text, dim=EMBED_DIM):
    """The fake embedding of text: a list of dim floats of length 1 (see the module doc).
    A text without words points along the first axis."""
    v = [0.0] * dim
    for w in EMBED_WORD_RE.findall(text.lower()):
        if w in EMBED_STOP_WORDS:
            continue
        h = hashlib.sha256(embed_stem(w).encode("utf-8")).digest()
        v[int.from_bytes(h[:4], "little") % dim] += 1.0
    norm = math.sqrt(sum(x * x for x in v))
    if norm == 0:
        v[0] = 1.0
        return v
    return [x / norm for x in v]


def embed_inputs(body):
    """The texts of an embeddings request ("input": a string or a list of strings), or
    None when the input is missing or malformed."""
    inp = body.get("input") if isinstance(body, dict) else None
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list) and all(isinstance(x, str) for x in inp):
        return inp
    return None


def embed_vectors(sc, texts):
    """The vectors a scenario answers with, faults applied."""
    vecs = [embed_text(t, sc.dim) for t in texts]
    if sc.fault == "wrong_count" and vecs:
        vecs = vecs[:-1]
    elif sc.fault == "ragged" and len(vecs) > 1:
        vecs[1] = vecs[1][:-1]
    elif sc.fault == "nan" and vecs:
        vecs[0] = [float("nan")] + vecs[0][1:]
    return vecs


# ---------------------------------------------------------------------------------------
# Request log

class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.next_id = 1

    def new(self, method, path):
        with self.lock:
            e = {
                "id": self.next_id, "method": method, "path": path, "model": None,
                "body": None, "started": time.monotonic(), "ended": None,
                "status": None, "authorization_ok": None, "closed_by_client": False,
                "closed_at": None, "tokens_sent": 0, "finished": False,
                "prompt_tokens": None, "max_tokens": None, "scenario_tag": None,
            }
            self.next_id += 1
            self.entries.append(e)
            return e

    def update(self, e, **kw):
        with self.lock:
            e.update(kw)

    def snapshot(self, tag=None):
        with self.lock:
            out = [dict(e) for e in self.entries]
        if tag is not None:
            out = [e for e in out if e.get("scenario_tag") == tag]
        return out

    def reset(self):
        with self.lock:
            self.entries = []


class ClientGone(Exception):
    """The client closed the connection (or a write to it failed)."""


def json_bytes(obj, ascii_only=False):
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":")).encode("utf-8")


def split_points(data):
    """Cut positions for split=1: inside "data:"/the JSON start, right after the lead byte
    of multi-byte characters (at most 6 of them), and just before the line end."""
    cuts = {2}
    inner = [i + 1 for i, b in enumerate(data) if b >= 0xC0]
    if len(inner) > 6:
        step = len(inner) / 6.0
        inner = [inner[int(k * step)] for k in range(6)]
    cuts.update(inner)
    if len(data) > 3:
        cuts.add(len(data) - 1)
    return sorted(c for c in cuts if 0 < c < len(data))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-model/1.0"

    def version_string(self):
        return self.server_version

    # ---- plumbing ----------------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_model: %s\n" % (fmt % args))

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, code, obj, entry=None):
        data = json_bytes(obj) + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if entry is not None:
            self.rec.update(entry, status=code)
            self.mark_ended(entry)
        try:
            self.wfile.write(data)
        except OSError:
            if entry is not None:
                self.mark_gone(entry)

    def send_text(self, code, text):
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @property
    def rec(self):
        return self.server.recorder

    def mark_ended(self, entry):
        with self.rec.lock:
            if entry["ended"] is None:
                entry["ended"] = time.monotonic()

    def mark_gone(self, entry):
        with self.rec.lock:
            if not entry["closed_by_client"]:
                entry["closed_by_client"] = True
                entry["closed_at"] = time.monotonic()

    def peer_closed(self, timeout):
        """Wait up to timeout seconds for the client to hang up; True if it did."""
        try:
            r, _, _ = select.select([self.connection], [], [], max(0.0, timeout))
            if not r:
                return False
            data = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data == b"":
                return True
            # The client sent bytes mid-response (it should not): do not spin on them.
            time.sleep(min(timeout, 0.01))
            return False
        except BlockingIOError:
            return False
        except OSError:
            return True

    def wait(self, entry, seconds):
        """Sleep, noticing within ~10 ms when the client closes. Raises ClientGone."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.peer_closed(min(left, 0.05)):
                self.mark_gone(entry)
                raise ClientGone()

    def write_raw(self, entry, data):
        if self.peer_closed(0):
            self.mark_gone(entry)
            raise ClientGone()
        try:
            self.wfile.write(data)
        except OSError:
            # EPIPE, ECONNRESET, ...: whatever the errno, the client is gone.
            self.mark_gone(entry)
            raise ClientGone() from None

    def write_chunk(self, entry, data):
        """One HTTP/1.1 chunk."""
        if data:
            self.write_raw(entry, b"%x\r\n%s\r\n" % (len(data), data))

    def write_line(self, entry, sc, data):
        """A whole protocol line (or event); with split=1 in several chunks and writes."""
        if not sc.split:
            self.write_chunk(entry, data)
            return
        prev = 0
        for c in split_points(data) + [len(data)]:
            self.write_chunk(entry, data[prev:c])
            prev = c
            if c < len(data):
                self.wait(entry, SPLIT_PAUSE_S)

    def end_chunked(self, entry):
        self.write_raw(entry, b"0\r\n\r\n")

    def finish_stream(self, entry):
        """The terminating chunk of a complete answer. The log says finished before it is
        written, so a client that has read the end never sees a stale entry."""
        self.rec.update(entry, finished=True, ended=time.monotonic())
        try:
            self.end_chunked(entry)
        except ClientGone:
            self.rec.update(entry, finished=False)
            raise

    def start_stream(self, entry, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.rec.update(entry, status=200)

    def drop(self, entry):
        """Hang up mid-response, as a crashed upstream would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stall(self, entry):
        """Send nothing more; return when the client hangs up (or after MAX_STALL_S)."""
        self.close_connection = True
        deadline = time.monotonic() + MAX_STALL_S
        while time.monotonic() < deadline:
            if self.peer_closed(0.05):
                self.mark_gone(entry)
                return

    # ---- routing -----------------------------------------------------------------

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_requests":
            tag = parse_qs(url.query).get("tag", [None])[0]
            return self.send_json(200, self.rec.snapshot(tag))
        if url.path == "/v1/models":
            e = self.rec.new("GET", url.path)
            if not self.check_openai_auth(e):
                return
            return self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for m in OPENAI_MODELS]}, e)
        if url.path == "/api/tags":
            e = self.rec.new("GET", url.path)
            return self.send_json(200, {"models": [{
                "name": m, "model": m, "modified_at": "2024-01-01T00:00:00Z",
                "size": 1000000, "digest": "0" * 64,
                "details": {"format": "gguf", "family": "fake", "parameter_size": "1M",
                            "quantization_level": "Q4_0"}} for m in OLLAMA_MODELS]}, e)
        if url.path.startswith("/v1/"):
            return self.send_json(404, openai_error(
                "Invalid URL (GET %s)" % url.path, "invalid_request_error", None))
        return self.send_text(404, "404 page not found")

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path == "/_reset":
            self.read_body()
            self.rec.reset()
            return self.send_json(200, {"ok": True})
        if url.path == "/v1/chat/completions":
            return self.openai_chat(url.path)
        if url.path == "/api/chat":
            return self.ollama_chat(url.path)
        if url.path == "/api/embed":
            return self.ollama_embed(url.path)
        if url.path == "/v1/embeddings":
            return self.openai_embed(url.path)
        self.read_body()
        if url.path.startswith("/v1/"):
            return self.send_json(404, openai_error(
                "Invalid URL (POST %s)" % url.path, "invalid_request_error", None))
        return self.send_text(404, "404 page not found")

    # ---- OpenAI ------------------------------------------------------------------

    def check_openai_auth(self, e):
        key = self.server.openai_key
        if key is None:
            return True
        got = self.headers.get("Authorization")
        if got == "Bearer " + key:
            self.rec.update(e, authorization_ok=True)
            return True
        self.rec.update(e, authorization_ok=False)
        if not got or not got.startswith("Bearer ") or not got[7:].strip():
            self.send_json(401, openai_error(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                "YOUR_KEY).", "invalid_request_error", None), e)
        else:
            self.send_json(401, openai_error(
                "Incorrect API key provided: %s****" % got[7:].strip()[:4],
                "invalid_request_error", "invalid_api_key"), e)
        return False

    def openai_chat(self, path):
        e = self.rec.new("POST", path)
        raw = self.read_body()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = None
        self.rec.update(e, body=body if body is not None else raw.decode("utf-8", "replace"))
        if not self.check_openai_auth(e):
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or \
                not isinstance(body.get("messages"), list):
            return self.send_json(400, openai_error(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)", "invalid_request_error",
                None), e)
        model = body["model"]
        self.rec.update(e, model=model, prompt_tokens=estimate_prompt_tokens(body["messages"]))
        try:
            sc = parse_scenario(model)
        except ValueError as ex:
            return self.send_json(400, openai_error(
                "fake model: %s" % ex, "invalid_request_error", None), e)
        self.rec.update(e, scenario_tag=sc.tag)
        if sc.base not in OPENAI_MODELS or sc.fault == "http404":
            return self.send_json(404, openai_error(
                "The model `%s` does not exist or you do not have access to it." % model,
                "invalid_request_error", "model_not_found"), e)
        if sc.fault == "http401":
            return self.send_json(401, openai_error(
                "Incorrect API key provided: sk-t****", "invalid_request_error",
                "invalid_api_key"), e)
        if sc.fault == "http429":
            return self.send_json(429, openai_error(
                "Rate limit reached for fake in organization org-fake on tokens per min "
                "(TPM): Limit 30000, Used 30000, Requested 100. Please try again in 200ms.",
                "tokens", "rate_limit_exceeded"), e)
        if sc.fault == "http500":
            return self.send_json(500, openai_error(
                "The server had an error while processing your request. Sorry about that!",
                "server_error", None), e)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            max_tokens = None
        self.rec.update(e, max_tokens=max_tokens)
        n, finish = planned_tokens(sc, max_tokens)
        prompt_tokens = estimate_prompt_tokens(body["messages"])
        created = int(time.time())
        if not body.get("stream"):
            text = "".join(token(i) for i in range(n))
            self.rec.update(e, tokens_sent=n, finished=True)
            return self.send_json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": created,
                "model": model, "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": text, "refusal": None},
                    "logprobs": None, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n,
                          "total_tokens": prompt_tokens + n}}, e)
        so = body.get("stream_options")
        usage = isinstance(so, dict) and so.get("include_usage") is True
        try:
            self.openai_stream(e, sc, model, created, n, finish, prompt_tokens, usage)
        except ClientGone:
            self.close_connection = True
        self.mark_ended(e)

    def openai_stream(self, e, sc, model, created, n, finish, prompt_tokens, usage):
        nl = b"\r\n" if sc.crlf else b"\n"

        def chunk(delta, finish_reason, choices=True, usage_obj=None):
            obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                   "created": created, "model": model, "system_fingerprint": "fp_fake"}
            obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None,
                               "finish_reason": finish_reason}] if choices else []
            if usage:
                obj["usage"] = usage_obj
            return obj

        def event(obj):
            data = obj if isinstance(obj, bytes) else json_bytes(obj, sc.ascii)
            self.write_line(e, sc, b"data: " + data + nl + nl)

        def comment():
            if sc.comments:
                self.write_line(e, sc, b": keep-alive" + nl + nl)

        self.start_stream(e, "text/event-stream; charset=utf-8")
        comment()
        event(chunk({"role": "assistant", "content": "", "refusal": None}, None))
        stop_at = fault_at(sc, n)
        for i in range(n):
            if i == stop_at:
                break
            delay = sc.first_ms if (i == 0 and sc.first_ms is not None) else sc.pace_ms
            if delay:
                self.wait(e, delay / 1000.0)
            comment()
            event(chunk({"content": token(i)}, None))
            with self.rec.lock:
                e["tokens_sent"] = i + 1
        if sc.fault == "drop_after":
            return self.drop(e)
        if sc.fault == "stall_after":
            return self.stall(e)
        if sc.fault == "garbage_after":
            event(b'{"id":"chatcmpl-fake","object":"chat.completion.chunk","choices":[{"ind')
            # Then carry on as if nothing happened: a client that skips bad lines would
            # produce a complete-looking answer, which the tests must not accept.
            for i in range(stop_at, n):
                event(chunk({"content": token(i)}, None))
        if sc.fault == "giant_line":
            big = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                   "created": created, "model": model,
                   "choices": [{"index": 0, "delta": {"content": "x" * GIANT_LINE_BYTES},
                                "finish_reason": None}]}
            self.write_chunk(e, b"data: " + json_bytes(big) + nl + nl)
            for i in range(stop_at, n):
                event(chunk({"content": token(i)}, None))
        if sc.fault == "error_in_stream":
            event({"error": {"message": "The server had an error while processing your "
                             "request. Sorry about that!", "type": "server_error",
                             "param": None, "code": None}})
            self.mark_ended(e)
            self.end_chunked(e)
            return
        comment()
        event(chunk({}, finish))
        if usage:
            c = e["tokens_sent"]
            event(chunk(None, None, choices=False, usage_obj={
                "prompt_tokens": prompt_tokens, "completion_tokens": c,
                "total_tokens": prompt_tokens + c,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}))
        self.write_line(e, sc, b"data: [DONE]" + nl + nl)
        self.finish_stream(e)

    # ---- Ollama ------------------------------------------------------------------

    def ollama_chat(self, path):
        e = self.rec.new("POST", path)
        raw = self.read_body()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as ex:
            self.rec.update(e, body=raw.decode("utf-8", "replace"))
            return self.send_json(400, {"error": "invalid character: %s" % ex}, e)
        self.rec.update(e, body=body)
        if not isinstance(body, dict):
            return self.send_json(400, {"error": "json: cannot unmarshal into Go value of "
                                                 "type api.ChatRequest"}, e)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.send_json(400, {"error": "model is required"}, e)
        msgs = body.get("messages") if isinstance(body.get("messages"), list) else []
        prompt_tokens = estimate_prompt_tokens(msgs)
        self.rec.update(e, model=model, prompt_tokens=prompt_tokens)
        try:
            sc = parse_scenario(model)
        except ValueError as ex:
            return self.send_json(400, {"error": "fake model: %s" % ex}, e)
        self.rec.update(e, scenario_tag=sc.tag)
        base = sc.base if ":" in sc.base else sc.base + ":latest"
        if base not in OLLAMA_MODELS or sc.fault == "http404":
            return self.send_json(404, {
                "error": "model \"%s\" not found, try pulling it first" % model}, e)
        if sc.fault == "http401":
            return self.send_json(401, {"error": "unauthorized"}, e)
        if sc.fault == "http429":
            return self.send_json(429, {"error": "server busy, please try again.  maximum "
                                                 "pending requests exceeded"}, e)
        if sc.fault == "http500":
            return self.send_json(500, {"error": "llama runner process has terminated: "
                                                 "exit status 2"}, e)
        opts = body.get("options") if isinstance(body.get("options"), dict) else {}
        max_tokens = opts.get("num_predict")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            max_tokens = None
        self.rec.update(e, max_tokens=max_tokens)
        n, finish = planned_tokens(sc, max_tokens)
        if body.get("stream", True) is False:
            text = "".join(token(i) for i in range(n))
            self.rec.update(e, tokens_sent=n, finished=True)
            return self.send_json(200, dict(ollama_final(model, finish, prompt_tokens, n),
                                            message={"role": "assistant", "content": text}), e)
        try:
            self.ollama_stream(e, sc, model, n, finish, prompt_tokens)
        except ClientGone:
            self.close_connection = True
        self.mark_ended(e)

    def ollama_stream(self, e, sc, model, n, finish, prompt_tokens):
        def line(obj):
            data = obj if isinstance(obj, bytes) else json_bytes(obj, sc.ascii)
            self.write_line(e, sc, data + b"\n")

        def msg(content):
            return {"model": model, "created_at": now_rfc3339(),
                    "message": {"role": "assistant", "content": content}, "done": False}

        self.start_stream(e, "application/x-ndjson")
        stop_at = fault_at(sc, n)
        for i in range(n):
            if i == stop_at:
                break
            delay = sc.first_ms if (i == 0 and sc.first_ms is not None) else sc.pace_ms
            if delay:
                self.wait(e, delay / 1000.0)
            line(msg(token(i)))
            with self.rec.lock:
                e["tokens_sent"] = i + 1
        if sc.fault == "drop_after":
            return self.drop(e)
        if sc.fault == "stall_after":
            return self.stall(e)
        if sc.fault == "garbage_after":
            line(b'{"model":"' + model.encode() + b'","created_at":"2024-01-01T00:00:00Z","mess')
            for i in range(stop_at, n):
                line(msg(token(i)))
        if sc.fault == "giant_line":
            self.write_chunk(e, json_bytes(msg("x" * GIANT_LINE_BYTES)) + b"\n")
            for i in range(stop_at, n):
                line(msg(token(i)))
        if sc.fault == "error_in_stream":
            line({"error": "an error was encountered while running the model: "
                           "unexpected EOF"})
            self.mark_ended(e)
            self.end_chunked(e)
            return
        line(ollama_final(model, finish, prompt_tokens, e["tokens_sent"]))
        self.finish_stream(e)


    # ---- embeddings ----------------------------------------------------------------

    def embed_request(self, path):
        """Read and record an embeddings request: (entry, body, scenario or None, texts).
        The scenario is None when the model name does not parse (a 400 was sent)."""
        e = self.rec.new("POST", path)
        raw = self.read_body()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = None
        self.rec.update(e, body=body if body is not None else raw.decode("utf-8", "replace"))
        model = body.get("model") if isinstance(body, dict) else None
        texts = embed_inputs(body)
        self.rec.update(e, model=model, inputs=len(texts) if texts is not None else None)
        sc = None
        if isinstance(model, str):
            try:
                sc = parse_scenario(model)
                self.rec.update(e, scenario_tag=sc.tag)
            except ValueError:
                sc = None
        return e, body, sc, texts

    def embed_delay(self, e, sc):
        delay = sc.first_ms if sc.first_ms is not None else sc.pace_ms
        if delay:
            time.sleep(delay / 1000.0)

    def ollama_embed(self, path):
        e, body, sc, texts = self.embed_request(path)
        if not isinstance(body, dict):
            return self.send_json(400, {"error": "invalid character 'x' looking for "
                                                 "beginning of value"}, e)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.send_json(400, {"error": "model is required"}, e)
        if sc is None:
            return self.send_json(400, {"error": "fake model: bad options in %r" % model}, e)
        base = sc.base if ":" in sc.base else sc.base + ":latest"
        if base not in [m + ":latest" for m in EMBED_MODELS] or sc.fault == "http404":
            return self.send_json(404, {
                "error": "model \"%s\" not found, try pulling it first" % model}, e)
        if sc.fault == "http401":
            return self.send_json(401, {"error": "unauthorized"}, e)
        if sc.fault == "http429":
            return self.send_json(429, {"error": "server busy, please try again.  maximum "
                                                 "pending requests exceeded"}, e)
        if sc.fault == "http500":
            return self.send_json(500, {"error": "llama runner process has terminated: "
                                                 "exit status 2"}, e)
        if texts is None:
            return self.send_json(400, {"error": "invalid input type"}, e)
        self.embed_delay(e, sc)
        self.send_json(200, {
            "model": model, "embeddings": embed_vectors(sc, texts),
            "total_duration": 12345678, "load_duration": 1234567,
            "prompt_eval_count": sum(len(t.split()) for t in texts)}, e)

    def openai_embed(self, path):
        e, body, sc, texts = self.embed_request(path)
        if not self.check_openai_auth(e):
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self.send_json(400, openai_error(
                "We could not parse the JSON body of your request.", "invalid_request_error",
                None), e)
        model = body["model"]
        if sc is None:
            return self.send_json(400, openai_error(
                "fake model: bad options in %r" % model, "invalid_request_error", None), e)
        if sc.base not in EMBED_MODELS or sc.fault == "http404":
            return self.send_json(404, openai_error(
                "The model `%s` does not exist or you do not have access to it." % model,
                "invalid_request_error", "model_not_found"), e)
        if sc.fault == "http401":
            return self.send_json(401, openai_error(
                "Incorrect API key provided: sk-t****", "invalid_request_error",
                "invalid_api_key"), e)
        if sc.fault == "http429":
            return self.send_json(429, openai_error(
                "Rate limit reached for fake-embed in organization org-fake on requests per "
                "min (RPM): Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded"), e)
        if sc.fault == "http500":
            return self.send_json(500, openai_error(
                "The server had an error while processing your request. Sorry about that!",
                "server_error", None), e)
        if texts is None:
            return self.send_json(400, openai_error(
                "'$.input' is invalid. Please check the API reference: "
                "https://platform.openai.com/docs/api-reference.", "invalid_request_error",
                None), e)
        self.embed_delay(e, sc)
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, v in enumerate(embed_vectors(sc, texts)):
            emb = base64.b64encode(struct.pack("<%df" % len(v), *v)).decode() if b64 else v
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t.split()) for t in texts)
        self.send_json(200, {"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, e)


def ollama_final(model, finish, prompt_tokens, completion_tokens):
    return {"model": model, "created_at": now_rfc3339(),
            "message": {"role": "assistant", "content": ""}, "done_reason": finish,
            "done": True, "total_duration": 123456789, "load_duration": 1234567,
            "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 2345678,
            "eval_count": completion_tokens, "eval_duration": 3456789}


def openai_error(message, etype, code):
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def now_rfc3339():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake OpenAI/Ollama streaming model server.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--openai-key", help="require Authorization: Bearer KEY on /v1")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = ap.parse_args(argv)

    srv = Server((args.host, args.port), Handler)
    srv.recorder = Recorder()
    srv.openai_key = args.openai_key
    srv.verbose = args.verbose
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    else:
        print(port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
