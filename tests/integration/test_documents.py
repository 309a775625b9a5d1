#!/usr/bin/env python3
"""test_documents.py - uploading, reading and deleting documents through lighttpd, per
doc/API.md's /documents rows.

Uploads .md and .txt files as multipart/form-data (one and several files per request)
and as a raw body with ?filename=; the same content again answers existed: true with the
old id. GET /documents lists the uploads, GET /documents/{id} shows one with its chunk
count, a chat question finds an uploaded document as a source, DELETE removes it (204,
then 404 everywhere). Refusals, each with its status and a message: a body over
DOCCHAT_MAX_UPLOAD (413, set small here, while DOCCHAT_MAX_BODY, smaller still, does not
apply to uploads), an .exe (415 naming the supported types), an empty file and Latin-1
text (422 naming the file), a failing part after a good one (the good one stays stored),
more than 100 parts, malformed bodies and ids (400). File names that try to name a path
are stored under their last component only.
"""

import json
import os
import subprocess
import time
import urllib.parse

import harness as h
from harness import check, eq, test

ctx = {}
MAX_UPLOAD = 8192
MAX_BODY = 1024
MAX_PARTS = 100

KETTLE = ("# The zephyrine kettle\n\n"
          "The zephyrine kettle whistles when the water reaches ninety-three degrees. "
          "Descale the zephyrine kettle every month with citric acid.\n")
ORCHID = ("Moth orchids want bright indirect light and a weekly soak. Let the orchid bark "
          "dry between waterings; repot the orchid every second spring.\n")
BIG_OK = ("Padding sentence about lanterns and quinces for the size limit test. " * 45)


def setup():
    tmp = h.TmpDir("documents")
    fake = h.FakeModel(tmp)
    ctx["srv"] = h.Docchat(tmp, fake, overrides={
        "DOCCHAT_MAX_UPLOAD": str(MAX_UPLOAD),
        "DOCCHAT_MAX_BODY": str(MAX_BODY),
    })


_boundary_counter = [0]


def multipart(parts, boundary=None):
    """(content_type, body) for parts given as (field, filename or None, bytes) or
    (field, None, bytes, raw Content-Disposition parameters after the name)."""
    _boundary_counter[0] += 1
    boundary = boundary or "----docchat-test-%d" % _boundary_counter[0]
    b = boundary.encode()
    out = []
    for part in parts:
        field, filename, data = part[:3]
        disp = 'form-data; name="%s"' % field
        if filename is not None:
            disp += '; filename="%s"' % filename.replace('"', '\\"')
        if len(part) > 3:
            disp += "; " + part[3]
        out += [b"--", b, b"\r\n", b"Content-Disposition: ", disp.encode("utf-8"), b"\r\n",
                b"Content-Type: application/octet-stream\r\n\r\n", data, b"\r\n"]
    out += [b"--", b, b"--\r\n"]
    return "multipart/form-data; boundary=%s" % boundary, b"".join(out)


def post_form(parts, boundary=None):
    ctype, body = multipart(parts, boundary)
    return ctx["srv"].request("POST", "/api/documents", body, headers={"Content-Type": ctype})


def post_raw(name, data, ctype="application/octet-stream"):
    path = "/api/documents?filename=" + urllib.parse.quote(name, safe="")
    return ctx["srv"].request("POST", path, data, headers={"Content-Type": ctype})


def json_reply(status, headers, body, want, what):
    eq(status, want, "%s: status (body %s)" % (what, h.short(body)))
    ctype = headers.get("Content-Type") or ""
    check(ctype.startswith("application/json"), "%s: Content-Type %r" % (what, ctype))
    check(isinstance(body, dict), "%s: body is not an object: %s" % (what, h.short(body)))
    return body


def error_reply(status, headers, body, want, what):
    body = json_reply(status, headers, body, want, what)
    check(isinstance(body.get("error"), str) and body["error"],
          "%s: no error message: %s" % (what, h.short(body)))
    return body["error"]


