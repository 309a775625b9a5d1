#!/usr/bin/env python3
"""test_hostile.py - hostile input through lighttpd: nothing is executed, nothing escapes,
bad bytes are refused clearly, and one client cannot hold up the others.

- SQL injection in every parameter (session titles and ids, questions, model names,
  document ids, search queries and options, upload file names): stored and echoed
  byte for byte, never executed; the schema and every other row are intact.
- Path traversal in upload file names ("../../etc/passwd", "..\\..\\x", absolute
  paths, NUL): the stored name never carries a directory and docchat writes no file
  (uploads live in the database only).
- Invalid UTF-8 and NUL: in JSON bodies (raw bytes, "\\u0000" in any string) 400; in a
  query string lighttpd refuses them itself (400) and docchat, reached directly as CGI,
  answers 400 too; documents that are not UTF-8 or hold NUL are 422 (HTML drops NUL as
  browsers do). An unpaired surrogate escape ("\\ud800") is valid JSON and is stored as
  U+FFFD, so what docchat stores is always UTF-8.
- Oversized requests: a 64 KiB header, 2000 headers or a 70 KiB URL get lighttpd's
  own clean 431 and never reach docchat; 200 000 form parts are a quick 400; a part
  header of 1 MiB is 400.
- A client that never reads its stream: lighttpd stops reading from docchat once its
  buffers fill (stream-response-body = 2), so docchat's thread waits in a write while
  every other request and stream goes on. The thread is freed the moment the client
  goes, or when lighttpd gives up on the client after server.max-write-idle.
"""

import json
import os
import socket
import sqlite3
import time
import urllib.parse

import faultlib as fl
import harness as h
from harness import check, eq, fakelib, test

ctx = {}
Q = "How long should green tea steep?"

PAYLOADS = [
    "'; DROP TABLE sessions; --",
    "\"; DROP TABLE messages; --",
    "' OR '1'='1",
    "1' UNION SELECT id, owner, title, created_at, updated_at FROM sessions --",
    "Robert'); DELETE FROM documents; --",
    "x'); ATTACH DATABASE '/tmp/docchat-pwned.db' AS pwn; CREATE TABLE pwn.t(x); --",
    "%' OR 1=1 --",
    "\\'; UPDATE messages SET content = 'pwned'; --",
]
PWNED_FILE = "/tmp/docchat-pwned.db"


def setup():
    tmp = h.TmpDir("hostile")
    ctx["tmp"] = tmp
    ctx["fake"] = h.FakeModel(tmp)
    ctx["srv"] = fl.Served(tmp, ctx["fake"])


# ---------------------------------------------------------------------------------------
# Helpers

def snapshot(srv):
    """The schema and the row count of every table, read from outside."""
    db = sqlite3.connect("file:%s?mode=ro" % srv.db_path, uri=True, timeout=10)
    try:
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'chunks_fts%'")]
        counts = {t: db.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0] for t in tables}
    finally:
        db.close()
    return schema, counts


def check_intact(srv, before, grew, what):
    """Same schema; every table but those in grew ({table: added rows}) has its rows."""
    schema0, counts0 = before
    schema1, counts1 = snapshot(srv)
    eq(schema1, schema0, "%s: the schema" % what)
    want = dict(counts0)
    for t, n in grew.items():
        want[t] = want.get(t, 0) + n
    # Tables of other features that count requests are not this test's business.
    for t in list(want):
        if t.startswith("limit_") or t in ("tokens",):
            want.pop(t)
            counts1.pop(t, None)
    eq(counts1, want, "%s: rows per table" % what)
    check(not os.path.exists(PWNED_FILE), "%s: %s was created" % (what, PWNED_FILE))


