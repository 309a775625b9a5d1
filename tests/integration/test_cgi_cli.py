#!/usr/bin/env python3
"""test_cgi_cli.py - docchat without a web server: plain CGI and the command line.

CGI (as cgit's tests do it): the binary runs with GATEWAY_INTERFACE, REQUEST_METHOD,
PATH_INFO, CONTENT_LENGTH/CONTENT_TYPE and the body on stdin, and its output must be a
CGI response (Status: line, headers, blank line, body): /health, session create, errors,
a full extractive stream and an OpenAI stream cut by DOCCHAT_MAX_TOKENS.
Command line: --help, --version, an unknown command, `ingest DIR` (a line per file and a
summary; re-ingesting adds nothing; invalid UTF-8 is refused), `search`, `ask` (extractive
and through the fake model), `sessions` and `config` (the API key masked).
"""

import os
import re
import urllib.parse

import harness as h
from harness import check, eq, fakelib, test

ctx = {}
TEA_Q = "How long should green tea steep?"


def setup():
    tmp = h.TmpDir("cgi")
    fake = h.FakeModel(tmp)
    ctx["tmp"] = tmp
    ctx["fake"] = fake
    ctx["d"] = h.Docchat(tmp, fake, ingest=False, serve=False)
    check(os.access(h.DOCCHAT_BIN, os.X_OK), "DOCCHAT_BIN %s is not an executable "
          "(build docchat or set DOCCHAT_BIN)" % h.DOCCHAT_BIN)


def out(r):
    return r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def cgi_json(method, path, body=None, query="", want=200, env=None):
    r = ctx["d"].cgi(method, path, body, query=query, env=env)
    eq(r.status, want, "CGI %s %s status (body %s, stderr %s)" % (
        method, path, h.short(r.body), h.short(r.stderr)))
    check(r.headers.get("content-type", "").startswith("application/json"),
          "CGI %s %s Content-Type %r" % (method, path, r.headers.get("content-type")))
    eq(r.returncode, 0, "CGI %s %s exit status" % (method, path))
    return r.json()


# ---------------------------------------------------------------------------------------
# Command line, part one: the basics and ingest (the CGI tests need the documents)

@test
def cli_help_and_version():
    d = ctx["d"]
    r = d.cli(["--help"])
    eq(r.returncode, 0, "--help exit status")
    text = r.stdout.decode("utf-8", "replace")
    for word in ("ingest", "search", "ask", "sessions", "config"):
        check(word in text, "--help does not mention %r: %s" % (word, h.short(text)))
    check(len(text.splitlines()) <= 60, "--help is longer than a screen")
    r = d.cli(["--version"])
    eq(r.returncode, 0, "--version exit status")
    check(re.search(r"[0-9]+\.[0-9]+\.[0-9]+", r.stdout.decode()),
          "--version prints no version: %r" % r.stdout)


@test
def cli_unknown_command_fails():
    r = ctx["d"].cli(["frobnicate"])
    check(r.returncode != 0, "an unknown command exited 0")
    check(r.stderr.strip(), "an unknown command printed nothing on stderr")


@test
def cli_ingest_prints_files_and_summary():
    d = ctx["d"]
    docs = h.write_docs(ctx["tmp"].join("docs"))
    r = d.cli(["ingest", docs])
    text = out(r)
    eq(r.returncode, 0, "ingest exit status (output %s)" % h.short(text))
    lines = [l for l in text.splitlines() if l.strip()]
    for name in h.DOCS:
        check(any(name in l for l in lines), "ingest output has no line for %s: %s"
              % (name, h.short(text)))
    summary = [l for l in lines if not any(n in l for n in h.DOCS)]
    check(any(str(len(h.DOCS)) in l for l in summary),
          "ingest output has no summary line counting %d files: %s" % (len(h.DOCS),
                                                                       h.short(text)))
    docs_now = cgi_json("GET", "/documents")["documents"]
    eq(sorted(x["name"] for x in docs_now), sorted(h.DOCS), "documents after ingest")
    ctx["ndocs"] = len(docs_now)


