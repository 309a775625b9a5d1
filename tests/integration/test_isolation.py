#!/usr/bin/env python3
"""test_isolation.py - who is asking, what each user may see, and CORS (issue #5).

docchat runs under lighttpd with DOCCHAT_AUTH=required and a CORS allowlist; the sample
documents are ingested from the command line (the shared library) and two users, alice
and bob, get bearer tokens from `docchat token create`. Then:

- /health answers anyone; every other endpoint (and an unknown path) answers a request
  without credentials 401 with `WWW-Authenticate: Bearer realm="docchat"` and the exact
  error body; unknown, malformed and revoked tokens get 401 with error="invalid_token",
  also with DOCCHAT_AUTH=none.
- With two users on every endpoint: each lists only their own sessions; the other's
  session answers GET, PATCH, DELETE and both chat forms 404 with exactly the body of a
  missing session, and is unchanged afterwards. Documents: each sees their uploads and
  the shared library, the other's document is 404 like a missing one for GET and DELETE,
  a shared document cannot be deleted by them, the same file uploaded by both is two
  documents (existed: false both times). /search and the chat's sources draw on the
  asker's documents and the shared library only, also when the other's document is
  named in document_ids. /models is the same for both.
- REMOTE_USER (CGI mode): with AUTH_TYPE it is the user and wins over a bearer token;
  without AUTH_TYPE it is ignored; an unusable name is 403. The same name through
  REMOTE_USER and through a token is the same user.
- lighttpd from the shipped template with its commented Basic-auth block switched on
  and an htpasswd file made here: lighttpd refuses requests without a password (the page
  too) but not /api/health, and the user it authenticated is the user docchat stores
  things under (alice by password sees what alice by token created).
- CORS: an allowed origin gets Access-Control-Allow-Origin (its own name, never "*"),
  Allow-Credentials and Vary: Origin, on errors too; any other origin gets no
  Access-Control-* header; preflights are answered 204 (allowed, with methods, headers
  and max-age, no credentials needed) or 403; a cross-site POST from an origin not on the
  list is refused (403) and creates nothing.
- `docchat token create|list|revoke` with their exact outputs; tokens appear in no log,
  database file, error body or `docchat config`; bad DOCCHAT_AUTH and
  DOCCHAT_CORS_ORIGINS values stop docchat with a message naming them.
- Through every shipped server config (lighttpd + spawn-fcgi, Apache mod_fcgid, Apache
  mod_proxy_fcgi, Apache CGI, nginx): the 401 with its challenge reaches the client, a
  bearer token reaches docchat, a Basic header the server did not check identifies
  nobody (nginx passes its name as REMOTE_USER without AUTH_TYPE: docchat's log line says
  it was ignored), and a preflight reaches docchat.
"""

import base64
import os
import re
import subprocess
import urllib.parse

import harness as h
import servers as sv
from harness import check, eq, fail, test

ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example"
MISSING = {"error": "authentication required: sign in through the web server, or send "
                    "Authorization: Bearer <token>"}
INVALID = {"error": "the token is invalid or revoked"}
CHALLENGE = 'Bearer realm="docchat"'
INVALID_CHALLENGE = 'Bearer realm="docchat", error="invalid_token"'
TOKEN_RE = re.compile(r"dc_[A-Za-z0-9_-]{43}")
TIME_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}"
UNKNOWN_TOKEN = "dc_" + "Q" * 43
MISSING_SID = "00000000-0000-4000-8000-000000000000"

ALICE_DOC = ("alice-notes.md", "# Alice's notes\n\nThe zanzibar marmalade needs seventeen "
             "quinces and one vanilla pod, simmered for forty minutes.\n")
BOB_DOC = ("bob-notes.md", "# Bob's notes\n\nThe quokka observatory opens at midnight on "
           "the first Tuesday of every month.\n")
SAME_DOC = ("same.txt", "Both users upload this file about the periwinkle lighthouse keeper.\n")
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}

ctx = {"tokens": {}}


def setup():
    tmp = h.TmpDir("isolation")
    # The per-server tests run web servers as www-data (as root): stage the binary.
    sv.stage(tmp)
    fake = h.FakeModel(tmp)
    srv = h.Docchat(tmp, fake, name="auth", overrides={
        "DOCCHAT_AUTH": "required",
        "DOCCHAT_CORS_ORIGINS": ORIGIN + ", http://localhost:5173",
    })
    ctx.update(tmp=tmp, fake=fake, srv=srv)
    for user in ("alice", "bob"):
        ctx["tokens"][user] = create_token(srv, user)


# ---------------------------------------------------------------------------------------
# Helpers

def create_token(srv, user, run=None):
    """`docchat token create USER`: checks its exact output, returns the token."""
    r = (run or srv.cli)(["token", "create", user])
    out = r.stdout.decode()
    err = r.stderr.decode()
    eq(r.returncode, 0, "token create %s exit status (%s)" % (user, err))
    check(TOKEN_RE.fullmatch(out.rstrip("\n")) and out.endswith("\n") and
          out.count("\n") == 1, "token create prints the token alone: %r" % out)
    token = out.strip()
    m = re.fullmatch(r"token ([0-9]+) for (.*) created; it is shown only this once "
                     r"\(docchat token list shows it as (dc_.{5})\)\n", err)
    check(m, "token create's note on stderr: %r" % err)
    eq(m.group(2), user, "user named in the note")
    eq(m.group(3), token[:8], "prefix named in the note")
    return token


