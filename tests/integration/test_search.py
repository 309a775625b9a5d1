#!/usr/bin/env python3
"""test_search.py - vector and hybrid search through lighttpd (issue #3).

Documents are ingested with DOCCHAT_EMBED_MODEL=ollama:fake-embed, so every chunk gets
the fake model server's embedding (tests/fake_model.py: a hashed bag of stemmed words).
Checks that the stored vectors are exactly the fake's (float32, little-endian, length
1) and were requested in batches of DOCCHAT_EMBED_BATCH; that GET /api/search finds the
right document first in all three modes, with vector scores equal to the cosine of the
fake's embeddings and 1.0 for a hybrid hit ranked first by both halves; its validation
(q, top_k, mode, and vector/hybrid without an embedding model); that FTS5 operator
characters in q are harmless; that the chat's metadata says "retrieval": "hybrid" by
default; that a document ingested by another process is found by the running server;
OpenAI-style embeddings with the API key; and that with the embedding server failing
the stream says so in a status event right after "Searching documents..." and answers
from keyword search.
"""

import math
import re
import sqlite3
import struct
import time
import urllib.parse

import harness as h
from harness import check, eq, fakelib, test

ctx = {}

EMBED_MODEL = "ollama:fake-embed"
FAILING_MODEL = "ollama:fake-embed;fault=http500"
FAILING_TEXT = ("Vector search unavailable (ollama: HTTP 500: llama runner process has "
                "terminated: exit status 2); using keyword search")
NO_MODEL_TEXT = "mode %s needs an embedding model, and DOCCHAT_EMBED_MODEL is not set"
MODES = ("keyword", "vector", "hybrid")
FLOAT32_EPS = 1e-5

# A question per document, with words only that document has.
QUESTIONS = {
    "tea.txt": "How long should green tea steep?",
    "japan.md": "How long is the shinkansen ride to Kyoto?",
    "install.md": "Which user does the installer create for the database directory?",
}


def setup():
    tmp = h.TmpDir("search")
    fake = h.FakeModel(tmp)
    ctx["tmp"] = tmp
    ctx["fake"] = fake
    ctx["srv"] = h.Docchat(tmp, fake, overrides={
        "DOCCHAT_EMBED_MODEL": EMBED_MODEL, "DOCCHAT_EMBED_BATCH": "2"})
    shared = {"DOCCHAT_DB": ctx["srv"].db_path}
    ctx["failing"] = h.Docchat(tmp, fake, name="failing", ingest=False, overrides=dict(
        shared, DOCCHAT_EMBED_MODEL=FAILING_MODEL))
    ctx["plain"] = h.Docchat(tmp, fake, name="plain", ingest=False, overrides=shared)