@test
def cli_ingest_again_adds_nothing():
    d = ctx["d"]
    r = d.cli(["ingest", ctx["tmp"].join("docs")])
    eq(r.returncode, 0, "second ingest exit status (output %s)" % h.short(out(r)))
    docs_now = cgi_json("GET", "/documents")["documents"]
    eq(len(docs_now), ctx.get("ndocs"), "documents after ingesting the same files again")


@test
def cli_ingest_refuses_invalid_utf8():
    d = ctx["d"]
    bad = ctx["tmp"].join("bad")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "latin1.txt"), "wb") as f:
        f.write("Caf\xe9 cr\xe8me br\xfbl\xe9e, served cold.\n".encode("latin-1"))
    with open(os.path.join(bad, "good.md"), "w", encoding="utf-8") as f:
        f.write("# Good\n\nThe lighthouse keeper counts seventeen ships every evening.\n")
    r = d.cli(["ingest", bad])
    text = out(r)
    check("latin1.txt" in text, "ingest output does not mention the refused file: %s"
          % h.short(text))
    names = [x["name"] for x in cgi_json("GET", "/documents")["documents"]]
    check("good.md" in names, "a bad file stopped the walk: %s" % names)
    check("latin1.txt" not in names, "a non-UTF-8 file was stored: %s" % names)


@test
def cli_search_ranks_results():
    r = ctx["d"].cli(["search", "green tea steep minutes"])
    text = r.stdout.decode("utf-8", "replace")
    eq(r.returncode, 0, "search exit status (%s)" % h.short(out(r)))
    check("tea.txt" in text, "search did not find tea.txt: %s" % h.short(text))
    first = min((text.find(n), n) for n in h.DOCS if n in text)[1]
    eq(first, "tea.txt", "first result of the search")
    r = ctx["d"].cli(["search", "shinkansen Kyoto"])
    text = r.stdout.decode("utf-8", "replace")
    check("japan.md" in text, "search did not find japan.md: %s" % h.short(text))
    eq(r.stderr.decode(), "keyword search\n", "search names its mode (no embedding model)")


@test
def cli_search_modes():
    d = ctx["d"]
    r = d.cli(["search", "--mode", "keyword", "--top-k", "1", "shinkansen Kyoto"])
    eq(r.returncode, 0, "search --mode keyword exit status (%s)" % h.short(out(r)))
    check(r.stdout.decode().startswith("1. ") and "japan.md" in r.stdout.decode() and
          "\n2. " not in r.stdout.decode(), "one result, japan.md: %s" % h.short(out(r)))
    r = d.cli(["search", "--mode", "vector", "shinkansen Kyoto"])
    eq(r.returncode, 1, "search --mode vector without an embedding model")
    eq(r.stderr.decode(), "docchat: DOCCHAT_EMBED_MODEL is not set: only keyword search is "
       "available\n", "its message")
    r = d.cli(["search", "--mode", "fuzzy", "tea"])
    check(r.returncode != 0 and "--mode is one of auto, keyword, vector, hybrid" in
          r.stderr.decode(), "an unknown mode is a usage error: %s" % h.short(out(r)))
    e = h.Docchat(ctx["tmp"], ctx["fake"], name="cli-embed", serve=False, overrides={
        "DOCCHAT_EMBED_MODEL": "ollama:fake-embed"})
    for mode in ("vector", "hybrid", "auto"):
        r = e.cli(["search", "--mode", mode, "--top-k", "1",
                   "How long should green tea steep?"])
        eq(r.returncode, 0, "search --mode %s exit status (%s)" % (mode, h.short(out(r))))
        eq(r.stderr.decode(), "%s search\n" % ("hybrid" if mode == "auto" else mode),
           "the mode search --mode %s names" % mode)
        check("tea.txt" in r.stdout.decode(), "search --mode %s finds tea.txt: %s" % (
            mode, h.short(r.stdout)))


