"""harness.py - what docchat's integration tests share: processes, HTTP/SSE clients, a runner.

- Environment: DOCCHAT_BIN (the built binary; default $DOCCHAT_SRCDIR/src/docchat) and
  DOCCHAT_SRCDIR (the repo root; default two levels up from here). LIGHTTPD overrides
  /usr/sbin/lighttpd. DOCCHAT_TEST_KEEP=1 keeps the temporary directories.
- FakeModel starts tests/fake_model.py on a free port; Docchat writes a docchat config
  (KEY=value), ingests documents with `docchat ingest`, fills the shipped lighttpd template
  deploy/lighttpd/docchat.conf.in (only its @...@ placeholders) and starts lighttpd -D.
- request() is a plain JSON client; Stream reads an SSE response line by line as it
  arrives, timestamps every event and ": ping" comment, records framing mistakes and can
  hang up early.
- @test and run(): one "PASS name" / "FAIL name: reason" / "SKIP name: reason" line per
  test (skip() inside a test skips it), exit status 1 if any failed. Every docchat,
  lighttpd and CGI process gets a clean environment (no inherited DOCCHAT_* or OPENAI_*
  variables). fill_template() fills the @...@ placeholders of a shipped config in deploy/.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import fake_model as fakelib  # noqa: E402  (the tests compute expected answers with it)

SRCDIR = os.path.abspath(os.environ.get("DOCCHAT_SRCDIR") or os.path.dirname(TESTS_DIR))
LIGHTTPD = os.environ.get("LIGHTTPD") or "/usr/sbin/lighttpd"
TEMPLATE = os.path.join(SRCDIR, "deploy", "lighttpd", "docchat.conf.in")
FAKE_SCRIPT = os.path.join(TESTS_DIR, "fake_model.py")
SECRET = "sk-test-secret"
KEEP = os.environ.get("DOCCHAT_TEST_KEEP") == "1"

START_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 30.0
TEST_TIMEOUT_S = 120

STATUS_SEARCHING = "Searching documents..."
STATUS_GENERATING = "Generating response..."
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def docchat_bin():
    b = os.environ.get("DOCCHAT_BIN")
    if b:
        return os.path.abspath(b)
    for c in (os.path.join(SRCDIR, "src", "docchat"), os.path.join(SRCDIR, "docchat")):
        if os.path.exists(c):
            return c
    return os.path.join(SRCDIR, "src", "docchat")


DOCCHAT_BIN = docchat_bin()

# The documents every server gets unless a test asks for others. Each has words that only
# it contains, so a question picks a predictable document.
DOCS = {
    "install.md": (
        "# Installing docchat\n\n"
        "## Debian\n\n"
        "Install the package with apt: run apt install docchat as root. The installer "
        "creates the docchat system user and the directory /var/lib/docchat for the "
        "database.\n\n"
        "## Configuration\n\n"
        "Edit /etc/docchat.conf to set DOCCHAT_DB and the model URLs. Reload lighttpd "
        "after every configuration change.\n"),
    "tea.txt": (
        "Green tea should steep for two minutes in water at eighty degrees. Black tea "
        "wants boiling water and four minutes of steeping. The café on Rue Lepic serves "
        "both teas with fresh croissants.\n"),
    "japan.md": (
        "# 日本 travel notes\n\n"
        "The shinkansen from Tokyo to Kyoto takes about two hours and fifteen minutes. "
        "Kyoto temples open at dawn, and the Fushimi Inari shrine never closes. "
        "日本の鉄道は正確です。\n"),
}


# ---------------------------------------------------------------------------------------
# Assertions and the runner

class TestFailure(AssertionError):
    pass


class TestTimeout(Exception):
    pass


class TestSkip(Exception):
    """Raised by skip(): the test cannot run here (reported as "SKIP name: reason")."""


def short(v, n=300):
    s = v if isinstance(v, str) else repr(v)
    s = s.replace("\n", "\\n")
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def fail(msg):
    raise TestFailure(msg)


def skip(reason):
    raise TestSkip(reason)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %s, want %s" % (what, short(got), short(want)))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def wait_for(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns something truthy; return that, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


_tests = []
_cleanups = []


def test(fn):
    """Register fn as a test; tests run in the order they are defined."""
    _tests.append(fn)
    return fn


def on_exit(fn):
    """Run fn (given failed: bool) after the tests, last registered first."""
    _cleanups.append(fn)


def _run_cleanups(failed):
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn(failed)
        except Exception:  # noqa: BLE001 - cleanup must not hide the results
            traceback.print_exc(file=sys.stderr)


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


# Whatever happens (an exception outside run(), SIGTERM from a runner's timeout), the
# servers started here are stopped.
atexit.register(_run_cleanups, True)
signal.signal(signal.SIGTERM, _terminated)
signal.signal(signal.SIGHUP, _terminated)


def _alarm(signum, frame):
    raise TestTimeout("test took longer than %ds" % TEST_TIMEOUT_S)


def _reason(exc):
    if isinstance(exc, TestFailure):
        return short(str(exc), 600)
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(tb):
        if fr.filename.startswith(HERE):
            where = " (%s:%d)" % (os.path.basename(fr.filename), fr.lineno)
            break
    return short("%s: %s%s" % (type(exc).__name__, exc, where), 600)


def run(setup=None):
    """Run setup, then every @test, print one line per test, clean up, exit."""
    signal.signal(signal.SIGALRM, _alarm)
    failed = 0
    passed = 0
    skipped = 0
    setup_error = None
    setup_skip = None
    if setup is not None:
        try:
            signal.alarm(TEST_TIMEOUT_S)
            setup()
        except (KeyboardInterrupt, SystemExit):
            raise
        except TestSkip as e:
            setup_skip = str(e)
        except BaseException as e:  # noqa: B902 - report and go on to the cleanup
            setup_error = "setup failed: " + _reason(e)
            traceback.print_exc(file=sys.stderr)
        finally:
            signal.alarm(0)
    for fn in _tests:
        name = fn.__name__
        if setup_error:
            print("FAIL %s: %s" % (name, setup_error), flush=True)
            failed += 1
            continue
        if setup_skip:
            print("SKIP %s: %s" % (name, setup_skip), flush=True)
            skipped += 1
            continue
        try:
            signal.alarm(TEST_TIMEOUT_S)
            fn()
            signal.alarm(0)
            print("PASS %s" % name, flush=True)
            passed += 1
        except (KeyboardInterrupt, SystemExit):
            raise
        except TestSkip as e:
            signal.alarm(0)
            print("SKIP %s: %s" % (name, e), flush=True)
            skipped += 1
        except BaseException as e:  # noqa: B902
            signal.alarm(0)
            print("FAIL %s: %s" % (name, _reason(e)), flush=True)
            if not isinstance(e, TestFailure):
                traceback.print_exc(file=sys.stderr)
            failed += 1
    _run_cleanups(failed > 0)
    sys.stderr.write("# %s: %d passed, %d failed%s\n" % (
        os.path.basename(sys.argv[0]), passed, failed,
        ", %d skipped" % skipped if skipped else ""))
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------------------------------
# Processes

def fill_template(template, values):
    """The text of the shipped config file `template` with each "@NAME@" in values
    replaced (values: {"PORT": "8080", ...}); fails if a placeholder is left over."""
    with open(template, encoding="utf-8") as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    check(not left, "placeholders left in %s: %s" % (os.path.relpath(template, SRCDIR), left))
    return text


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def clean_env(extra=None):
    """The environment for docchat and lighttpd: no inherited docchat settings."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("DOCCHAT_") or k.startswith("OPENAI_")
                   or k in ("GATEWAY_INTERFACE", "REQUEST_METHOD", "PATH_INFO",
                            "QUERY_STRING", "CONTENT_LENGTH", "CONTENT_TYPE",
                            "FCGI_WEB_SERVER_ADDRS", "http_proxy", "https_proxy",
                            "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"))}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if extra:
        env.update(extra)
    return env