def auth(user):
    return {"Authorization": "Bearer " + ctx["tokens"][user]}


def req(user, method, path, body=None, headers=None, srv=None):
    """A request as user (None: without credentials) to srv (default: the main one)."""
    hd = dict(auth(user) if user else {})
    hd.update(headers or {})
    return (srv or ctx["srv"]).request(method, path, body, headers=hd)


def ok(resp, status, what):
    st, hd, body = resp
    eq(st, status, "%s status (body %s)" % (what, h.short(body)))
    return body


def new_session(user, title, srv=None):
    s = ok(req(user, "POST", "/api/sessions", {"title": title}, srv=srv), 201,
           "POST /api/sessions as %s" % user)
    return s["id"]


def session_ids(user, srv=None):
    body = ok(req(user, "GET", "/api/sessions", srv=srv), 200, "GET /api/sessions as %s" % user)
    return [s["id"] for s in body["sessions"]]


def upload(user, name, text):
    body = ok(req(user, "POST", "/api/documents?filename=" + urllib.parse.quote(name),
                  text.encode(), {"Content-Type": "text/markdown"}), 201,
              "upload %s as %s" % (name, user))
    eq(len(body["documents"]), 1, "documents in the upload reply")
    return body["documents"][0]


def documents(user):
    body = ok(req(user, "GET", "/api/documents"), 200, "GET /api/documents as %s" % user)
    return {d["name"]: d for d in body["documents"]}


def uploads():
    """The ids of alice's and bob's private notes, uploaded once."""
    if "docs" not in ctx:
        ctx["docs"] = {"alice": upload("alice", *ALICE_DOC)["id"],
                       "bob": upload("bob", *BOB_DOC)["id"]}
    return ctx["docs"]


def stream(user, sid, question, method="POST", **fields):
    """Ask in session sid as user; returns the Stream, read to the end if it is one."""
    srv = ctx["srv"]
    if method == "GET":
        q = urllib.parse.urlencode(dict({"question": question}, **fields))
        st = srv.stream("/api/chat/%s/stream?%s" % (sid, q), None, method="GET",
                        headers=auth(user))
    else:
        body = dict({"question": question}, **fields)
        st = srv.stream("/api/chat/%s/stream" % sid, body, headers=auth(user))
    if st.status == 200:
        st.read_all()
        h.check_framing(st.parser)
    return st


def source_documents(st):
    ev = [e for e in st.events if e.get("type") == "sources"]
    eq(len(ev), 1, "sources events")
    return sorted({s["metadata"]["document"] for s in ev[0]["content"]})


def no_cors_headers(headers, what):
    found = [k for k in headers.keys() if k.lower().startswith("access-control-")]
    eq(found, [], "%s: Access-Control-* headers" % what)


def files_containing(directory, needles):
    """Files under directory whose bytes contain any of needles."""
    found = []
    for root, _, names in os.walk(directory):
        for n in names:
            p = os.path.join(root, n)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if any(x.encode() in data for x in needles):
                found.append(os.path.relpath(p, directory))
    return sorted(found)


# Every route but /health, with a plausible path (the session and document need not exist).
ENDPOINTS = [
    ("GET", "/api/sessions", None),
    ("POST", "/api/sessions", {"title": "x"}),
    ("GET", "/api/sessions/" + MISSING_SID, None),
    ("PATCH", "/api/sessions/" + MISSING_SID, {"title": "x"}),
    ("DELETE", "/api/sessions/" + MISSING_SID, None),
    ("POST", "/api/chat/%s/stream" % MISSING_SID, {"question": "tea?"}),
    ("GET", "/api/chat/%s/stream?question=tea" % MISSING_SID, None),
    ("GET", "/api/models", None),
    ("GET", "/api/documents", None),
    ("POST", "/api/documents?filename=a.md", "# a\n\ntext\n"),
    ("GET", "/api/documents/1", None),
    ("DELETE", "/api/documents/1", None),
    ("GET", "/api/search?q=tea", None),
    ("GET", "/api/no-such-thing", None),
]


# ---------------------------------------------------------------------------------------
# Credentials

@test
def health_is_open_to_anyone():
    for hd in ({}, {"Authorization": "Bearer " + UNKNOWN_TOKEN}, {"Authorization": "Basic eDp5"}):
        body = ok(req(None, "GET", "/api/health", headers=hd), 200, "GET /api/health %s" % hd)
        eq(body.get("status"), "ok", "health status")