@test
def cli_ask_extractive():
    r = ctx["d"].cli(["ask", TEA_Q])
    text = r.stdout.decode("utf-8", "replace")
    eq(r.returncode, 0, "ask exit status (%s)" % h.short(out(r)))
    check("two minutes" in text, "the extractive answer does not quote tea.txt: %s"
          % h.short(text))


@test
def cli_ask_through_the_model_server():
    model = h.fake_model("openai", tokens=9)
    r = ctx["d"].cli(["ask", TEA_Q], env={"DOCCHAT_DEFAULT_MODEL": model})
    text = r.stdout.decode("utf-8", "replace")
    eq(r.returncode, 0, "ask exit status (%s)" % h.short(out(r)))
    check(fakelib.expected_text(model) in text, "ask did not print the model's answer: %s"
          % h.short(text))
    req = ctx["fake"].request_for(model)
    check("[1]" in req["body"]["messages"][-1]["content"], "ask sent no sources")


@test
def cli_config_masks_the_key():
    d = ctx["d"]
    r = d.cli(["config"])
    text = r.stdout.decode("utf-8", "replace")
    eq(r.returncode, 0, "config exit status (%s)" % h.short(out(r)))
    check(h.SECRET not in out(r), "docchat config prints the API key")
    lines = text.splitlines()
    check(any(l.startswith("OPENAI_API_KEY=") for l in lines),
          "config has no OPENAI_API_KEY line: %s" % h.short(text))
    for want in ("DOCCHAT_DB=" + d.db_path, "DOCCHAT_THREADS=4",
                 "DOCCHAT_OPENAI_URL=" + ctx["fake"].openai_url):
        check(want in lines, "config lacks the line %r: %s" % (want, h.short(text)))
    # The environment overrides the file.
    r = d.cli(["config"], env={"DOCCHAT_TOP_K": "7"})
    check("DOCCHAT_TOP_K=7" in r.stdout.decode().splitlines(), "env DOCCHAT_TOP_K=7 "
          "not applied: %s" % h.short(r.stdout))
    r = d.cli(["config"], env={"DOCCHAT_TOP_K": "lots"})
    check(r.returncode != 0, "an invalid DOCCHAT_TOP_K was accepted")
    check("DOCCHAT_TOP_K" in out(r), "the error does not name DOCCHAT_TOP_K: %s"
          % h.short(out(r)))


# ---------------------------------------------------------------------------------------
# CGI

@test
def cgi_health():
    body = cgi_json("GET", "/health")
    eq(body.get("status"), "ok", "health status")
    eq(body.get("database"), "ok", "health database")


@test
def cgi_output_is_a_cgi_response():
    r = ctx["d"].cgi("GET", "/health")
    eq(r.returncode, 0, "exit status")
    check(r.stdout.startswith(b"Status: 200") or
          any(l.startswith("Status: 200") for l in r.header_lines),
          "no 'Status: 200' header line: %s" % h.short(r.stdout[:200]))
    for line in r.header_lines:
        check(not line.startswith("HTTP/"), "a CGI program must not print a status line "
              "like %r" % line)


@test
def cgi_session_create_and_get():
    s = cgi_json("POST", "/sessions", {"title": "CGI é"}, want=201)
    check(h.UUID_RE.match(s.get("id", "")), "session id: %s" % h.short(s))
    eq(s.get("title"), "CGI é", "title")
    eq(s.get("message_count"), 0, "message_count")
    got = cgi_json("GET", "/sessions/" + s["id"])
    eq(got.get("title"), "CGI é", "title read back")
    eq(got.get("messages"), [], "messages")
    ctx["cgi_sid"] = s["id"]


