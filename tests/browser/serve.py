#!/usr/bin/env python3
"""serve.py - the servers behind docchat's browser test, started the way the integration
tests start them (tests/integration/harness.py): the fake model server, then docchat
under lighttpd from the shipped template deploy/lighttpd/docchat.conf.in with only its
@...@ placeholders filled in, after `docchat ingest` of deploy/sample-docs. Three sites:

- the main one, DOCCHAT_AUTH=none as in the quickstart: everyone is the local user;
- "auth": DOCCHAT_AUTH=required (docchat's default) and nothing in front, so the page has
  to sign in with a token (the test makes one with `docchat token create`);
- "basic": DOCCHAT_AUTH=required behind the template's own Basic-auth block, switched on
  with an htpasswd file made here: lighttpd checks the password and tells docchat the
  user, and the page never needs a token.

Prints one JSON line {"port", "state", "db", "auth": {"port", "config"}, "basic": {"port",
"user", "password"}} once GET /api/health answers 200 on every site, then waits until
standard input closes. A line "failed" on standard input before that keeps the temporary
directory (and prints the server logs) for a look afterwards.

Environment: DOCCHAT_BIN and DOCCHAT_SRCDIR, as for the integration tests.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402

# Settings the browser test relies on: answers stream visibly (60 ms between words), and
# uploads have a small limit so that a 413 is cheap to provoke.
OVERRIDES = {
    "DOCCHAT_EXTRACTIVE_DELAY_MS": "60",
    "DOCCHAT_MAX_UPLOAD": "262144",
}


def sample_docs():
    directory = os.path.join(harness.SRCDIR, "deploy", "sample-docs")
    docs = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            docs[name] = f.read()
    return docs


BASIC_USER = "carol"
BASIC_PASSWORD = "harbour-lights-42"


def basic_site(tmp, fake):
    """docchat (DOCCHAT_AUTH=required) under lighttpd with the shipped template's Basic-auth
    block uncommented and pointed at an htpasswd file for BASIC_USER."""
    d = harness.Docchat(tmp, fake, name="browser-basic", docs=sample_docs(), serve=False,
                        overrides=dict(OVERRIDES, DOCCHAT_AUTH="required"))
    harness.serve_with_basic_auth(d, {BASIC_USER: BASIC_PASSWORD})
    return d


def main():
    failed = False
    try:
        tmp = harness.TmpDir("browser")
        fake = harness.FakeModel(tmp)
        srv = harness.Docchat(tmp, fake, name="browser", overrides=OVERRIDES,
                              docs=sample_docs())
        auth = harness.Docchat(tmp, fake, name="browser-auth", docs=sample_docs(),
                               overrides=dict(OVERRIDES, DOCCHAT_AUTH="required"))
        basic = basic_site(tmp, fake)
        print(json.dumps({
            "port": srv.port, "state": srv.state, "db": srv.db_path,
            "auth": {"port": auth.port, "config": auth.config_path},
            "basic": {"port": basic.port, "user": BASIC_USER, "password": BASIC_PASSWORD},
        }), flush=True)
        for line in sys.stdin:
            if line.strip() == "failed":
                failed = True
    except BaseException as e:  # noqa: B902 - report why the servers did not start
        failed = True
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}), flush=True)
    finally:
        # Stop lighttpd (and with it docchat) and the fake model; remove the temporary
        # directory unless something failed.
        harness._run_cleanups(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