@test
def every_endpoint_refuses_a_request_from_nobody():
    for method, path, body in ENDPOINTS:
        for hd in ({}, {"Authorization": "Basic YWxpY2U6eA=="}):
            st, headers, got = req(None, method, path, body, hd)
            what = "%s %s %s" % (method, path, hd)
            eq(st, 401, "%s status" % what)
            eq(headers.get_all("WWW-Authenticate"), [CHALLENGE], "%s WWW-Authenticate" % what)
            eq(got, MISSING, "%s body" % what)
            eq(headers.get("X-Content-Type-Options"), "nosniff", "%s nosniff" % what)


@test
def unknown_malformed_and_revoked_tokens_are_refused():
    srv = ctx["srv"]
    mallory = create_token(srv, "mallory")
    ok(req(None, "GET", "/api/sessions", headers={"Authorization": "Bearer " + mallory}), 200,
       "mallory's token before it is revoked")
    r = srv.cli(["token", "revoke", mallory[:8]])
    eq(r.returncode, 0, "token revoke exit status (%s)" % r.stderr.decode())
    check(re.fullmatch(r"revoked token [0-9]+ \(mallory, %s\)\n" % re.escape(mallory[:8]),
                       r.stdout.decode()), "token revoke output: %r" % r.stdout)
    for value in ("Bearer " + UNKNOWN_TOKEN, "Bearer " + mallory, "Bearer dc_short",
                  "Bearer", "bearer " + mallory + "x"):
        for method, path, body in (("GET", "/api/sessions", None),
                                   ("POST", "/api/sessions", {}),
                                   ("GET", "/api/documents", None)):
            st, headers, got = req(None, method, path, body, {"Authorization": value})
            what = "%s %s with %r" % (method, path, value[:20])
            eq(st, 401, "%s status" % what)
            eq(headers.get_all("WWW-Authenticate"), [INVALID_CHALLENGE],
               "%s WWW-Authenticate" % what)
            eq(got, INVALID, "%s body" % what)
    ctx["tokens"]["mallory"] = mallory


@test
def a_bad_token_is_refused_with_auth_none_too():
    d = h.Docchat(ctx["tmp"], None, name="authnone", ingest=False, serve=False)
    eq(d.settings.get("DOCCHAT_AUTH"), "none", "the harness's DOCCHAT_AUTH")
    r = d.cgi("GET", "/sessions")
    eq(r.status, 200, "no credentials with DOCCHAT_AUTH=none (body %s)" % h.short(r.body))
    r = d.cgi("GET", "/sessions", env={"HTTP_AUTHORIZATION": "Bearer " + UNKNOWN_TOKEN})
    eq(r.status, 401, "an unknown token with DOCCHAT_AUTH=none")
    eq(r.json(), INVALID, "its body")
    eq(r.headers.get("www-authenticate"), INVALID_CHALLENGE, "its WWW-Authenticate")


# ---------------------------------------------------------------------------------------
# Sessions and chat

@test
def sessions_belong_to_their_user():
    a = new_session("alice", "alice's plans")
    b = new_session("bob", "bob's plans")
    check(a in session_ids("alice") and b not in session_ids("alice"),
          "alice's list: %s" % session_ids("alice"))
    check(b in session_ids("bob") and a not in session_ids("bob"),
          "bob's list: %s" % session_ids("bob"))
    # bob on alice's session: exactly what a session that does not exist answers.
    for sid in (a, MISSING_SID):
        want = {"error": "no such session: %s" % sid}
        for method, body in (("GET", None), ("PATCH", {"title": "bob was here"}),
                             ("DELETE", None)):
            st, hd, got = req("bob", method, "/api/sessions/" + sid, body)
            eq((st, got), (404, want), "bob %s /api/sessions/%s" % (method, sid))
    s = ok(req("alice", "GET", "/api/sessions/" + a), 200, "alice GET her session")
    eq(s["title"], "alice's plans", "alice's title after bob's PATCH")
    ok(req("alice", "PATCH", "/api/sessions/" + a, {"title": "renamed"}), 200, "alice PATCH")
    ok(req("alice", "DELETE", "/api/sessions/" + a), 204, "alice DELETE")
    eq(req("alice", "GET", "/api/sessions/" + a)[0], 404, "alice GET after DELETE")
    ok(req("bob", "GET", "/api/sessions/" + b), 200, "bob GET his session")


@test
def chat_on_another_users_session_is_404():
    a = new_session("alice", "alice asks")
    for sid in (a, MISSING_SID):
        want = {"error": "no such session: %s" % sid}
        for method in ("POST", "GET"):
            st = stream("bob", sid, "How long should green tea steep?", method=method)
            eq((st.status, st.body), (404, want), "bob %s /chat/%s/stream" % (method, sid))
    s = ok(req("alice", "GET", "/api/sessions/" + a), 200, "alice's session")
    eq(s["message_count"], 0, "messages in alice's session after bob's attempts")
    st = stream("alice", a, "How long should green tea steep?")
    h.check_stream_headers(st)
    eq(st.events[-1].get("type"), "done", "alice's stream ends with done")
    eq(source_documents(st)[0:1], ["tea.txt"], "alice's sources (shared library)")
    s = ok(req("alice", "GET", "/api/sessions/" + a), 200, "alice's session")
    eq(s["message_count"], 2, "messages in alice's session after her question")


# ---------------------------------------------------------------------------------------
# Documents, search, chat sources