def tail(path, n=80):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(lines[-n:])


class TmpDir:
    """A temporary directory removed at exit unless a test failed (or DOCCHAT_TEST_KEEP=1)."""

    def __init__(self, prefix):
        # lighttpd's FastCGI socket lives in here: keep the path well below the 108 bytes
        # a Unix socket name may have, whatever TMPDIR says.
        base = tempfile.gettempdir()
        if len(base) > 40:
            base = "/tmp"
        self.path = tempfile.mkdtemp(prefix="docchat-it-%s-" % prefix, dir=base)
        on_exit(self._cleanup)

    def _cleanup(self, failed):
        if failed or KEEP:
            sys.stderr.write("# kept %s\n" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def join(self, *p):
        return os.path.join(self.path, *p)


class FakeModel:
    """tests/fake_model.py in a subprocess, requiring the test API key on /v1."""

    def __init__(self, tmp, openai_key=SECRET):
        self.tmp = tmp
        port_file = tmp.join("fake.port")
        self.log_path = tmp.join("fake.log")
        self.log = open(self.log_path, "wb")
        args = [sys.executable, FAKE_SCRIPT, "--port", "0", "--port-file", port_file]
        if openai_key:
            args += ["--openai-key", openai_key]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        on_exit(self._stop)

        def ready():
            if self.proc.poll() is not None:
                fail("fake model exited (%s): %s" % (self.proc.returncode, tail(self.log_path)))
            try:
                with open(port_file) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                return None
        self.port = wait_for(ready, START_TIMEOUT_S, "the fake model's port file")
        self.openai_url = "http://127.0.0.1:%d/v1" % self.port
        self.ollama_url = "http://127.0.0.1:%d" % self.port

    def _stop(self, failed):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if failed:
            sys.stderr.write("# fake model log (%s):\n%s\n" % (self.log_path,
                                                                tail(self.log_path, 30)))

    def _get(self, method, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            r = conn.getresponse()
            data = r.read()
            check(r.status == 200, "fake model %s %s: %d" % (method, path, r.status))
            return json.loads(data)
        finally:
            conn.close()

    def requests(self, tag=None):
        """Recorded requests (all, or those whose model carries tag=...)."""
        q = "?tag=" + urllib.parse.quote(tag) if tag is not None else ""
        return self._get("GET", "/_requests" + q)

    def reset(self):
        self._get("POST", "/_reset")

    def request_for(self, model, timeout=10.0, pred=None):
        """The one recorded chat request for this model id (polls until it appears and,
        if given, until pred(entry) holds)."""
        tag = fakelib.parse_scenario(model).tag
        check(tag, "model %r has no tag" % model)

        def find():
            rs = self.requests(tag)
            if len(rs) > 1:
                fail("the fake got %d requests for %s, want 1" % (len(rs), model))
            if rs and (pred is None or pred(rs[0])):
                return rs[0]
            return None
        return wait_for(find, timeout, "the fake's request for %s" % model)


_tag_counter = [0]


def fake_model(provider, base="fake", **opts):
    """A model id such as "openai:fake;tokens=10;pace_ms=200;tag=t3" with a unique tag, so
    the test can find its own request in the fake's log. provider None: no prefix."""
    _tag_counter[0] += 1
    parts = [base] + ["%s=%s" % (k, v) for k, v in opts.items()]
    parts.append("tag=t%d_%d" % (os.getpid(), _tag_counter[0]))
    name = ";".join(parts)
    return "%s:%s" % (provider, name) if provider else name


def write_docs(directory, docs=None):
    os.makedirs(directory, exist_ok=True)
    for name, text in (docs or DOCS).items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    return directory


class Docchat:
    """One docchat configuration; optionally served by lighttpd from the shipped template."""

    def __init__(self, tmp, fake, name="main", overrides=None, docs=None, ingest=True,
                 serve=True):
        self.tmp = tmp
        self.fake = fake
        self.name = name
        self.state = tmp.join(name)
        os.makedirs(self.state, exist_ok=True)
        self.db_path = os.path.join(self.state, "docchat.db")
        self.config_path = os.path.join(self.state, "docchat.conf")
        self.error_log = os.path.join(self.state, "lighttpd-error.log")
        self.settings = {
            "DOCCHAT_DB": self.db_path,
            "DOCCHAT_OPENAI_URL": fake.openai_url if fake else "http://127.0.0.1:9/v1",
            "OPENAI_API_KEY": SECRET,
            "DOCCHAT_OLLAMA_URL": fake.ollama_url if fake else "http://127.0.0.1:9",
            "DOCCHAT_EXTRACTIVE_DELAY_MS": "0",
            "DOCCHAT_THREADS": "4",
            # The tests talk to docchat on loopback as the single local user, like
            # deploy/quickstart; test_isolation.py runs it with DOCCHAT_AUTH=required.
            "DOCCHAT_AUTH": "none",
            # Tests send requests far faster than a person does; the limit still counts
            # every request here but refuses none (test_limits.py tests the refusals).
            "DOCCHAT_RATE_PER_MIN": "100000",
        }
        self.settings.update(overrides or {})
        self.settings = {k: v for k, v in self.settings.items() if v is not None}
        with open(self.config_path, "w", encoding="utf-8") as f:
            for k, v in self.settings.items():
                f.write("%s=%s\n" % (k, v))
        self.docs_dir = None
        self.proc = None
        self.port = None
        on_exit(self._stop)
        if ingest:
            self.docs_dir = write_docs(os.path.join(self.state, "docs"), docs)
            r = self.cli(["ingest", self.docs_dir])
            check(r.returncode == 0, "docchat ingest exited %d: %s %s" % (
                r.returncode, short(r.stdout), short(r.stderr)))
        if serve:
            self._start_lighttpd()

    # ---- processes ---------------------------------------------------------------

    def _start_lighttpd(self):
        check(os.access(DOCCHAT_BIN, os.X_OK), "DOCCHAT_BIN %s is not an executable "
              "(build docchat or set DOCCHAT_BIN)" % DOCCHAT_BIN)
        self.port = free_port()
        conf = fill_template(TEMPLATE, {
            "PORT": self.port, "WWW": os.path.join(SRCDIR, "www"), "DOCCHAT": DOCCHAT_BIN,
            "CONFIG": self.config_path, "STATE": self.state})
        self.lighttpd_conf = os.path.join(self.state, "lighttpd.conf")
        with open(self.lighttpd_conf, "w", encoding="utf-8") as f:
            f.write(conf)
        out = open(os.path.join(self.state, "lighttpd.out"), "wb")
        self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", self.lighttpd_conf],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     env=clean_env(), cwd=self.state)
        out.close()

        def healthy():
            if self.proc.poll() is not None:
                fail("lighttpd exited (%s): %s\n%s" % (
                    self.proc.returncode, tail(os.path.join(self.state, "lighttpd.out")),
                    tail(self.error_log)))
            try:
                status, _, _ = self.request("GET", "/api/health", timeout=2)
            except (OSError, http.client.HTTPException):
                return False
            return status == 200
        wait_for(healthy, START_TIMEOUT_S, "GET /api/health through lighttpd", 0.1)

    def _stop(self, failed):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if failed and self.proc is not None:
            sys.stderr.write("# lighttpd error log of %r (%s):\n%s\n" % (
                self.name, self.error_log, tail(self.error_log)))

    def cli(self, args, env=None, stdin=b"", timeout=60):
        """Run `docchat ARGS` with DOCCHAT_CONFIG set; env adds or overrides variables."""
        e = clean_env({"DOCCHAT_CONFIG": self.config_path})
        if env:
            e.update(env)
        return subprocess.run([DOCCHAT_BIN] + list(args), input=stdin, env=e,
                              capture_output=True, timeout=timeout, cwd=self.state)

    def cgi(self, method, path_info, body=None, query="", content_type=None, env=None,
            timeout=60):
        """Run docchat as a plain CGI program; returns a CgiResult."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        e = clean_env({
            "DOCCHAT_CONFIG": self.config_path, "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_SOFTWARE": "docchat-tests",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": method, "SCRIPT_NAME": "/api", "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "REQUEST_URI": "/api" + path_info + ("?" + query if query else ""),
        })
        if body is not None:
            e["CONTENT_LENGTH"] = str(len(body))
            e["CONTENT_TYPE"] = content_type or "application/json"
        if env:
            e.update(env)
        p = subprocess.run([DOCCHAT_BIN], input=body or b"", env=e, capture_output=True,
                           timeout=timeout, cwd=self.state)
        return CgiResult(p)

    # ---- HTTP --------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT_S):
        """(status, headers, body): body parsed as JSON when the response says it is JSON
        (a TestFailure if it does not parse), else text. body may be a dict/list (sent
        as JSON), str or bytes."""
        h = dict(headers or {})
        data = body
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            ctype = r.headers.get("Content-Type") or ""
            if ctype.startswith("application/json"):
                try:
                    parsed = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    fail("%s %s: %d with a body that is not JSON (%s): %s" % (
                        method, path, r.status, e, short(raw)))
            else:
                parsed = raw.decode("utf-8", "replace")
            return r.status, r.headers, parsed
        finally:
            conn.close()

    def stream(self, path, body=None, method=None, headers=None, timeout=HTTP_TIMEOUT_S):
        """Open a chat stream (POST with a JSON body, or GET when body is None)."""
        return Stream(self.port, method or ("POST" if body is not None else "GET"), path,
                      body, headers, timeout)

    # ---- conveniences ------------------------------------------------------------

    def new_session(self, title=None):
        status, _, s = self.request("POST", "/api/sessions",
                                    {} if title is None else {"title": title})
        eq(status, 201, "POST /api/sessions status")
        check(isinstance(s, dict) and isinstance(s.get("id"), str),
              "POST /api/sessions body: %s" % short(s))
        return s["id"]

    def session(self, sid):
        status, _, s = self.request("GET", "/api/sessions/" + sid)
        eq(status, 200, "GET /api/sessions/%s status" % sid)
        return s

    def final_assistant(self, sid, timeout=10.0):
        """The session's last assistant message once it left status "streaming"."""
        def done():
            msgs = self.session(sid).get("messages") or []
            asst = [m for m in msgs if m.get("role") == "assistant"]
            if asst and asst[-1].get("status") != "streaming":
                return asst[-1]
            return None
        return wait_for(done, timeout, "the assistant message of %s to be final" % sid)

    def documents(self):
        status, _, d = self.request("GET", "/api/documents")
        eq(status, 200, "GET /api/documents status")
        return {doc["name"]: doc for doc in d["documents"]}

    def secret_leaks(self):
        """Files of this instance (database, WAL, logs) that contain the API key."""
        found = []
        for name in sorted(os.listdir(self.state)):
            p = os.path.join(self.state, name)
            if name == "docchat.conf" or not os.path.isfile(p):
                continue
            with open(p, "rb") as f:
                if SECRET.encode() in f.read():
                    found.append(name)
        return found


# ---------------------------------------------------------------------------------------
# SSE

class Event(dict):
    """One SSE event: the parsed JSON of its data line, plus .id, .time and .data."""

    def __init__(self, obj, eid, t, data):
        super().__init__(obj if isinstance(obj, dict) else {"_not_an_object": obj})
        self.id = eid
        self.time = t
        self.data = data


class SSEParser:
    """Feeds lines (without their end) in; collects events, ping times and framing errors
    against doc/API.md: every event is "id: N", one "data: {json}" line, a blank line;
    the only other lines are ": ping" comments."""

    def __init__(self):
        self.events = []
        self.pings = []
        self.comments = []
        self.errors = []
        self.lines = []
        self._block = []

    def feed(self, line, t):
        self.lines.append(line)
        if line == "":
            return self._dispatch(t)
        if line.startswith(":"):
            self.comments.append(line)
            if line == ": ping":
                self.pings.append(t)
            else:
                self.errors.append("unexpected comment %r" % line)
            return None
        self._block.append(line)
        return None

    def _dispatch(self, t):
        block, self._block = self._block, []
        if not block:
            return None
        eid = None
        data = None
        for line in block:
            name, colon, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "id" and colon:
                if eid is not None:
                    self.errors.append("two id lines in %r" % block)
                if not line.startswith("id: ") or not re.fullmatch(r"[0-9]+", value):
                    self.errors.append("bad id line %r" % line)
                eid = int(value) if value.isdigit() else value
            elif name == "data" and colon:
                if data is not None:
                    self.errors.append("more than one data line in %s" % short(block))
                    data += "\n" + value
                else:
                    data = value
                if not line.startswith("data: {"):
                    self.errors.append("data line is not 'data: {json}': %s" % short(line))
            else:
                self.errors.append("unexpected line %s" % short(line))
        if eid is None:
            self.errors.append("event without id: %s" % short(block))
        elif block[0] != "id: %s" % eid:
            self.errors.append("id line is not first: %s" % short(block))
        if data is None:
            self.errors.append("event without data: %s" % short(block))
            return None
        try:
            obj = json.loads(data)
        except ValueError as e:
            self.errors.append("data is not JSON (%s): %s" % (e, short(data)))
            obj = {"_bad_json": data}
        ev = Event(obj, eid, t, data)
        self.events.append(ev)
        return ev


def parse_sse_bytes(data):
    """Parse a complete SSE body (bytes); returns the SSEParser."""
    p = SSEParser()
    text = data.decode("utf-8")
    lines = re.split(r"\r\n|\n|\r", text)
    if lines and lines[-1] == "":
        lines.pop()
    else:
        p.errors.append("body does not end with a line end")
    for line in lines:
        p.feed(line, 0.0)
    if p._block:
        p.errors.append("unterminated last event: %s" % short(p._block))
    return p


class Stream:
    """An SSE response read incrementally. Iterating yields (arrival_time, Event) as each
    event's blank line arrives (time.monotonic()); pings and framing errors are kept on
    the parser. For a non-200 response, .status/.headers/.body describe it and iteration
    yields nothing."""

    def __init__(self, port, method, path, body, headers, timeout):
        h = dict(headers or {})
        h.setdefault("Accept", "text/event-stream")
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        self.parser = SSEParser()
        self.opened_at = time.monotonic()
        self.closed_at = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request(method, path, body=data, headers=h)
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.body = None
        self.eof = False
        if self.status != 200:
            raw = self.resp.read()
            try:
                self.body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.body = raw.decode("utf-8", "replace")
            self.eof = True
            self.close()

    @property
    def events(self):
        return self.parser.events

    @property
    def pings(self):
        return self.parser.pings

    def __iter__(self):
        while not self.eof:
            try:
                raw = self.resp.readline()
            except (OSError, http.client.HTTPException) as e:
                if self.closed_at is not None:
                    return
                raise TestFailure("reading the stream failed after %d events: %s: %s" % (
                    len(self.events), type(e).__name__, e)) from None
            t = time.monotonic()
            if raw == b"":
                self.eof = True
                if self.parser._block:
                    self.parser.errors.append("stream ended inside an event: %s" %
                                              short(self.parser._block))
                return
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.parser.errors.append("line is not UTF-8: %s" % short(raw))
                line = raw.decode("utf-8", "replace")
            if line.endswith("\r\n"):
                line = line[:-2]
            elif line.endswith("\n") or line.endswith("\r"):
                line = line[:-1]
            ev = self.parser.feed(line, t)
            if ev is not None:
                yield t, ev

    def read_all(self):
        """Read to the end; returns every event."""
        for _ in self:
            pass
        self.close()
        return self.events

    def close(self):
        """Hang up at once (shutdown sends the FIN now, whatever else holds the socket)."""
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        try:
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.resp.close()
        except Exception:  # noqa: BLE001
            pass
        self.conn.close()


def htpasswd_line(user, password):
    """An htpasswd line for user: bcrypt with apache2-utils' htpasswd, else SHA-512 crypt
    from openssl (lighttpd's mod_authn_file takes both)."""
    if shutil.which("htpasswd"):
        r = subprocess.run(["htpasswd", "-nbB", user, password], capture_output=True,
                           text=True)
        check(r.returncode == 0, "htpasswd -nbB exited %d" % r.returncode)
        return r.stdout.strip()
    r = subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True)
    check(r.returncode == 0, "openssl passwd exited %d" % r.returncode)
    return "%s:%s" % (user, r.stdout.strip())


def serve_with_basic_auth(d, passwords):
    """Start lighttpd for d (a Docchat made with serve=False) from the shipped template with
    its Basic-auth block uncommented, checking the users of passwords ({user: password})
    against an htpasswd file in d's state. Returns lighttpd's startup output."""
    users = os.path.join(d.state, "docchat.htpasswd")
    with open(users, "w", encoding="utf-8") as f:
        for u, p in passwords.items():
            f.write(htpasswd_line(u, p) + "\n")
    d.port = free_port()
    conf = fill_template(TEMPLATE, {"PORT": d.port, "WWW": os.path.join(SRCDIR, "www"),
                                    "DOCCHAT": DOCCHAT_BIN, "CONFIG": d.config_path,
                                    "STATE": d.state})
    conf, n = re.subn(r"^#(server\.modules \+= \( \"mod_auth\"|auth\.|\$HTTP\[\"url\"\]|"
                      r"  auth\.require|\})", r"\1", conf, flags=re.M)
    eq(n, 6, "lines of the Basic-auth block uncommented in %s" % TEMPLATE)
    conf, n = re.subn(r'"/etc/lighttpd/docchat\.htpasswd"', '"%s"' % users, conf)
    eq(n, 1, "the htpasswd path in the Basic-auth block")
    path = os.path.join(d.state, "lighttpd.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)
    log = os.path.join(d.state, "lighttpd.out")
    out = open(log, "wb")
    d.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", path], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=out, env=clean_env(), cwd=d.state)
    out.close()

    def up():
        if d.proc.poll() is not None:
            fail("lighttpd with Basic auth exited: %s" % tail(log))
        try:
            return d.request("GET", "/api/health", timeout=2)[0] == 200
        except OSError:
            return False
    wait_for(up, START_TIMEOUT_S, "lighttpd with Basic auth", 0.1)
    with open(log, encoding="utf-8", errors="replace") as f:
        return f.read()


# ---------------------------------------------------------------------------------------
# Checks on streams shared by the test files

def check_stream_headers(st):
    eq(st.status, 200, "stream status (body %s)" % short(st.body))
    eq(st.headers.get("Content-Type"), SSE_CONTENT_TYPE, "Content-Type")
    eq(st.headers.get("Cache-Control"), "no-cache", "Cache-Control")
    eq(st.headers.get("X-Accel-Buffering"), "no", "X-Accel-Buffering")


def check_framing(parser):
    check(not parser.errors, "SSE framing: %s" % short(parser.errors, 600))
    ids = [e.id for e in parser.events]
    eq(ids, list(range(1, len(ids) + 1)), "event ids")


def split_events(events, session_id, model, outcome="metadata"):
    """Check the order start, status, sources, status, chunk..., then metadata+done
    (outcome "metadata") or error+done (outcome "error"). Returns a dict with the start,
    sources, chunks (list of events), text (the chunks joined) and the final event."""
    types = [e.get("type") for e in events]
    check(len(events) >= 6, "too few events: %s" % types)
    eq(types[:4], ["start", "status", "sources", "status"], "first four event types")
    eq(types[-2:], [outcome, "done"], "last two event types (all: %s)" % short(types, 500))
    middle = types[4:-2]
    check(all(t == "chunk" for t in middle),
          "only chunks may come between the second status and %s: %s" % (outcome, middle))
    start, st1, sources, st2 = events[:4]
    eq(start.get("session_id"), session_id, "start.session_id")
    if model is not None:
        eq(start.get("model"), model, "start.model")
    check(isinstance(start.get("model"), str) and start["model"], "start.model: %s" % start)
    eq(st1.get("content"), STATUS_SEARCHING, "first status")
    eq(st2.get("content"), STATUS_GENERATING, "second status")
    check(isinstance(sources.get("content"), list), "sources.content: %s" % short(sources))
    check(is_int(sources.get("chunks_used")), "sources.chunks_used: %s" % short(sources))
    check(0 <= sources["chunks_used"] <= len(sources["content"]),
          "chunks_used %s with %d sources" % (sources["chunks_used"], len(sources["content"])))
    for s in sources["content"]:
        check_source(s)
    chunks = events[4:-2]
    for c in chunks:
        check(isinstance(c.get("content"), str) and c["content"] != "",
              "chunk content must be a non-empty string: %s" % short(c))
        eq(sorted(c.keys()), ["content", "type"], "chunk keys")
    eq(dict(events[-1]), {"type": "done"}, "done event")
    final = events[-2]
    if outcome == "error":
        check(isinstance(final.get("content"), str) and final["content"],
              "error.content: %s" % short(final))
    return {"start": start, "sources": sources["content"], "sources_event": sources,
            "chunks": chunks, "text": "".join(c["content"] for c in chunks), "final": final}


def check_source(s):
    check(isinstance(s, dict), "source is not an object: %s" % short(s))
    check(isinstance(s.get("text"), str) and s["text"], "source.text: %s" % short(s))
    check(is_num(s.get("score")) and 0.0 <= s["score"] <= 1.0, "source.score: %s" % short(s))
    md = s.get("metadata")
    check(isinstance(md, dict), "source.metadata: %s" % short(s))
    check(is_int(md.get("document_id")), "source.metadata.document_id: %s" % short(md))
    check(isinstance(md.get("document"), str) and md["document"],
          "source.metadata.document: %s" % short(md))
    check(is_int(md.get("chunk")) and md["chunk"] >= 0, "source.metadata.chunk: %s" % short(md))
    check("heading" in md and (md["heading"] is None or isinstance(md["heading"], str)),
          "source.metadata.heading: %s" % short(md))
    check("page" in md and (md["page"] is None or is_int(md["page"])),
          "source.metadata.page: %s" % short(md))


def check_metadata(md, model, text, search_mode, finish_reason="stop", usage=None):
    """usage: (prompt_tokens, completion_tokens) to compare, or None to check only types."""
    check(isinstance(md, dict), "metadata.content is not an object: %s" % short(md))
    eq(md.get("model"), model, "metadata.model")
    conf = md.get("confidence")
    check(is_num(conf) and 0.0 <= conf <= 1.0, "metadata.confidence: %s" % short(conf))
    hal = md.get("hallucination", "missing")
    if search_mode == "none":
        eq(hal, None, "metadata.hallucination with search_mode none")
    else:
        check(isinstance(hal, dict), "metadata.hallucination: %s" % short(hal))
        check(is_num(hal.get("score")) and 0.0 <= hal["score"] <= 1.0,
              "metadata.hallucination.score: %s" % short(hal))
        check(isinstance(hal.get("unsupported"), list) and
              all(isinstance(x, str) for x in hal["unsupported"]),
              "metadata.hallucination.unsupported: %s" % short(hal))
    eq(md.get("search_mode"), search_mode, "metadata.search_mode")
    eq(md.get("total_response"), text, "metadata.total_response")
    check(is_int(md.get("message_id")) and md["message_id"] > 0,
          "metadata.message_id: %s" % short(md.get("message_id")))
    if finish_reason is not None:
        eq(md.get("finish_reason"), finish_reason, "metadata.finish_reason")
    else:
        check(isinstance(md.get("finish_reason"), str), "metadata.finish_reason: %s" %
              short(md.get("finish_reason")))
    u = md.get("usage", "missing")
    if usage is not None:
        check(isinstance(u, dict), "metadata.usage: %s" % short(u))
        eq(u.get("prompt_tokens"), usage[0], "metadata.usage.prompt_tokens")
        eq(u.get("completion_tokens"), usage[1], "metadata.usage.completion_tokens")
    else:
        check(u is None or (isinstance(u, dict) and
                            all(v is None or is_int(v) for v in u.values())),
              "metadata.usage: %s" % short(u))
    tm = md.get("timings")
    check(isinstance(tm, dict), "metadata.timings: %s" % short(tm))
    check(is_num(tm.get("first_token_ms")) and tm["first_token_ms"] >= 0,
          "metadata.timings.first_token_ms: %s" % short(tm))
    check(is_num(tm.get("total_ms")) and tm["total_ms"] >= tm["first_token_ms"],
          "metadata.timings.total_ms: %s" % short(tm))


def chat(srv, sid, question, **fields):
    """POST a question and read the whole stream; returns the Stream."""
    body = {"question": question}
    body.update({k: v for k, v in fields.items() if v is not None})
    st = srv.stream("/api/chat/%s/stream" % sid, body)
    check_stream_headers(st)
    st.read_all()
    check_framing(st.parser)
    return st


class CgiResult:
    """The parsed output of one CGI run: .status (int), .headers (lower-case name ->
    value), .header_lines, .body (bytes), .returncode, .stderr."""

    def __init__(self, p):
        self.returncode = p.returncode
        self.stdout = p.stdout
        self.stderr = p.stderr.decode("utf-8", "replace")
        out = p.stdout
        idx_crlf = out.find(b"\r\n\r\n")
        idx_lf = out.find(b"\n\n")
        cands = [(i, n) for i, n in ((idx_crlf, 4), (idx_lf, 2)) if i >= 0]
        if not cands:
            fail("CGI output has no blank line after the headers (rc %d): %s / %s" % (
                p.returncode, short(out), short(self.stderr)))
        i, n = min(cands)
        head = out[:i].decode("utf-8", "replace")
        self.body = out[i + n:]
        self.header_lines = re.split(r"\r?\n", head)
        self.headers = {}
        for line in self.header_lines:
            name, colon, value = line.partition(":")
            check(colon and name and name == name.strip(),
                  "bad CGI header line %r" % line)
            self.headers[name.lower()] = value.strip()
        st = self.headers.get("status")
        check(st is not None, "CGI output has no Status: header: %s" % short(head))
        m = re.match(r"^([1-5][0-9][0-9])( .*)?$", st)
        check(m, "bad Status: header %r" % st)
        self.status = int(m.group(1))

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            fail("CGI body is not JSON (%s): %s" % (e, short(self.body)))