def check_document(d, name, data, existed=None):
    check(isinstance(d, dict), "document is not an object: %s" % h.short(d))
    check(h.is_int(d.get("id")) and d["id"] > 0, "document id: %s" % h.short(d))
    eq(d.get("name"), name, "document name")
    eq(d.get("size"), len(data), "size of %s" % name)
    check(h.is_int(d.get("chunks")) and d["chunks"] >= 1, "chunks of %s" % h.short(d))
    check(h.is_int(d.get("created_at")) and abs(d["created_at"] - time.time()) < 600,
          "created_at of %s" % h.short(d))
    eq(d.get("shared"), True, "shared (uploads of the local user belong to the library)")
    if existed is not None:
        eq(d.get("existed"), existed, "existed of %s" % name)


def uploaded(body, names, what):
    docs = body.get("documents")
    check(isinstance(docs, list), "%s: documents: %s" % (what, h.short(body)))
    eq([d.get("name") for d in docs], names, "%s: uploaded names" % what)
    return docs


# ---------------------------------------------------------------------------------------
# Uploading

@test
def upload_markdown_as_multipart():
    data = KETTLE.encode("utf-8")
    st, hd, body = post_form([("file", "kettle.md", data)])
    json_reply(st, hd, body, 201, "multipart upload of kettle.md")
    eq(set(body), {"documents"}, "members of the reply")
    doc = uploaded(body, ["kettle.md"], "kettle.md")[0]
    check_document(doc, "kettle.md", data, existed=False)
    ctx["kettle"] = doc


@test
def upload_text_as_raw_body():
    data = ORCHID.encode("utf-8")
    st, hd, body = post_raw("orchid.txt", data, "text/plain; charset=utf-8")
    json_reply(st, hd, body, 201, "raw upload of orchid.txt")
    doc = uploaded(body, ["orchid.txt"], "orchid.txt")[0]
    check_document(doc, "orchid.txt", data, existed=False)
    ctx["orchid"] = doc


@test
def upload_several_files_in_one_form():
    a = b"Saffron threads bloom purple in autumn crocus fields.\n"
    b = b"# Quinoa\n\nRinse quinoa before cooking to remove saponins.\n"
    st, hd, body = post_form([("comment", None, b"not a file, ignored"),
                              ("files", "saffron.txt", a), ("files", "quinoa.md", b)])
    json_reply(st, hd, body, 201, "two files and a field")
    docs = uploaded(body, ["saffron.txt", "quinoa.md"], "two files")
    check_document(docs[0], "saffron.txt", a, existed=False)
    check_document(docs[1], "quinoa.md", b, existed=False)
    check(docs[0]["id"] != docs[1]["id"], "two files got one id")


@test
def upload_with_curl_form():
    """The form curl -F builds (its own boundary, Content-Type per part, Expect header)."""
    srv = ctx["srv"]
    path = os.path.join(srv.state, "curl upload.md")
    data = "# Curl\n\nUploaded by curl with a space and an é in its name.\n".encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run(["curl", "-sS", "-H", "Expect: 100-continue",
                        "-F", "note=just a field", "-F", "doc=@%s;filename=curl é.md" % path,
                        "-w", "\n%{http_code}", "http://127.0.0.1:%d/api/documents" % srv.port],
                       capture_output=True, timeout=30, env=h.clean_env())
    eq(p.returncode, 0, "curl exit status (%s)" % h.short(p.stderr))
    out, _, code = p.stdout.decode("utf-8").rpartition("\n")
    eq(code, "201", "status of curl's upload (body %s)" % h.short(out))
    doc = uploaded(json.loads(out), ["curl é.md"], "curl -F")[0]
    check_document(doc, "curl é.md", data, existed=False)


@test
def same_content_again_exists_already():
    st, hd, body = post_raw("kettle-copy.md", KETTLE.encode("utf-8"))
    json_reply(st, hd, body, 201, "the kettle again")
    doc = uploaded(body, ["kettle.md"], "kettle again")[0]
    eq(doc.get("id"), ctx["kettle"]["id"], "id of content already stored")
    eq(doc.get("existed"), True, "existed")


@test
def upload_limit_is_max_upload_not_max_body():
    data = BIG_OK.encode("utf-8")
    check(MAX_BODY < len(data) < MAX_UPLOAD - 300, "test data size %d" % len(data))
    st, hd, body = post_form([("file", "lanterns.txt", data)])
    json_reply(st, hd, body, 201, "a %d-byte upload (DOCCHAT_MAX_BODY %d)" % (len(data), MAX_BODY))
    check_document(uploaded(body, ["lanterns.txt"], "lanterns")[0], "lanterns.txt", data)