@test
def documents_belong_to_their_user():
    ids = uploads()
    shared = {"install.md", "tea.txt", "japan.md"}
    mine = documents("alice")
    eq(sorted(mine), sorted(shared | {"alice-notes.md"}), "alice's documents")
    eq(sorted(documents("bob")), sorted(shared | {"bob-notes.md"}), "bob's documents")
    eq(mine["alice-notes.md"]["shared"], False, "alice-notes.md shared")
    eq(mine["tea.txt"]["shared"], True, "tea.txt shared")
    # bob on alice's document: exactly what a document that does not exist answers.
    for doc_id in (ids["alice"], 999999):
        want = {"error": "no such document: %d" % doc_id}
        for method in ("GET", "DELETE"):
            st, hd, got = req("bob", method, "/api/documents/%d" % doc_id)
            eq((st, got), (404, want), "bob %s /api/documents/%d" % (method, doc_id))
    ok(req("alice", "GET", "/api/documents/%d" % ids["alice"]), 200, "alice GET her document")
    # A shared document is visible to all but deleted by none of them.
    tea = mine["tea.txt"]["id"]
    ok(req("bob", "GET", "/api/documents/%d" % tea), 200, "bob GET a shared document")
    st, hd, got = req("bob", "DELETE", "/api/documents/%d" % tea)
    eq((st, got), (404, {"error": "no such document: %d" % tea}), "bob DELETE a shared document")
    check("tea.txt" in documents("alice"), "tea.txt is gone after bob's DELETE")


@test
def the_same_file_from_two_users_is_two_documents():
    a = upload("alice", *SAME_DOC)
    b = upload("bob", *SAME_DOC)
    eq(a["existed"], False, "alice's upload existed")
    eq(b["existed"], False, "bob's upload existed (would tell bob that someone has it)")
    check(a["id"] != b["id"], "both uploads got id %s" % a["id"])
    again = upload("bob", *SAME_DOC)
    eq((again["existed"], again["id"]), (True, b["id"]), "bob uploading it again")
    ok(req("bob", "DELETE", "/api/documents/%d" % b["id"]), 204, "bob deletes his copy")
    ok(req("alice", "GET", "/api/documents/%d" % a["id"]), 200, "alice's copy after that")
    ok(req("alice", "DELETE", "/api/documents/%d" % a["id"]), 204, "alice deletes hers")


@test
def search_sees_own_and_shared_documents_only():
    uploads()
    q = "/api/search?q=" + urllib.parse.quote("zanzibar marmalade quinces")
    got = ok(req("alice", "GET", q), 200, "alice's search")
    eq(sorted({r["metadata"]["document"] for r in got["results"]}), ["alice-notes.md"],
       "alice's results")
    got = ok(req("bob", "GET", q), 200, "bob's search")
    eq(got["results"], [], "bob's results for alice's words")
    q = "/api/search?q=" + urllib.parse.quote("quokka observatory midnight")
    got = ok(req("alice", "GET", q), 200, "alice searching bob's words")
    eq(got["results"], [], "alice's results for bob's words")
    q = "/api/search?q=" + urllib.parse.quote("green tea steep minutes")
    for user in ("alice", "bob"):
        got = ok(req(user, "GET", q), 200, "%s's search of the shared library" % user)
        eq(got["results"][0]["metadata"]["document"], "tea.txt", "%s's first result" % user)


@test
def chat_sources_come_from_own_and_shared_documents_only():
    ids = uploads()
    q = "How many quinces does the zanzibar marmalade need?"
    b = new_session("bob", "bob asks")
    st = stream("bob", b, q)
    eq(st.status, 200, "bob's stream")
    check("alice-notes.md" not in source_documents(st), "bob's sources: %s" %
          source_documents(st))
    # Naming alice's document does not let bob search it.
    st = stream("bob", b, q, search_mode="selected", document_ids=[ids["alice"]])
    eq(st.status, 200, "bob's stream with alice's document id")
    eq(source_documents(st), [], "bob's sources from alice's document")
    a = new_session("alice", "alice asks")
    st = stream("alice", a, q)
    eq(source_documents(st)[0:1], ["alice-notes.md"], "alice's sources")
    st = stream("alice", a, q, search_mode="selected", document_ids=[ids["alice"]])
    eq(source_documents(st), ["alice-notes.md"], "alice's sources from her own document")


@test
def the_log_line_names_the_user():
    """Each request's log line says who asked: user="NAME" (quoted, \" escaped), "-" for
    nobody; a relayed stream's line is written when it ends and names its user too."""
    srv = ctx["srv"]
    sid = new_session("alice", "log")
    st = stream("alice", sid, "How long should green tea steep?", model="extractive")
    eq(st.status, 200, "stream as alice")
    ok(req(None, "GET", "/api/sessions"), 401, "GET /api/sessions as nobody")
    log = os.path.join(srv.state, "lighttpd.out")

    def lines():
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        want = [re.search(r"POST /sessions 201 \d+ms user=\"alice\" ", text),
                re.search(r"POST /chat/%s/stream 200 \d+ms user=\"alice\" model=extractive "
                          r"tokens=\d+" % re.escape(sid), text),
                re.search(r"GET /sessions 401 \d+ms user=- ", text)]
        return all(want)
    h.wait_for(lines, 10, "log lines naming alice and nobody in %s" % log)