def raw_request(srv, method, path, body=None, headers=None):
    """(status, headers, bytes) with no parsing."""
    conn = h.http.client.HTTPConnection("127.0.0.1", srv.port, timeout=h.HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def raw_socket(srv, data):
    """Send bytes as they are (no client-side checks) and read the reply to its end."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=h.HTTP_TIMEOUT_S)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()


def json_error(status, body, want, what):
    eq(status, want, "%s: status (body %s)" % (what, h.short(body)))
    check(isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"],
          "%s: body is not {\"error\": \"...\"}: %s" % (what, h.short(body)))
    return body["error"]


def post_json_bytes(srv, path, data):
    st, hd, raw = raw_request(srv, "POST", path, data, {"Content-Type": "application/json"})
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        body = raw
    return st, body


def form(parts):
    """A multipart/form-data body from (name, filename bytes or None, data) parts."""
    out = []
    for name, filename, data in parts:
        disp = b'form-data; name="' + name + b'"'
        if filename is not None:
            disp += b'; ' + filename
        out += [b"--B\r\nContent-Disposition: ", disp, b"\r\n\r\n", data, b"\r\n"]
    out.append(b"--B--\r\n")
    return b"".join(out)


def upload_form(srv, body):
    st, hd, raw = raw_request(srv, "POST", "/api/documents", body,
                              {"Content-Type": "multipart/form-data; boundary=B"})
    return st, json.loads(raw.decode("utf-8"))


def upload_raw(srv, name_query, data):
    st, hd, raw = raw_request(srv, "POST", "/api/documents?filename=" + name_query, data,
                              {"Content-Type": "text/plain"})
    try:
        return st, json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return st, raw


def lighttpd_refused(status, hd, what, want=400):
    """A request lighttpd answered itself: a clean 4xx that never reached docchat."""
    eq(status, want, "%s: status" % what)
    check("json" not in (hd.get("Content-Type") or ""), "%s: docchat answered (%s)" % (
        what, hd.get("Content-Type")))


# ---------------------------------------------------------------------------------------
# SQL injection

@test
def sql_in_session_titles_is_stored_verbatim():
    srv = ctx["srv"]
    before = snapshot(srv)
    ids = []
    for p in PAYLOADS:
        st, _, s = srv.request("POST", "/api/sessions", {"title": p})
        eq(st, 201, "create a session titled %r" % p)
        eq(s["title"], p, "title echoed")
        ids.append(s["id"])
        st, _, s = srv.request("PATCH", "/api/sessions/" + s["id"], {"title": p + " (2)"})
        eq(st, 200, "rename to %r" % p)
        eq(s["title"], p + " (2)", "renamed title echoed")
    titles = {s["id"]: s["title"] for s in srv.request("GET", "/api/sessions")[2]["sessions"]}
    for sid, p in zip(ids, PAYLOADS):
        eq(titles.get(sid), p + " (2)", "listed title of %s" % sid)
        eq(srv.session(sid)["title"], p + " (2)", "stored title of %s" % sid)
    check_intact(srv, before, {"sessions": len(PAYLOADS)}, "titles")


@test
def sql_in_session_ids_finds_nothing_and_deletes_nothing():
    srv = ctx["srv"]
    keep = srv.new_session("keep me")
    before = snapshot(srv)
    for p in PAYLOADS + ["%s' OR '1'='1" % keep, "*", "%"]:
        q = urllib.parse.quote(p, safe="")
        for method, path, body in (("GET", "/api/sessions/" + q, None),
                                   ("PATCH", "/api/sessions/" + q, {"title": "x"}),
                                   ("DELETE", "/api/sessions/" + q, None),
                                   ("POST", "/api/chat/%s/stream" % q, {"question": Q})):
            st, _, b = srv.request(method, path, body)
            check(st in (400, 404), "%s %s: status %d, want 400 or 404" % (method, path, st))
            json_error(st, b, st, "%s %s" % (method, path))
    eq(srv.session(keep)["title"], "keep me", "a session the ids tried to reach")
    check_intact(srv, before, {}, "session ids")


@test
def sql_in_questions_and_model_names_is_stored_verbatim():
    srv, fake = ctx["srv"], ctx["fake"]
    before = snapshot(srv)
    sid = srv.new_session()
    for p in PAYLOADS:
        st = h.chat(srv, sid, p, model="extractive")
        h.split_events(st.events, sid, "extractive")
    msgs = srv.session(sid)["messages"]
    eq([m["content"] for m in msgs if m["role"] == "user"], PAYLOADS, "stored questions")
    # A model name is passed to the model server as it is; the fake does not know it.
    # (No ";" in them: the fake reads that as the start of its options.)
    models = ["openai:fake' OR '1'='1' -- DROP TABLE messages", "ollama:fake\" OR \"1\"=\"1"]
    for model in models:
        st = h.chat(srv, sid, Q, model=model)
        parts = h.split_events(st.events, sid, model, outcome="error")
        name = model.split(":", 1)[1]
        check(name in parts["final"]["content"], "the error does not name the model %r: %r" %
              (name, parts["final"]["content"]))
        asst = srv.final_assistant(sid)
        eq(asst["model"], model, "stored model name")
        eq(asst["status"], "error", "stored status")
    sent = [r["model"] for r in fake.requests() if r["model"] and "DROP" in r["model"]]
    eq(sent, [models[0].split(":", 1)[1]], "model names the fake received")
    n = 2 * (len(PAYLOADS) + len(models))
    check_intact(srv, before, {"sessions": 1, "messages": n}, "questions and models")


@test
def sql_in_document_ids_search_and_options_is_refused_or_harmless():
    srv = ctx["srv"]
    docs = srv.documents()
    check(docs, "no documents to protect")
    before = snapshot(srv)
    for p in ["1 OR 1=1", "1; DROP TABLE documents", "1)--", "-1", "0x1", "1e3", "1.0"] + PAYLOADS:
        q = urllib.parse.quote(p, safe="")
        for method in ("GET", "DELETE"):
            st, _, b = srv.request(method, "/api/documents/" + q)
            # A "/" in it makes a path no route has (404); anything else is no id (400).
            json_error(st, b, 404 if "/" in p else 400, "%s /api/documents/%s" % (method, p))
    sid = srv.new_session()
    for ids in (["1 OR 1=1"], "1) OR (1=1", [1, "2; DROP TABLE chunks"]):
        st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "search_mode": "selected",
                                                      "document_ids": ids})
        json_error(st.status, st.body, 400, "document_ids %r" % (ids,))
    for qs in ("document_ids=1)%20OR%20(1%3D1&search_mode=selected",
               "document_ids=1%3BDROP%20TABLE%20chunks&search_mode=selected",
               "search_mode=all'%20--", "top_k=5%3B%20DROP%20TABLE%20chunks"):
        st, _, b = srv.request("GET", "/api/chat/%s/stream?question=tea&%s" % (sid, qs))
        json_error(st, b, 400, "GET stream with %s" % qs)
    for p in PAYLOADS + ['tea" OR "x', "tea NEAR(a b) ^text: *", "text:tea AND NOT x"]:
        st, _, b = srv.request("GET", "/api/search?q=" + urllib.parse.quote(p, safe=""))
        eq(st, 200, "search for %r (body %s)" % (p, h.short(b)))
        eq(b.get("query"), p, "the query echoed")
        check(isinstance(b.get("results"), list), "results of %r" % p)
    for qs in ("q=tea&top_k=1%20OR%201%3D1", "q=tea&mode=keyword'%20--"):
        st, _, b = srv.request("GET", "/api/search?" + qs)
        json_error(st, b, 400, "search with %s" % qs)
    eq(sorted(srv.documents()), sorted(docs), "documents after the attempts")
    check_intact(srv, before, {"sessions": 1}, "document ids and search")


@test
def sql_in_upload_file_names_is_stored_verbatim():
    srv = ctx["srv"]
    before = snapshot(srv)
    names = ["x'); DROP TABLE documents; --.txt", "a\" OR \"1\"=\"1.md",
             "%' OR 1=1 --.txt"]
    for i, name in enumerate(names):
        data = ("Injection file %d about green tea and quotes.\n" % i).encode()
        st, b = upload_form(srv, form([(b"file", b'filename="%s"' % name.replace(
            '"', '\\"').encode(), data)]))
        eq(st, 201, "upload %r (body %s)" % (name, h.short(b)))
        eq(b["documents"][0]["name"], name, "stored name")
    docs = srv.documents()
    for name in names:
        check(name in docs, "%r missing from the list %s" % (name, sorted(docs)))
    _, counts = before
    _, after = snapshot(srv)
    check_intact(srv, before, {"documents": len(names),
                               "chunks": after["chunks"] - counts["chunks"]}, "file names")
    check(after["chunks"] - counts["chunks"] >= len(names), "the uploads have no chunks")


# ---------------------------------------------------------------------------------------
# Path traversal

@test
def upload_names_never_name_a_path():
    srv = ctx["srv"]
    state_before = set(os.listdir(srv.state))
    cases = [  # (filename parameter, stored name)
        (b'filename="../../etc/passwd.txt"', "passwd.txt"),
        (b'filename="..\\\\..\\\\x.txt"', "x.txt"),
        (b'filename="/etc/cron.d/abs.md"', "abs.md"),
        (b'filename="....//....//deep.txt"', "deep.txt"),
        (b'filename="C:\\\\Windows\\\\win.txt"', "win.txt"),
        (b'filename="..%2f..%2fenc.txt"', "..%2f..%2fenc.txt"),   # no decoding in filename=
        (b"filename*=UTF-8''..%2F..%2Fstar.txt", "star.txt"),
        (b"filename*=UTF-8''nul%00byte.txt", "nul_byte.txt"),     # a control character
    ]
    for i, (param, want) in enumerate(cases):
        data = ("Traversal %d: %s\n" % (i, want)).encode()
        st, b = upload_form(srv, form([(b"file", param, data)]))
        eq(st, 201, "upload %r (body %s)" % (param, h.short(b)))
        eq(b["documents"][0]["name"], want, "stored name for %r" % param)
    for q, want in (("..%2F..%2Fq.txt", "q.txt"), ("..%5C..%5Cw.txt", "w.txt"),
                    ("%2Ftmp%2Fevil.md", "evil.md")):
        st, b = upload_raw(srv, q, ("raw traversal " + want + "\n").encode())
        eq(st, 201, "raw upload ?filename=%s (body %s)" % (q, h.short(b)))
        eq(b["documents"][0]["name"], want, "stored name for ?filename=%s" % q)
    # No extension left: refused by type, and nothing stored.
    st, b = upload_raw(srv, "..%2F..%2Fetc%2Fpasswd", b"root:x:0:0\n")
    eq(st, 415, "?filename=../../etc/passwd")
    check('"passwd"' in b["error"], "415 error names the file: %s" % b["error"])
    # A raw NUL byte in a part's headers is refused outright.
    st, b = upload_form(srv, form([(b"file", b'filename="a\x00b.txt"', b"nul\n")]))
    json_error(st, b, 400, "raw NUL in filename=")
    # lighttpd refuses %00 in a URL; docchat, reached directly, refuses it too.
    st, hd, _ = raw_request(srv, "POST", "/api/documents?filename=a%00b.txt", b"x\n",
                            {"Content-Type": "text/plain"})
    lighttpd_refused(st, hd, "?filename=a%00b.txt through lighttpd")
    r = srv.cgi("POST", "/documents", b"nul name\n", query="filename=a%00b.txt",
                content_type="text/plain")
    json_error(r.status, r.json(), 400, "?filename=a%00b.txt as CGI")
    for name in srv.documents():
        check("/" not in name and "\\" not in name and "\0" not in name and
              name not in (".", ".."), "stored name %r names a path" % name)
    # docchat's working directory is the state directory: nothing new appeared there.
    new = set(os.listdir(srv.state)) - state_before
    check(new <= {"docchat.db-wal", "docchat.db-shm"}, "files docchat created: %s" % new)


# ---------------------------------------------------------------------------------------
# Invalid UTF-8 and NUL

@test
def invalid_utf8_and_nul_in_json_bodies_are_400():
    srv = ctx["srv"]
    sid = srv.new_session("utf8")
    before = snapshot(srv)
    chat = "/api/chat/%s/stream" % sid
    cases = [
        (chat, b'{"question":"caf\xe9"}', "latin-1 byte in a question"),
        (chat, b'{"question":"\xc0\xaf"}', "overlong encoding"),
        (chat, b'{"question":"\xf4\x90\x80\x80"}', "code point past U+10FFFF"),
        (chat, b'{"question":"\xed\xa0\x80"}', "raw surrogate bytes"),
        (chat, b'{"question":"tea","model":"openai:\xff"}', "bad byte in a model name"),
        (chat, b'{"question":"a\\u0000b"}', "\\u0000 in a question"),
        (chat, b'{"question":"tea","model":"openai:fake\\u0000;tokens=3"}',
         "\\u0000 in a model name"),
        (chat, b'{"question":"tea","model":"extractive","search_mode":"all\\u0000x"}',
         "\\u0000 in search_mode"),
        (chat, b'{"question":"a\x00b"}', "raw NUL byte"),
        ("/api/sessions", b'{"title":"a\\u0000b"}', "\\u0000 in a title"),
        ("/api/sessions", b'{"title":"\xff\xfe"}', "bad bytes in a title"),
    ]
    for path, data, what in cases:
        st, b = post_json_bytes(srv, path, data)
        json_error(st, b, 400, what)
    st, _, b = raw_request(srv, "PATCH", "/api/sessions/" + sid, b'{"title":"x\\u0000y"}',
                           {"Content-Type": "application/json"})
    json_error(st, json.loads(b), 400, "\\u0000 in a new title")
    eq(srv.session(sid)["title"], "utf8", "title after the refused rename")
    check_intact(srv, before, {}, "refused bodies")
    # An unpaired surrogate escape is valid JSON; it is stored as U+FFFD.
    st, b = post_json_bytes(srv, chat, b'{"question":"a\\ud800b","model":"extractive"}')
    eq(st, 200, "question with an unpaired surrogate escape")
    raw = raw_request(srv, "GET", "/api/sessions/" + sid)[2]
    s = json.loads(raw.decode("utf-8"))       # strict: the reply is UTF-8
    eq(s["messages"][0]["content"], "a\ufffdb", "stored question")


@test
def invalid_utf8_and_nul_in_query_strings_are_400():
    srv = ctx["srv"]
    sid = srv.new_session()
    for qs in ("question=%ff%fe", "question=a%00b", "question=%c0%af",
               "question=tea&model=openai:fake%00x"):
        st, hd, _ = raw_request(srv, "GET", "/api/chat/%s/stream?%s" % (sid, qs))
        lighttpd_refused(st, hd, "GET stream ?%s through lighttpd" % qs)
        r = srv.cgi("GET", "/chat/%s/stream" % sid, query=qs)
        json_error(r.status, r.json(), 400, "GET stream ?%s as CGI" % qs)
    for qs in ("q=%ff", "q=tea%00x"):
        st, hd, _ = raw_request(srv, "GET", "/api/search?" + qs)
        lighttpd_refused(st, hd, "search ?%s through lighttpd" % qs)
        r = srv.cgi("GET", "/search", query=qs)
        json_error(r.status, r.json(), 400, "search ?%s as CGI" % qs)
    # Raw (not %-encoded) bytes in the request line.
    reply = raw_socket(srv, b"GET /api/search?q=\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    check(reply.startswith(b"HTTP/1.1 400 "), "raw bytes in the URL: %s" % h.short(reply[:80]))
    eq(srv.session(sid)["messages"], [], "messages stored by refused questions")


@test
def documents_that_are_not_utf8_or_hold_nul_are_422():
    srv = ctx["srv"]
    before = snapshot(srv)
    for name, data, want in (("nul.txt", b"tea\x00leaves\n", "NUL byte at byte 3"),
                             ("nul.md", b"# Tea\n\nleaf\x00\n", "NUL byte at byte 11"),
                             ("latin1.txt", b"caf\xe9 au lait\n", "not valid UTF-8 at byte 3"),
                             ("bad.html", b"<p>caf\xe9</p>", "not valid UTF-8 at byte 6"),
                             ("utf16.txt", "tea".encode("utf-16"), "UTF-16")):
        st, b = upload_raw(srv, name, data)
        msg = json_error(st, b, 422, "upload %s" % name)
        check(name in msg and want in msg, "422 for %s: %r lacks %r" % (name, msg, want))
    check_intact(srv, before, {}, "refused documents")
    # HTML drops NUL bytes (as browsers do): the text around them stays whole.
    st, b = upload_raw(srv, "nul.html", b"<p>oolong\x00brewing guide</p>\n")
    eq(st, 201, "HTML with a NUL byte (body %s)" % h.short(b))
    st, _, found = srv.request("GET", "/api/search?q=oolongbrewing")
    eq([r["text"] for r in found["results"]], ["oolongbrewing guide"], "the HTML's text")


# ---------------------------------------------------------------------------------------
# Oversized requests

@test
def oversized_headers_get_a_clean_431_from_lighttpd():
    srv = ctx["srv"]
    sid = srv.new_session()
    cases = [("GET", "/api/health", {"X-Big": "a" * 65536}, "a 64 KiB header"),
             ("GET", "/api/chat/%s/stream?question=tea" % sid, {"Cookie": "c" * 65536},
              "a 64 KiB cookie on a stream"),
             ("GET", "/api/health", {"X-H%d" % i: "v" for i in range(2000)}, "2000 headers"),
             ("GET", "/api/search?q=" + "a" * 70000, {}, "a 70 KiB URL")]
    for method, path, headers, what in cases:
        st, hd, _ = raw_request(srv, method, path, None, headers)
        lighttpd_refused(st, hd, what, want=431)
    # Just under lighttpd's limit, docchat gets the request and answers it.
    st, _, b = srv.request("GET", "/api/health", headers={"Cookie": "c" * 7000})
    eq(st, 200, "health with a 7000-byte cookie")
    eq(srv.session(sid)["messages"], [], "messages stored by refused requests")


@test
def huge_numbers_of_form_parts_are_a_quick_400():
    srv = ctx["srv"]
    before = snapshot(srv)
    body = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
                    for i in range(200000)) + b"--B--\r\n"
    t0 = time.monotonic()
    st, b = upload_form(srv, body)
    took = time.monotonic() - t0
    eq(json_error(st, b, 400, "200 000 parts"), "more than 100 parts in the multipart body",
       "400 message")
    check(took < 10, "200 000 parts took %.1fs" % took)
    fl.log("measured: 200 000 form parts (%.1f MB) refused in %.2fs" % (len(body) / 1e6, took))
    big = form([(b"file", b'filename="big.txt"\r\nX-Pad: ' + b"p" * (1 << 20), b"tea\n")])
    st, b = upload_form(srv, big)
    json_error(st, b, 400, "a part header of 1 MiB")
    # 100 parts is the limit itself: 99 fields and one file are fine.
    body = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
                    for i in range(99))
    body += form([(b"file", b'filename="hundred.txt"', b"The hundredth part.\n")])
    st, b = upload_form(srv, body)
    eq(st, 201, "99 fields and a file (body %s)" % h.short(b))
    eq([d["name"] for d in b["documents"]], ["hundred.txt"], "the one file")
    _, after = snapshot(srv)
    check_intact(srv, before, {"documents": 1, "chunks": after["chunks"] - before[1]["chunks"]},
                 "form parts")


# ---------------------------------------------------------------------------------------
# A client that never reads

def stuck_stream(srv, model):
    """Open a stream with a tiny receive buffer and never read it. Returns the socket
    and the session id."""
    sid = srv.new_session()
    body = json.dumps({"question": Q, "model": model}).encode()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(b"POST /api/chat/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                  sid.encode(), len(body), body))
    h.on_exit(lambda failed: s.close())
    return s, sid


def wait_stalled(fake, model):
    """Poll the fake until docchat stops taking tokens (its write to lighttpd blocks, so
    it stops reading the model): returns the tokens sent by then."""
    tag = fakelib.parse_scenario(model).tag
    seen = [None, time.monotonic()]

    def stalled():
        rs = fake.requests(tag)
        n = rs[0]["tokens_sent"] if rs else None
        now = time.monotonic()
        if n is None or n != seen[0]:
            seen[0], seen[1] = n, now
            return None
        check(not rs[0]["finished"], "the fake sent its whole answer: nothing blocked")
        return n if now - seen[1] >= 1.0 else None
    return h.wait_for(stalled, 60, "docchat to stop reading the model", 0.2)


def others_go_on(srv, n=3):
    """n streams at once complete while one client is stuck, and plain requests work."""
    st, _, b = srv.request("GET", "/api/health", timeout=10)
    eq(st, 200, "health while a client is stuck")
    models = [h.fake_model("openai", tokens=10, pace_ms=50) for _ in range(n)]
    sids = [srv.new_session() for _ in models]
    streams = [srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": m},
                          timeout=15) for sid, m in zip(sids, models)]
    for st, sid, m in zip(streams, sids, models):
        st.read_all()
        parts = h.split_events(st.events, sid, m)
        eq(parts["text"], fakelib.expected_text(m), "a stream beside the stuck one")


@test
def a_client_that_never_reads_blocks_no_one_and_frees_its_thread_when_it_goes():
    srv, fake = ctx["srv"], ctx["fake"]
    model = h.fake_model("openai", tokens=1000000)
    s, sid = stuck_stream(srv, model)
    sent = wait_stalled(fake, model)
    fl.log("measured: a client that never reads: docchat stopped after %d tokens "
           "(the rest of the way sits in lighttpd's and the kernel's buffers)" % sent)
    others_go_on(srv)
    t0 = time.monotonic()
    s.close()
    req = fake.request_for(model, timeout=10, pred=lambda r: r["closed_by_client"])
    took = req["closed_at"] - t0
    check(took < 3, "docchat let go of the model %.2fs after the client left" % took)
    fl.log("measured: the stuck client left; docchat hung up on the model %.2fs later" % took)
    asst = srv.final_assistant(sid)
    eq(asst["status"], "interrupted", "stored status of the stuck stream")
    check(fakelib.expected_text(model).startswith(asst["content"]) and asst["content"],
          "stored content is not a prefix of the answer: %s" % h.short(asst["content"]))
    others_go_on(srv)


@test
def a_client_that_stops_reading_for_a_while_gets_every_token():
    """Backpressure both ways: while the client reads nothing, docchat stops taking the
    model's tokens (its buffer for the web server passes the pause mark, so the model's
    transfer is paused); once the client reads again, the transfer resumes and the
    answer arrives whole, nothing lost or repeated."""
    srv, fake = ctx["srv"], ctx["fake"]
    tokens = 150000
    model = h.fake_model("openai", tokens=tokens)
    sid = srv.new_session()
    st = srv.stream("/api/chat/%s/stream" % sid, {"question": Q, "model": model}, timeout=120)
    events = iter(st)
    for _ in range(5):      # start, status, sources, status, the first chunk
        next(events)
    sent = wait_stalled(fake, model)
    check(sent < tokens, "the fake sent all %d tokens while the client read nothing" % tokens)
    fl.log("measured: a client that paused reading: docchat stopped after %d tokens" % sent)
    st.read_all()
    h.check_framing(st.parser)
    parts = h.split_events(st.events, sid, model)
    eq(len(parts["text"]), len(fakelib.expected_text(model)), "length of the answer")
    eq(parts["text"], fakelib.expected_text(model), "the answer after the pause")
    eq(srv.final_assistant(sid)["status"], "complete", "stored status")


@test
def a_stuck_client_is_cut_off_by_lighttpds_write_timeout():
    """The client neither reads nor leaves: lighttpd's server.max-write-idle (360 s as
    shipped, 3 s here) ends the response, and docchat's thread with it."""
    tmp, fake = ctx["tmp"], ctx["fake"]
    srv = fl.Served(tmp, fake, name="writeidle", conf_replace=[
        ("server.max-write-idle = 360", "server.max-write-idle = 3")])
    model = h.fake_model("ollama", tokens=1000000)
    s, sid = stuck_stream(srv, model)
    wait_stalled(fake, model)
    t0 = time.monotonic()
    req = fake.request_for(model, timeout=20, pred=lambda r: r["closed_by_client"])
    fl.log("measured: max-write-idle 3 s: docchat hung up on the model %.1fs after it "
           "stopped reading" % (req["closed_at"] - t0 + 1.0))
    asst = srv.final_assistant(sid)
    eq(asst["status"], "interrupted", "stored status of the stream lighttpd cut")
    s.close()
    others_go_on(srv)


if __name__ == "__main__":
    h.run(setup)