@test
def over_max_upload_is_413():
    data = b"x" * (MAX_UPLOAD + 1)
    st, hd, body = post_raw("huge.txt", data)
    msg = error_reply(st, hd, body, 413, "raw upload over DOCCHAT_MAX_UPLOAD")
    eq(msg, "request body of %d bytes exceeds DOCCHAT_MAX_UPLOAD (%d bytes)" % (
        MAX_UPLOAD + 1, MAX_UPLOAD), "413 message")
    ctype, form = multipart([("file", "huge.txt", b"y" * MAX_UPLOAD)])
    st, hd, body = ctx["srv"].request("POST", "/api/documents", form,
                                      headers={"Content-Type": ctype})
    msg = error_reply(st, hd, body, 413, "multipart upload over DOCCHAT_MAX_UPLOAD")
    eq(msg, "request body of %d bytes exceeds DOCCHAT_MAX_UPLOAD (%d bytes)" % (
        len(form), MAX_UPLOAD), "413 message")
    check("huge.txt" not in ctx["srv"].documents(), "an oversized upload was stored")


@test
def unsupported_type_is_415():
    st, hd, body = post_form([("file", "setup.exe", b"MZ\x90\x00\x03\x00\x00\x00")])
    msg = error_reply(st, hd, body, 415, "upload of setup.exe")
    check(msg.startswith('"setup.exe": '), "415 message names the file: %r" % msg)
    for ext in (".txt", ".md"):
        check(ext in msg, "415 message does not name %s: %r" % (ext, msg))
    eq(body.get("documents"), [], "documents stored before the failure")
    check("setup.exe" not in ctx["srv"].documents(), "setup.exe was stored")


@test
def empty_file_is_422():
    st, hd, body = post_form([("file", "empty.txt", b"")])
    msg = error_reply(st, hd, body, 422, "multipart upload of an empty file")
    check(msg.startswith('"empty.txt": ') and len(msg) > len('"empty.txt": '),
          "422 message names the file and the cause: %r" % msg)
    st, hd, body = post_raw("empty.md", b"")
    msg = error_reply(st, hd, body, 422, "raw upload of an empty file")
    check(msg.startswith('"empty.md": '), "422 message names the file: %r" % msg)
    names = ctx["srv"].documents()
    check("empty.txt" not in names and "empty.md" not in names, "an empty file was stored")


@test
def latin1_text_is_422():
    data = "Le café crème coûte trois euros à Orléans.\n".encode("latin-1")
    st, hd, body = post_raw("menu.txt", data)
    msg = error_reply(st, hd, body, 422, "upload of Latin-1 text")
    check(msg.startswith('"menu.txt": '), "422 message names the file: %r" % msg)
    check("UTF-8" in msg, "422 message does not say the text is not UTF-8: %r" % msg)
    check("menu.txt" not in ctx["srv"].documents(), "Latin-1 text was stored")


@test
def failing_part_keeps_earlier_parts():
    good = b"Juniper berries flavour gin and sauerkraut alike.\n"
    st, hd, body = post_form([("f", "juniper.txt", good), ("f", "tool.exe", b"MZ"),
                              ("f", "never.txt", b"This file comes after the failure.\n")])
    msg = error_reply(st, hd, body, 415, "a form whose second file fails")
    check(msg.startswith('"tool.exe": '), "the error names the failing file: %r" % msg)
    docs = uploaded(body, ["juniper.txt"], "files stored before the failure")
    check_document(docs[0], "juniper.txt", good, existed=False)
    names = ctx["srv"].documents()
    check("juniper.txt" in names, "the file before the failure is not stored")
    check("never.txt" not in names, "the file after the failure was stored")


# ---------------------------------------------------------------------------------------
# File names