@test
def models_are_the_same_for_everyone():
    a = ok(req("alice", "GET", "/api/models"), 200, "alice's /models")
    b = ok(req("bob", "GET", "/api/models"), 200, "bob's /models")
    eq(a, b, "/models for alice and bob")


# ---------------------------------------------------------------------------------------
# REMOTE_USER

@test
def remote_user_with_auth_type_is_the_user_in_cgi_mode():
    srv = ctx["srv"]
    a = new_session("alice", "made with alice's token")
    basic = {"REMOTE_USER": "alice", "AUTH_TYPE": "Basic"}
    r = srv.cgi("GET", "/sessions", env=basic)
    eq(r.status, 200, "REMOTE_USER=alice (body %s)" % h.short(r.body))
    got = [s["id"] for s in r.json()["sessions"]]
    eq(got, session_ids("alice"), "REMOTE_USER alice's sessions = token alice's sessions")
    check(a in got, "the session alice made with her token")
    # The web server's word wins over a token.
    r = srv.cgi("GET", "/sessions", env=dict(basic, HTTP_AUTHORIZATION="Bearer " +
                                              ctx["tokens"]["bob"]))
    eq([s["id"] for s in r.json()["sessions"]], session_ids("alice"),
       "REMOTE_USER alice with bob's token")
    # Something made as REMOTE_USER alice is alice's for her token too.
    r = srv.cgi("POST", "/sessions", {"title": "made by the web server's alice"}, env=basic)
    eq(r.status, 201, "POST as REMOTE_USER alice")
    sid = r.json()["id"]
    check(sid in session_ids("alice") and sid not in session_ids("bob"),
          "the session made as REMOTE_USER alice")
    # Without AUTH_TYPE, REMOTE_USER is nobody's word.
    r = srv.cgi("GET", "/sessions", env={"REMOTE_USER": "alice"})
    eq((r.status, r.json()), (401, MISSING), "REMOTE_USER without AUTH_TYPE")
    r = srv.cgi("GET", "/sessions", env={"REMOTE_USER": "alice", "HTTP_AUTHORIZATION":
                                         "Bearer " + ctx["tokens"]["bob"]})
    eq([s["id"] for s in r.json()["sessions"]], session_ids("bob"),
       "REMOTE_USER without AUTH_TYPE and bob's token")
    r = srv.cgi("GET", "/sessions", env={"REMOTE_USER": "al\x01ice", "AUTH_TYPE": "Basic"})
    eq((r.status, r.json()), (403, {"error": "the user name the web server authenticated is "
                                             "not usable (over 128 bytes, not UTF-8, or "
                                             "control characters)"}),
       "an unusable REMOTE_USER")


def basic_site():
    """lighttpd from the shipped template with its Basic-auth block uncommented, over the
    main instance's database; returns its harness.Docchat."""
    if "basic" in ctx:
        return ctx["basic"]
    srv = ctx["srv"]
    d = h.Docchat(ctx["tmp"], ctx["fake"], name="basic", ingest=False, serve=False,
                  overrides={"DOCCHAT_AUTH": "required", "DOCCHAT_DB": srv.db_path})
    said = h.serve_with_basic_auth(d, PASSWORDS)
    check("Warning" not in said, "lighttpd warns about the Basic-auth block: %s" % said)
    ctx["basic"] = d
    return d


def basic(user, password=None):
    raw = "%s:%s" % (user, password or PASSWORDS[user])
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@test
def lighttpd_basic_auth_sets_the_user():
    d = basic_site()
    # /api/health stays open; the API and the page need a password, checked by lighttpd.
    eq(d.request("GET", "/api/health")[0], 200, "GET /api/health without a password")
    for path in ("/api/sessions", "/"):
        for hd in ({}, basic("alice", "wrong"), auth("alice")):
            st, headers, _ = d.request("GET", path, headers=hd)
            eq(st, 401, "GET %s %s through lighttpd's Basic auth" % (path, hd))
            check((headers.get("WWW-Authenticate") or "").startswith('Basic realm="docchat"'),
                  "lighttpd's own challenge: %r" % headers.get("WWW-Authenticate"))
    st, _, _ = d.request("GET", "/", headers=basic("alice"))
    eq(st, 200, "the page with alice's password")
    # The user lighttpd authenticated is the user: the same as alice by token.
    st, _, body = d.request("GET", "/api/sessions", headers=basic("alice"))
    eq(st, 200, "GET /api/sessions as alice by password (body %s)" % h.short(body))
    eq([s["id"] for s in body["sessions"]], session_ids("alice"),
       "alice's sessions by password and by token")
    st, _, s = d.request("POST", "/api/sessions", {"title": "by password"},
                         headers=basic("bob"))
    eq(st, 201, "POST /api/sessions as bob by password")
    check(s["id"] in session_ids("bob") and s["id"] not in session_ids("alice"),
          "bob's session made by password")
    uploads()
    st, _, body = d.request("GET", "/api/documents", headers=basic("alice"))
    names = sorted(x["name"] for x in body["documents"])
    check("alice-notes.md" in names and "bob-notes.md" not in names,
          "alice's documents by password: %s" % names)