def db_rows(sql, args=()):
    db = sqlite3.connect(ctx["srv"].db_path, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


def search(srv, want_status=200, **params):
    path = "/api/search?" + urllib.parse.urlencode(params)
    status, headers, body = srv.request("GET", path)
    eq(status, want_status, "GET %s status (body %s)" % (path, h.short(body)))
    check((headers.get("Content-Type") or "").startswith("application/json"),
          "GET %s Content-Type %r" % (path, headers.get("Content-Type")))
    return body


def check_results(body, query, mode):
    eq(body.get("query"), query, "search query")
    eq(body.get("mode"), mode, "search mode")
    res = body.get("results")
    check(isinstance(res, list), "results: %s" % h.short(body))
    for r in res:
        h.check_source(r)
        eq(sorted(r.keys()), ["metadata", "score", "text"], "result keys")
        eq(sorted(r["metadata"].keys()), ["chunk", "document", "document_id", "heading",
                                          "page"], "result metadata keys")
    scores = [r["score"] for r in res]
    eq(scores, sorted(scores, reverse=True), "scores best first")
    return res


@test
def ingest_stores_the_fake_models_vectors():
    chunks = db_rows("SELECT count(*) FROM chunks")[0][0]
    check(chunks >= 3, "chunks: %d" % chunks)
    rows = db_rows("SELECT c.text, e.model, e.dim, e.vector FROM embeddings e"
                   " JOIN chunks c ON c.id = e.chunk_id")
    eq(len(rows), chunks, "embedded chunks")
    for text, model, dim, blob in rows:
        eq(model, EMBED_MODEL, "embedding model")
        eq(dim, fakelib.EMBED_DIM, "embedding dim")
        eq(len(blob), 4 * dim, "vector bytes")
        got = struct.unpack("<%df" % dim, blob)
        want = fakelib.embed_text(text)
        worst = max(abs(g - w) for g, w in zip(got, want))
        check(worst < 1e-6, "stored vector differs from the fake's by %g: %s" % (
            worst, h.short(text)))
        check(abs(math.sqrt(sum(g * g for g in got)) - 1) < 1e-6, "vector is not unit length")
    # this runs first: every embedding request so far came from the ingestion
    embeds = [r for r in ctx["fake"].requests() if r["path"] == "/api/embed"]
    eq(sum(r["inputs"] for r in embeds), chunks, "texts sent for embedding at ingestion")
    check(all(r["inputs"] <= 2 for r in embeds), "a request exceeded DOCCHAT_EMBED_BATCH=2: %s"
          % [r["inputs"] for r in embeds])
    check(all(r["body"]["model"] == "fake-embed" for r in embeds), "model sent")


@test
def every_mode_finds_the_right_document_first():
    srv = ctx["srv"]
    for doc, q in QUESTIONS.items():
        for mode in MODES:
            res = check_results(search(srv, q=q, mode=mode, top_k=3), q, mode)
            check(res, "%s %r: no results" % (mode, q))
            eq(res[0]["metadata"]["document"], doc, "%s search for %r: first document" % (
                mode, q))
            check(len(res) <= 3, "top_k 3 gave %d results" % len(res))


@test
def vector_scores_are_the_cosine_of_the_embeddings():
    srv = ctx["srv"]
    q = QUESTIONS["tea.txt"]
    res = check_results(search(srv, q=q, mode="vector", top_k=3), q, "vector")
    eq(len(res), 3, "vector results with top_k 3 (every chunk has a similarity)")
    qv = fakelib.embed_text(q)
    for r in res:
        want = max(0.0, cosine(qv, fakelib.embed_text(r["text"])))
        check(abs(r["score"] - want) < FLOAT32_EPS, "vector score %r, cosine %r for %s" % (
            r["score"], want, h.short(r["text"], 60)))
    check(res[0]["score"] > res[1]["score"] and res[0]["score"] > 0,
          "vector scores %s" % [r["score"] for r in res])


@test
def hybrid_is_the_default_and_scores_by_rank():
    srv = ctx["srv"]
    q = QUESTIONS["japan.md"]
    body = search(srv, q=q, top_k=2)
    res = check_results(body, q, "hybrid")
    check("warning" not in body, "unexpected warning: %s" % h.short(body))
    # first in both halves: 2/(60+1) divided by its maximum 2/(60+1)
    eq(res[0]["score"], 1.0, "hybrid score of a chunk first in both lists")
    for r in res[1:]:
        check(0.0 < r["score"] < 1.0, "hybrid score %r" % r["score"])


# The English stop words of the question below (src/words.c has the whole list).
STOP_WORDS = {"which", "does", "the", "for"}


def fts_query(text):
    """search.c's MATCH expression: distinct words (ASCII letters and digits here, case
    ignored for duplicates) that are not stop words and that some chunk holds, but not
    those in at least half the chunks when a rarer one is there, each quoted, joined
    with OR."""
    words, seen = [], set()
    for w in re.findall(r"[A-Za-z0-9]+", text):
        if w.lower() not in seen and w.lower() not in STOP_WORDS:
            seen.add(w.lower())
            words.append('"%s"' % w)
    rows = db_rows("SELECT count(*) FROM chunks")[0][0]
    hits = [db_rows("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (w,))[0][0]
            for w in words]
    rare = any(0 < n < rows / 2 for n in hits)
    return " OR ".join(w for w, n in zip(words, hits) if n > 0 and (not rare or n < rows / 2))


@test
def keyword_scores_map_bm25():
    srv = ctx["srv"]
    q = QUESTIONS["install.md"]
    res = check_results(search(srv, q=q, mode="keyword", top_k=5), q, "keyword")
    match = fts_query(q)
    # "installer" ("instal" to the stemmer, as "install") is in 2 of the 4 chunks: its
    # IDF is 0, FTS5 makes it 1e-6
    eq(match, '"user" OR "create" OR "database" OR "directory"', "the words searched for")
    want = db_rows("SELECT c.text, bm25(chunks_fts, 1.0, 0.5) AS rank FROM chunks_fts"
                   " CROSS JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ?"
                   " ORDER BY rank, c.id LIMIT 5", (match,))
    eq([r["text"] for r in res], [t for t, _ in want], "keyword results in BM25 order")
    for r, (_, b) in zip(res, want):
        check(abs(r["score"] - (-b) / (-b + 1)) < 1e-9, "score %r for bm25 %r" % (
            r["score"], b))


@test
def search_validation():
    srv = ctx["srv"]
    cases = [
        ({}, '"q" is required'),
        ({"q": ""}, '"q" must not be empty'),
        ({"q": "   "}, '"q" must not be empty'),
        ({"q": "tea", "top_k": "0"}, '"top_k" must be an integer from 1 to 50'),
        ({"q": "tea", "top_k": "51"}, '"top_k" must be an integer from 1 to 50'),
        ({"q": "tea", "top_k": "2.5"}, '"top_k" must be an integer from 1 to 50'),
        ({"q": "tea", "top_k": ""}, '"top_k" must be an integer from 1 to 50'),
        ({"q": "tea", "mode": "fuzzy"}, '"mode" must be one of keyword, vector, hybrid'),
        ({"q": "tea", "mode": "HYBRID"}, '"mode" must be one of keyword, vector, hybrid'),
    ]
    for params, msg in cases:
        body = search(srv, 400, **params)
        eq(body, {"error": msg}, "error for %s" % params)
    # lighttpd repairs or refuses bad escapes before docchat sees them; as CGI they
    # arrive as sent
    for query, msg in (("q=%ZZ", 'query parameter "q" is malformed'),
                       ("q=a%00b", 'query parameter "q" is malformed'),
                       ("q=tea%", 'query parameter "q" is malformed'),
                       ("q=%FF", 'query parameter "q" is not valid UTF-8'),
                       ("q=tea&top_k=%FF", 'query parameter "top_k" is not valid UTF-8')):
        r = srv.cgi("GET", "/search", query=query)
        eq((r.status, r.json()), (400, {"error": msg}), "CGI GET /search?%s" % query)
    # (a URL this long is more than lighttpd takes, so through CGI)
    r = srv.cgi("GET", "/search", query="q=" + "tea+" * 3000)
    eq((r.status, r.json()), (400, {"error": '"q" is 12000 bytes, longer than the limit of '
                                             '8192'}), "over-long q")
    status, headers, _ = srv.request("POST", "/api/search?q=tea", {})
    eq(status, 405, "POST /api/search")
    eq(headers.get("Allow"), "GET", "Allow header")


@test
def vector_modes_need_an_embedding_model():
    plain = ctx["plain"]
    for mode in ("vector", "hybrid"):
        body = search(plain, 400, q="green tea", mode=mode)
        eq(body, {"error": NO_MODEL_TEXT % mode}, "error for %s without a model" % mode)
    q = QUESTIONS["tea.txt"]
    res = check_results(search(plain, q=q), q, "keyword")
    eq(res[0]["metadata"]["document"], "tea.txt", "keyword default without a model")


@test
def fts_operator_characters_are_harmless():
    srv = ctx["srv"]
    hostile = ['green* "tea NEAR(steep AND OR NOT ^minutes col:water {text}: -x',
               '"', "((", "NEAR(", "tea OR", "^", "text:tea", "*"]
    for q in hostile:
        for mode in MODES:
            res = check_results(search(srv, q=q, mode=mode), q, mode)
            if "green" in q or "tea" in q:
                check(res, "%s %r found nothing" % (mode, q))
                eq(res[0]["metadata"]["document"], "tea.txt", "%s %r: first document" % (
                    mode, q))


def chat_events(srv, question):
    sid = srv.new_session()
    st = h.chat(srv, sid, question)
    return sid, st.events


@test
def chat_metadata_says_hybrid():
    srv = ctx["srv"]
    sid, events = chat_events(srv, QUESTIONS["tea.txt"])
    parts = h.split_events(events, sid, "extractive")
    md = parts["final"]["content"]
    h.check_metadata(md, "extractive", parts["text"], "all")
    eq(md.get("retrieval"), "hybrid", "metadata.retrieval")
    eq(parts["sources"][0]["metadata"]["document"], "tea.txt", "first source")
    eq(parts["sources"][0]["score"], 1.0, "first source's hybrid score")
    stored = srv.final_assistant(sid)
    eq(stored["metadata"].get("retrieval"), "hybrid", "stored metadata.retrieval")


@test
def chat_without_an_embedding_model_is_keyword():
    plain = ctx["plain"]
    sid, events = chat_events(plain, QUESTIONS["tea.txt"])
    parts = h.split_events(events, sid, "extractive")
    eq(parts["final"]["content"].get("retrieval"), "keyword", "metadata.retrieval")


@test
def failing_embeddings_fall_back_to_keyword():
    failing = ctx["failing"]
    sid, events = chat_events(failing, QUESTIONS["tea.txt"])
    types = [e.get("type") for e in events]
    eq(types[:3], ["start", "status", "status"], "first three events")
    eq(events[1].get("content"), h.STATUS_SEARCHING, "first status")
    eq(dict(events[2]), {"type": "status", "content": FAILING_TEXT}, "fallback status")
    parts = h.split_events(events[:2] + events[3:], sid, "extractive")
    md = parts["final"]["content"]
    h.check_metadata(md, "extractive", parts["text"], "all")
    eq(md.get("retrieval"), "keyword", "metadata.retrieval")
    eq(parts["sources"][0]["metadata"]["document"], "tea.txt", "first source")
    check(parts["text"].strip(), "the answer is empty")
    eq(failing.final_assistant(sid)["status"], "complete", "stored status")
    # the search endpoint says the same
    q = QUESTIONS["tea.txt"]
    body = search(failing, q=q, mode="vector")
    res = check_results(body, q, "keyword")
    eq(body.get("warning"), FAILING_TEXT, "search warning")
    eq(res[0]["metadata"]["document"], "tea.txt", "fallback search: first document")


@test
def documents_ingested_elsewhere_are_found():
    srv = ctx["srv"]
    path = h.write_docs(ctx["tmp"].join("later"), {
        "bees.md": "# Beekeeping\n\nA healthy beehive keeps its queen warm through the "
                   "winter; the worker bees cluster around her and shiver.\n"})
    r = srv.cli(["ingest", path])
    eq(r.returncode, 0, "docchat ingest (%s)" % h.short(r.stderr))
    q = "How do worker bees keep the queen warm in winter?"
    for mode in ("vector", "hybrid"):
        res = check_results(search(srv, q=q, mode=mode, top_k=1), q, mode)
        eq(res[0]["metadata"]["document"], "bees.md", "%s: the new document first" % mode)


@test
def an_upload_is_embedded_after_its_reply():
    """The upload's reply does not wait for the embedding server (2.5 s per request here):
    keyword search finds the new document at once, and vector search once the worker has
    embedded it after the reply."""
    srv = h.Docchat(ctx["tmp"], ctx["fake"], name="slowembed", overrides={
        "DOCCHAT_EMBED_MODEL": "ollama:fake-embed;first_ms=2500"})
    q = "Which lighthouse keeper polished the brass lens every dusk?"
    text = ("# The lighthouse\n\nThe lighthouse keeper polished the brass lens every dusk "
            "before lighting the lamp.\n")
    t0 = time.monotonic()
    status, _, body = srv.request("POST", "/api/documents?filename=lighthouse.md",
                                  text.encode(), headers={"Content-Type": "text/markdown"})
    took = time.monotonic() - t0
    eq(status, 201, "upload status (%s)" % h.short(body))
    check(took < 2.0, "the upload's reply took %.1fs: it waited for the embeddings" % took)
    res = check_results(search(srv, q=q, mode="keyword", top_k=1), q, "keyword")
    eq(res[0]["metadata"]["document"], "lighthouse.md", "keyword: the new document at once")

    def embedded():
        body = search(srv, q=q, mode="vector", top_k=1)
        res = body.get("results") or []
        return res and res[0]["metadata"]["document"] == "lighthouse.md"
    h.wait_for(embedded, 20, "vector search to find the uploaded document", 0.5)


@test
def openai_embeddings_carry_the_key():
    fake = ctx["fake"]
    srv = h.Docchat(ctx["tmp"], fake, name="openai", overrides={
        "DOCCHAT_EMBED_MODEL": "openai:fake-embed"})
    db = sqlite3.connect(srv.db_path, timeout=10)
    try:
        models = db.execute("SELECT DISTINCT model FROM embeddings").fetchall()
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        vectors = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    finally:
        db.close()
    eq(models, [("openai:fake-embed",)], "stored model")
    eq(vectors, chunks, "embedded chunks")
    reqs = [r for r in fake.requests() if r["path"] == "/v1/embeddings"]
    check(reqs, "no request reached /v1/embeddings")
    check(all(r["authorization_ok"] is True for r in reqs), "Authorization missing or wrong")
    q = QUESTIONS["japan.md"]
    res = check_results(search(srv, q=q, mode="vector"), q, "vector")
    eq(res[0]["metadata"]["document"], "japan.md", "openai vector search: first document")
    eq(srv.secret_leaks(), [], "files containing the API key")


if __name__ == "__main__":
    h.run(setup)