@test
def path_names_are_stored_under_a_safe_name():
    cases = [("../../etc/passwd.txt", "passwd.txt"),
             ("C:\\Users\\eve\\secret.md", "secret.md"),
             ("..\\..\\windows\\win.txt", "win.txt"),
             ("/var/lib/docchat/abs.md", "abs.md")]
    for i, (raw, want) in enumerate(cases):
        data = ("Traversal case %d mentions the word %s.\n" % (i, want)).encode()
        st, hd, body = post_form([("file", raw, data)])
        json_reply(st, hd, body, 201, "upload named %r" % raw)
        check_document(uploaded(body, [want], raw)[0], want, data, existed=False)
    data = b"A name in filename* with a path and a star.\n"
    st, hd, body = post_form([("file", None, data,
                               "filename*=UTF-8''..%2F..%2Fstar%E2%98%85.txt")])
    json_reply(st, hd, body, 201, "upload named by filename*")
    uploaded(body, ["star\u2605.txt"], "filename*")
    data = b"A raw upload whose name climbs directories.\n"
    st, hd, body = post_raw("../../tmp/evil.md", data)
    json_reply(st, hd, body, 201, "raw upload named ../../tmp/evil.md")
    uploaded(body, ["evil.md"], "raw path name")
    # lighttpd refuses control characters in a URL, so they come through filename*
    data = b"Control characters in a name.\n"
    st, hd, body = post_form([("file", None, data, "filename*=UTF-8''bell%07%1B[0m.txt")])
    json_reply(st, hd, body, 201, "upload with control characters in the name")
    uploaded(body, ["bell__[0m.txt"], "control characters")
    for name in ctx["srv"].documents():
        check("/" not in name and "\\" not in name and name not in (".", ".."),
              "stored name %r names a path" % name)


@test
def names_that_are_no_file_are_400():
    st, hd, body = post_form([("file", "..", b"dots\n")])
    msg = error_reply(st, hd, body, 400, "upload named ..")
    eq(msg, 'part 1: the file name ".." is only dots', "400 message")
    st, hd, body = post_raw("docs/", b"slash\n")
    msg = error_reply(st, hd, body, 400, "raw upload named docs/")
    eq(msg, "?filename=: the file name is empty without its directory part", "400 message")
    st, hd, body = ctx["srv"].request("POST", "/api/documents", b"no name\n",
                                      headers={"Content-Type": "text/plain"})
    msg = error_reply(st, hd, body, 400, "raw upload without ?filename=")
    eq(msg, "send files as multipart/form-data, or one file as the request body with "
       "?filename=NAME", "400 message")


# ---------------------------------------------------------------------------------------
# Malformed forms

@test
def malformed_forms_are_400():
    srv = ctx["srv"]
    _, form = multipart([("file", "a.txt", b"a\n")], boundary="BOUND")
    cases = [
        ("multipart/form-data", form,
         "Content-Type multipart/form-data has no boundary parameter"),
        ("multipart/form-data; boundary=BOUND", form[:-12],
         "the multipart body ends without the closing delimiter --BOUND--"),
        ("multipart/form-data; boundary=OTHER", form,
         "the multipart body has no delimiter line --OTHER"),
        ("multipart/form-data; boundary=BOUND", b"",
         "the multipart body is empty"),
        ("multipart/form-data; boundary=BOUND", b"--BOUND\r\nContent-Disposition: form",
         "part 1: the body ends inside the part's headers"),
    ]
    for ctype, body, want in cases:
        st, hd, b = srv.request("POST", "/api/documents", body, headers={"Content-Type": ctype})
        eq(error_reply(st, hd, b, 400, "POST %s" % ctype), want, "400 message")
    st, hd, b = post_form([("comment", None, b"only a field")])
    eq(error_reply(st, hd, b, 400, "a form without files"),
       "the form has no file: send each file as a part with a filename", "400 message")


@test
def more_than_100_parts_is_400():
    ctype = "multipart/form-data; boundary=B"
    body = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
                    for i in range(MAX_PARTS + 1)) + b"--B--\r\n"
    check(len(body) < MAX_UPLOAD, "the form must fit DOCCHAT_MAX_UPLOAD (%d)" % len(body))
    st, hd, b = ctx["srv"].request("POST", "/api/documents", body,
                                   headers={"Content-Type": ctype})
    eq(error_reply(st, hd, b, 400, "%d parts" % (MAX_PARTS + 1)),
       "more than 100 parts in the multipart body", "400 message")


# ---------------------------------------------------------------------------------------
# Reading, searching and deleting