# ---------------------------------------------------------------------------------------
# CORS

@test
def an_allowed_origin_gets_cors_headers_on_every_response():
    for user, status in (("alice", 200), (None, 401)):
        st, headers, _ = req(user, "GET", "/api/sessions", headers={"Origin": ORIGIN})
        what = "GET /api/sessions from %s as %s" % (ORIGIN, user)
        eq(st, status, what)
        eq(headers.get_all("Access-Control-Allow-Origin"), [ORIGIN], "%s: Allow-Origin" % what)
        eq(headers.get_all("Access-Control-Allow-Credentials"), ["true"],
           "%s: Allow-Credentials" % what)
        eq(headers.get_all("Access-Control-Expose-Headers"), ["Retry-After"],
           "%s: Expose-Headers (a 429's Retry-After readable by the page)" % what)
        eq(headers.get_all("Vary"), ["Origin"], "%s: Vary" % what)
    st, headers, _ = req(None, "GET", "/api/health", headers={"Origin": "http://localhost:5173"})
    eq(headers.get_all("Access-Control-Allow-Origin"), ["http://localhost:5173"],
       "the second origin of the list")
    a = new_session("alice", "for the stream")
    st = ctx["srv"].stream("/api/chat/%s/stream" % a, {"question": "green tea?"},
                           headers=dict(auth("alice"), Origin=ORIGIN))
    h.check_stream_headers(st)
    eq(st.headers.get_all("Access-Control-Allow-Origin"), [ORIGIN], "the stream's Allow-Origin")
    st.read_all()


@test
def other_origins_get_no_cors_headers():
    for origin in (OTHER_ORIGIN, ORIGIN + "/", "https://APP.example.com", "null",
                   "https://app.example.com.evil.example"):
        st, headers, _ = req("alice", "GET", "/api/sessions", headers={"Origin": origin})
        eq(st, 200, "GET from %s" % origin)
        no_cors_headers(headers, "GET from %s" % origin)
        eq(headers.get_all("Vary"), ["Origin"], "GET from %s: Vary" % origin)
    st, headers, _ = req("alice", "GET", "/api/sessions")
    no_cors_headers(headers, "GET without Origin")


@test
def preflights_are_answered_before_credentials():
    hd = {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE",
          "Access-Control-Request-Headers": "authorization, content-type"}
    st, headers, body = req(None, "OPTIONS", "/api/sessions/" + MISSING_SID, headers=hd)
    eq(st, 204, "preflight from %s (body %s)" % (ORIGIN, h.short(body)))
    eq(headers.get_all("Access-Control-Allow-Origin"), [ORIGIN], "preflight Allow-Origin")
    eq(headers.get_all("Access-Control-Allow-Credentials"), ["true"], "Allow-Credentials")
    eq(headers.get_all("Access-Control-Allow-Methods"), ["GET, POST, PATCH, DELETE, OPTIONS"],
       "Allow-Methods")
    eq(headers.get_all("Access-Control-Allow-Headers"), ["Authorization, Content-Type"],
       "Allow-Headers")
    eq(headers.get_all("Access-Control-Max-Age"), ["600"], "Max-Age")
    eq(headers.get("X-Content-Type-Options"), "nosniff", "preflight nosniff")
    hd["Origin"] = OTHER_ORIGIN
    st, headers, body = req(None, "OPTIONS", "/api/sessions", headers=hd)
    eq((st, body), (403, {"error": "origin https://evil.example may not call docchat (it is "
                                   "not in DOCCHAT_CORS_ORIGINS)"}), "preflight from elsewhere")
    no_cors_headers(headers, "refused preflight")