@test
def cgi_errors():
    r = ctx["d"].cgi("GET", "/nope")
    eq(r.status, 404, "unknown path")
    check(isinstance(r.json().get("error"), str), "404 body: %s" % h.short(r.body))
    r = ctx["d"].cgi("POST", "/sessions", "not json")
    eq(r.status, 400, "bad JSON")
    check(isinstance(r.json().get("error"), str), "400 body: %s" % h.short(r.body))
    r = ctx["d"].cgi("DELETE", "/health")
    eq(r.status, 405, "wrong method")
    check("GET" in r.headers.get("allow", ""), "405 without Allow: GET: %s" % r.headers)


def cgi_stream(sid, body, env=None, query=None):
    if query is not None:
        r = ctx["d"].cgi("GET", "/chat/%s/stream" % sid, None, query=query, env=env)
    else:
        r = ctx["d"].cgi("POST", "/chat/%s/stream" % sid, body, env=env)
    eq(r.status, 200, "stream status (body %s, stderr %s)" % (h.short(r.body),
                                                             h.short(r.stderr)))
    eq(r.returncode, 0, "stream exit status")
    eq(r.headers.get("content-type"), h.SSE_CONTENT_TYPE, "Content-Type")
    eq(r.headers.get("cache-control"), "no-cache", "Cache-Control")
    eq(r.headers.get("x-accel-buffering"), "no", "X-Accel-Buffering")
    p = h.parse_sse_bytes(r.body)
    h.check_framing(p)
    return p


@test
def cgi_extractive_stream():
    sid = ctx.get("cgi_sid") or cgi_json("POST", "/sessions", {}, want=201)["id"]
    p = cgi_stream(sid, {"question": TEA_Q, "model": "extractive"})
    parts = h.split_events(p.events, sid, "extractive")
    check("two minutes" in parts["text"], "answer does not quote tea.txt: %s"
          % h.short(parts["text"]))
    eq(parts["sources"][0]["metadata"]["document"], "tea.txt", "best source")
    h.check_metadata(parts["final"]["content"], "extractive", parts["text"], "all",
                     finish_reason=None)
    msgs = cgi_json("GET", "/sessions/" + sid)["messages"]
    eq([(m["role"], m["status"]) for m in msgs], [("user", "complete"),
                                                   ("assistant", "complete")], "stored messages")
    eq(msgs[1]["content"], parts["text"], "stored answer")


@test
def cgi_openai_stream_cut_by_max_tokens():
    sid = cgi_json("POST", "/sessions", {}, want=201)["id"]
    model = h.fake_model("openai", tokens=12)
    p = cgi_stream(sid, {"question": TEA_Q, "model": model},
                   env={"DOCCHAT_MAX_TOKENS": "5"})
    parts = h.split_events(p.events, sid, model)
    want = fakelib.expected_text(model, max_tokens=5)
    eq(parts["text"], want, "joined chunks")
    req = ctx["fake"].request_for(model)
    eq(req["max_tokens"], 5, "max tokens sent upstream")
    h.check_metadata(parts["final"]["content"], model, want, "all", finish_reason="length",
                     usage=(req["prompt_tokens"], 5))


@test
def cgi_eventsource_get_stream():
    sid = cgi_json("POST", "/sessions", {}, want=201)["id"]
    model = h.fake_model("ollama", tokens=6)
    p = cgi_stream(sid, None, query=urllib.parse.urlencode({"question": TEA_Q,
                                                            "model": model}))
    parts = h.split_events(p.events, sid, model)
    eq(parts["text"], fakelib.expected_text(model), "joined chunks")


# ---------------------------------------------------------------------------------------
# Command line, part two: what the CGI requests left behind

@test
def cli_sessions_lists_sessions():
    r = ctx["d"].cli(["sessions"])
    text = r.stdout.decode("utf-8", "replace")
    eq(r.returncode, 0, "sessions exit status (%s)" % h.short(out(r)))
    sid = ctx.get("cgi_sid")
    check(sid and sid in text, "sessions does not list %s: %s" % (sid, h.short(text)))
    check("CGI é" in text, "sessions does not show the title: %s" % h.short(text))


if __name__ == "__main__":
    h.run(setup)