@test
def list_shows_the_uploads():
    docs = ctx["srv"].documents()
    for name in ("kettle.md", "orchid.txt", "saffron.txt", "quinoa.md", "lanterns.txt"):
        check(name in docs, "GET /api/documents lacks %s: %s" % (name, sorted(docs)))
    for name in h.DOCS:
        check(name in docs, "GET /api/documents lacks the ingested %s" % name)
    k = docs["kettle.md"]
    for key in ("id", "name", "chunks", "size", "shared", "created_at"):
        eq(k.get(key), ctx["kettle"][key], "listed kettle.md %s" % key)


@test
def get_one_document():
    srv = ctx["srv"]
    for key in ("kettle", "orchid"):
        want = ctx[key]
        st, hd, d = srv.request("GET", "/api/documents/%d" % want["id"])
        json_reply(st, hd, d, 200, "GET /api/documents/%d" % want["id"])
        eq(set(d), {"id", "name", "chunks", "size", "shared", "created_at"}, "members")
        for k in ("id", "name", "chunks", "size", "shared", "created_at"):
            eq(d.get(k), want[k], "%s.%s" % (want["name"], k))
        check(d["chunks"] >= 1, "%s has no chunks" % want["name"])
    st, hd, b = srv.request("GET", "/api/documents/987654321")
    eq(error_reply(st, hd, b, 404, "GET a missing document"), "no such document: 987654321",
       "404 message")
    for bad in ("abc", "0", "-1", "12x", "99999999999999999999"):
        st, hd, b = srv.request("GET", "/api/documents/" + bad)
        eq(error_reply(st, hd, b, 400, "GET /api/documents/%s" % bad),
           "a document id is a positive integer", "400 message")


@test
def chat_finds_the_uploaded_document():
    srv = ctx["srv"]
    sid = srv.new_session()
    st = h.chat(srv, sid, "When does the zephyrine kettle whistle?", model="extractive")
    parts = h.split_events(st.events, sid, "extractive")
    sources = parts["sources"]
    check(sources, "no sources for a question about the uploaded document")
    for s in sources:
        h.check_source(s)
    top = sources[0]["metadata"]
    eq(top["document"], "kettle.md", "top source (all: %s)" % h.short(
        [s["metadata"]["document"] for s in sources]))
    eq(top["document_id"], ctx["kettle"]["id"], "document_id of the top source")
    check("zephyrine" in parts["text"].lower(), "answer does not use the document: %r" %
          parts["text"])


@test
def delete_then_404():
    srv = ctx["srv"]
    doc_id = ctx["kettle"]["id"]
    st, hd, body = srv.request("DELETE", "/api/documents/%d" % doc_id)
    eq(st, 204, "DELETE status (body %s)" % h.short(body))
    eq(body, "", "DELETE body")
    st, hd, b = srv.request("GET", "/api/documents/%d" % doc_id)
    eq(error_reply(st, hd, b, 404, "GET a deleted document"), "no such document: %d" % doc_id,
       "404 message")
    st, hd, b = srv.request("DELETE", "/api/documents/%d" % doc_id)
    eq(error_reply(st, hd, b, 404, "DELETE it again"), "no such document: %d" % doc_id,
       "404 message")
    check("kettle.md" not in srv.documents(), "the deleted document is still listed")
    sid = srv.new_session()
    st = h.chat(srv, sid, "When does the zephyrine kettle whistle?", model="extractive")
    for ev in st.events:
        if ev.get("type") == "sources":
            names = [s["metadata"]["document"] for s in ev["content"]]
            check("kettle.md" not in names, "a deleted document is still a source: %s" % names)


@test
def wrong_methods_are_405():
    srv = ctx["srv"]
    for method, path, allowed in (("PUT", "/api/documents/%d" % ctx["orchid"]["id"],
                                   {"GET", "DELETE"}),
                                  ("DELETE", "/api/documents", {"GET", "POST"})):
        st, hd, b = srv.request(method, path, b"" if method == "PUT" else None)
        error_reply(st, hd, b, 405, "%s %s" % (method, path))
        got = {m.strip() for m in (hd.get("Allow") or "").split(",") if m.strip()}
        eq(got, allowed, "%s %s: Allow" % (method, path))


if __name__ == "__main__":
    h.run(setup)