@test
def a_cross_site_write_from_another_origin_is_refused():
    before = session_ids("alice")
    for site in ("cross-site", "same-site"):
        st, headers, body = req("alice", "POST", "/api/sessions", {"title": "forged"},
                                {"Origin": OTHER_ORIGIN, "Sec-Fetch-Site": site})
        eq((st, body), (403, {"error": "a POST request from another site (origin "
                                       "https://evil.example) is refused: that origin is not "
                                       "in DOCCHAT_CORS_ORIGINS"}),
           "POST from %s, Sec-Fetch-Site: %s" % (OTHER_ORIGIN, site))
        no_cors_headers(headers, "refused POST")
    eq(session_ids("alice"), before, "alice's sessions after the forged POSTs")
    # A cross-site read is served (the browser keeps it from the page); the page's own
    # origin and the allowed one may write.
    eq(req("alice", "GET", "/api/sessions", headers={"Origin": OTHER_ORIGIN,
                                                     "Sec-Fetch-Site": "cross-site"})[0], 200,
       "a cross-site GET")
    for hd in ({"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1"},
               {"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN}):
        eq(req("alice", "POST", "/api/sessions", {"title": "fine"}, hd)[0], 201,
           "POST with %s" % hd)


@test
def without_an_allowlist_no_origin_is_allowed():
    d = h.Docchat(ctx["tmp"], None, name="nocors", ingest=False, serve=False)
    r = d.cgi("GET", "/sessions", env={"HTTP_ORIGIN": ORIGIN})
    eq(r.status, 200, "GET with an Origin")
    eq([k for k in r.headers if k.startswith("access-control-") or k == "vary"], [],
       "CORS headers without DOCCHAT_CORS_ORIGINS")
    r = d.cgi("OPTIONS", "/sessions", env={"HTTP_ORIGIN": ORIGIN,
                                           "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"})
    eq((r.status, r.json()), (403, {"error": "origin https://app.example.com may not call "
                                             "docchat (it is not in DOCCHAT_CORS_ORIGINS)"}),
       "a preflight without DOCCHAT_CORS_ORIGINS")


# ---------------------------------------------------------------------------------------
# The command line, settings and secrets

@test
def token_commands_show_each_token_once():
    d = h.Docchat(ctx["tmp"], None, name="tokens", ingest=False, serve=False)
    t1 = create_token(d, "alice")
    t2 = create_token(d, "José")
    t3 = create_token(d, "carol")
    r = d.cli(["token", "list"])
    eq(r.returncode, 0, "token list exit status")
    lines = r.stdout.decode().split("\n")
    eq(lines[0], "  ID  USER              PREFIX    CREATED (UTC)     LAST USED (UTC)   "
                 "REVOKED (UTC)", "token list header")
    for i, (user, t) in enumerate((("alice", t1), ("José", t2), ("carol", t3))):
        check(re.fullmatch(r"   %d  %-16s  %s  %s  never             -" % (
            i + 1, re.escape(user), re.escape(t[:8]), TIME_RE), lines[i + 1]),
            "token list line %d: %r" % (i + 1, lines[i + 1]))
    eq(lines[4:], [""], "token list ends after three tokens")
    for t in (t1, t2, t3):
        check(t[8:] not in r.stdout.decode(), "token list shows more than the prefix")

    def revoke(arg, rc, out, err):
        r = d.cli(["token", "revoke", arg])
        eq((r.returncode, r.stdout.decode(), r.stderr.decode()), (rc, out, err),
           "token revoke %s" % arg[:10])
    revoke(t1[:8], 0, "revoked token 1 (alice, %s)\n" % t1[:8], "")
    revoke("1", 1, "", "docchat: token 1 (alice, %s) is already revoked\n" % t1[:8])
    revoke(t2, 0, "revoked token 2 (José, %s)\n" % t2[:8], "")
    revoke("3", 0, "revoked token 3 (carol, %s)\n" % t3[:8], "")
    revoke("42", 1, "", "docchat: no token 42 (see docchat token list)\n")
    revoke("dc_ZZZZZ", 1, "", "docchat: no token dc_ZZZZZ (see docchat token list)\n")
    revoke("alice", 2, "", "docchat token: token revoke takes one token ID or prefix, as "
                           "docchat token list shows them (see docchat --help)\n")
    r = d.cli(["token", "list"])
    check(re.fullmatch(r"   1  alice             %s  %s  never             %s" % (
        re.escape(t1[:8]), TIME_RE, TIME_RE), r.stdout.decode().split("\n")[1]),
        "a revoked token in the list: %r" % r.stdout.decode().split("\n")[1])
    for args, err in ((["token", "create", ""], "a user name is 1 to 128 bytes of UTF-8 "
                       "without control characters"),
                      (["token", "create", "a\nb"], "a user name is 1 to 128 bytes of UTF-8 "
                       "without control characters"),
                      (["token", "create"], "token create takes one user name"),
                      (["token"], "say create USER, list or revoke ID|PREFIX"),
                      (["token", "show"], "say create USER, list or revoke ID|PREFIX")):
        r = d.cli(args)
        eq((r.returncode, r.stdout.decode(), r.stderr.decode()),
           (2, "", "docchat token: %s (see docchat --help)\n" % err), "docchat %s" % args)
    # The database keeps hashes: no token's text is in any of its files.
    eq(files_containing(d.state, [t[3:] for t in (t1, t2, t3)]), [],
       "files holding a token's text")


@test
def token_use_is_recorded():
    r = ctx["srv"].cli(["token", "list"])
    line = [x for x in r.stdout.decode().split("\n") if "  alice  " in x]
    eq(len(line), 1, "alice's line in token list")
    check(re.fullmatch(r" +[0-9]+  alice             dc_.{5}  %s  %s  -" % (TIME_RE, TIME_RE),
                       line[0]), "alice's token has been used: %r" % line[0])


@test
def bad_access_settings_stop_docchat():
    d = ctx["srv"]
    for env, err in (
            ({"DOCCHAT_AUTH": "maybe"}, "DOCCHAT_AUTH: 'maybe' is not one of none, required"),
            ({"DOCCHAT_CORS_ORIGINS": "*"}, "DOCCHAT_CORS_ORIGINS: '*': \"*\" cannot be used "
                                            "because docchat allows credentials; list each "
                                            "origin"),
            ({"DOCCHAT_CORS_ORIGINS": "https://ok.example https://bad.example/path"},
             "DOCCHAT_CORS_ORIGINS: 'https://bad.example/path': an origin has no path, query "
             "or trailing slash, only scheme://host[:port]")):
        r = d.cli(["config"], env=env)
        eq((r.returncode, r.stderr.decode()), (1, "docchat: configuration: %s\n" % err),
           "docchat config with %s" % env)
    r = d.cli(["config"])
    lines = r.stdout.decode().split("\n")
    check("DOCCHAT_AUTH=required" in lines, "docchat config: %s" % h.short(r.stdout))
    check("DOCCHAT_CORS_ORIGINS=%s, http://localhost:5173" % ORIGIN in lines,
          "docchat config: %s" % h.short(r.stdout))


@test
def tokens_are_in_no_log_or_database_file():
    # Every token used in this file, revoked ones included, after all the requests above.
    tokens = list(ctx["tokens"].values())
    eq(files_containing(ctx["srv"].state, [t[3:] for t in tokens]), [],
       "files of the lighttpd instance holding a token")


# ---------------------------------------------------------------------------------------
# Through every shipped server config

SERVERS = [
    ("lighttpd_spawnfcgi", "lighttpd-spawnfcgi", [h.LIGHTTPD, sv.SPAWN_FCGI],
     "lighttpd spawn-fcgi"),
    ("apache_fcgid", "apache-fcgid", [sv.APACHE, sv.APACHE_MODULES + "/mod_fcgid.so"],
     "apache2 libapache2-mod-fcgid"),
    ("apache_proxy_fcgi", "apache-proxy-fcgi",
     [sv.APACHE, sv.APACHE_MODULES + "/mod_proxy_fcgi.so", sv.SPAWN_FCGI],
     "apache2 spawn-fcgi"),
    ("apache_cgi", "apache-cgi", [sv.APACHE, sv.APACHE_MODULES + "/mod_cgid.so"], "apache2"),
    ("nginx_spawnfcgi", "nginx-spawnfcgi", [sv.NGINX, sv.SPAWN_FCGI], "nginx-light spawn-fcgi"),
]


def cli_as_server_user(d):
    """d.cli, run as the user the servers run docchat as (so that files SQLite creates
    next to the database stay theirs)."""
    def run(args):
        kw = {}
        if sv.RUN_AS is not None:
            kw = {"user": sv.RUN_AS, "group": sv.RUN_AS, "extra_groups": []}
        return subprocess.run([sv.BIN] + list(args), env=h.clean_env(
            {"DOCCHAT_CONFIG": d.config_path}), capture_output=True, timeout=60, cwd=d.state,
            **kw)
    return run


def server_test(name, kind, needs, packages):
    def fn():
        gone = [p for p in needs if not os.path.exists(p)]
        if gone:
            h.skip("%s is not installed (Debian packages: %s)" % (gone[0], packages))
        site = sv.Site(ctx["tmp"], ctx["fake"], kind, "auth-" + name, overrides={
            "DOCCHAT_AUTH": "required", "DOCCHAT_CORS_ORIGINS": ORIGIN})
        try:
            d = site.srv
            token = create_token(d, "alice", run=cli_as_server_user(d))
            eq(d.request("GET", "/api/health")[0], 200, "GET /api/health without credentials")
            st, headers, body = d.request("GET", "/api/sessions")
            eq((st, body), (401, MISSING), "GET /api/sessions without credentials")
            eq(headers.get("WWW-Authenticate"), CHALLENGE, "the challenge through %s" % kind)
            bearer = {"Authorization": "Bearer " + token}
            st, _, s = d.request("POST", "/api/sessions", {"title": "via " + kind},
                                 headers=bearer)
            eq(st, 201, "POST /api/sessions with a token through %s (body %s)" % (
                kind, h.short(s)))
            st, _, body = d.request("GET", "/api/sessions", headers=bearer)
            eq([x["id"] for x in body["sessions"]], [s["id"]], "alice's sessions")
            # A Basic header the server did not check identifies nobody.
            st, _, body = d.request("GET", "/api/sessions", headers=basic("alice", "x"))
            eq((st, body), (401, MISSING), "an unchecked Basic header through %s" % kind)
            if kind.startswith("nginx"):
                log = h.tail(site.spawn.log_path, 400)
                check("REMOTE_USER came without AUTH_TYPE and is not trusted" in log,
                      "nginx's REMOTE_USER from the Basic header, ignored: %s" % h.short(log))
            st, headers, body = d.request("OPTIONS", "/api/sessions", headers={
                "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
            eq(st, 204, "a preflight through %s (body %s)" % (kind, h.short(body)))
            eq(headers.get("Access-Control-Allow-Origin"), ORIGIN,
               "the preflight's Allow-Origin through %s" % kind)
        finally:
            site.stop()
    fn.__name__ = "tokens_and_preflights_through_" + name
    test(fn)


for _server in SERVERS:
    server_test(*_server)


if __name__ == "__main__":
    h.run(setup)
