"""faultlib.py - what the fault, hostile-input and load tests add to harness.py.

- Served: a harness.Docchat whose lighttpd config may differ from the shipped template in
  the few ways these tests need: a wrapper script as the FastCGI bin-path (to run docchat
  as another user, or under a file size limit), max-procs, extra lighttpd lines and
  extra environment for lighttpd and the docchat processes it spawns.
- docchat_pids/rss_kib: the docchat processes lighttpd spawned for one configuration and
  their resident memory, from /proc.
- Unprivileged runs: as root, chmod does not stop docchat from writing, so the tests
  that need file permissions to bite run docchat as `nobody` (setpriv) through a wrapper.
- Mounts: a small tmpfs for "disk full", removed at exit whatever happens.
- integrity(): PRAGMA integrity_check of a database, opened read-only from outside.
"""

import os
import pwd
import sqlite3
import stat
import subprocess
import sys

import harness as h
from harness import check

NOBODY = "nobody"

# These tests send many requests as the one local user; the per-user limits (requests
# per minute, streams at once) are tested elsewhere and would only get in the way here.
# Only the settings the binary knows are written (docchat refuses unknown ones).
QUIET_LIMITS = {
    "DOCCHAT_AUTH": "none",
    "DOCCHAT_RATE_PER_MIN": "0",
    "DOCCHAT_MAX_STREAMS_PER_USER": "0",
}
_known = []


def known_settings():
    """The names of the settings this docchat binary knows (from `docchat config`)."""
    if not _known:
        r = subprocess.run([h.DOCCHAT_BIN, "config"], capture_output=True, timeout=60,
                           env=h.clean_env({"DOCCHAT_CONFIG": "/dev/null"}))
        names = [l.split("=", 1)[0] for l in r.stdout.decode("utf-8", "replace").splitlines()
                 if "=" in l and not l.startswith("#")]
        check(names, "docchat config printed no settings: %s" % h.short(r.stderr))
        _known.extend(names)
    return _known


def is_root():
    return os.geteuid() == 0


def write_script(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def unprivileged_wrapper(directory, user=NOBODY):
    """A bin-path script that runs docchat as `user` when the tests run as root (so that
    file modes apply to it), and as itself otherwise. Returns (script, uid, gid)."""
    if is_root():
        pw = pwd.getpwnam(user)
        uid, gid = pw.pw_uid, pw.pw_gid
        cmd = "exec setpriv --reuid=%d --regid=%d --clear-groups %s \"$@\"\n" % (
            uid, gid, shell_quote(h.DOCCHAT_BIN))
    else:
        uid, gid = os.geteuid(), os.getegid()
        cmd = "exec %s \"$@\"\n" % shell_quote(h.DOCCHAT_BIN)
    script = write_script(os.path.join(directory, "docchat-as-%s" % user), "#!/bin/sh\n" + cmd)
    return script, uid, gid


def open_up(path):
    """Let other users walk into path (mkdtemp makes 0700 directories)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    os.chmod(path, mode | 0o711)


def chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            try:
                os.lchown(os.path.join(root, n), uid, gid)
            except FileNotFoundError:
                pass


class Served(h.Docchat):
    """harness.Docchat with the lighttpd config adjusted (see the module doc).

    wrapper: script lighttpd runs instead of docchat (it must exec docchat);
    max_procs: lighttpd's max-procs; lighttpd_extra: lines appended to the config;
    conf_replace: (old, new) text replacements in the filled template;
    env: extra environment for lighttpd and the docchat processes it spawns (lighttpd
    passes its whole environment to bin-path children)."""

    def __init__(self, tmp, fake, name="main", overrides=None, docs=None, ingest=True,
                 serve=True, wrapper=None, max_procs=1, lighttpd_extra="", env=None,
                 before_serve=None, conf_replace=None):
        self.wrapper = wrapper
        self.max_procs = max_procs
        self.lighttpd_extra = lighttpd_extra
        self.conf_replace = list(conf_replace or [])
        self.extra_env = dict(env or {})
        self.before_serve = before_serve
        known = known_settings()
        settings = {k: v for k, v in QUIET_LIMITS.items() if k in known}
        settings.update(overrides or {})
        super().__init__(tmp, fake, name=name, overrides=settings, docs=docs,
                         ingest=ingest, serve=False)
        self.db_path = self.settings["DOCCHAT_DB"]
        if serve:
            self.start()

    def start(self):
        if self.before_serve is not None:
            self.before_serve(self)
        self._start_lighttpd()

    def stop(self):
        """Stop lighttpd (and with it the docchat processes it spawned)."""
        self._stop(False)
        self.proc = None

    def _start_lighttpd(self):
        # The same steps as harness.Docchat._start_lighttpd, on an adjusted config.
        check(os.access(h.DOCCHAT_BIN, os.X_OK), "DOCCHAT_BIN %s is not executable" %
              h.DOCCHAT_BIN)
        self.port = h.free_port()
        conf = h.fill_template(h.TEMPLATE, {
            "PORT": self.port, "WWW": os.path.join(h.SRCDIR, "www"),
            "DOCCHAT": self.wrapper or h.DOCCHAT_BIN,
            "CONFIG": self.config_path, "STATE": self.state})
        procs_line = '"max-procs"       => 1,'
        check(procs_line in conf, "the lighttpd template no longer has %r" % procs_line)
        conf = conf.replace(procs_line, '"max-procs"       => %d,' % self.max_procs)
        for old, new in self.conf_replace:
            check(old in conf, "the lighttpd template no longer has %r" % old)
            conf = conf.replace(old, new)
        conf += "\n" + self.lighttpd_extra + "\n"
        self.lighttpd_conf = os.path.join(self.state, "lighttpd.conf")
        with open(self.lighttpd_conf, "w", encoding="utf-8") as f:
            f.write(conf)
        out = open(os.path.join(self.state, "lighttpd.out"), "ab")
        self.proc = subprocess.Popen([h.LIGHTTPD, "-D", "-f", self.lighttpd_conf],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     env=h.clean_env(self.extra_env), cwd=self.state)
        out.close()

        def healthy():
            if self.proc.poll() is not None:
                h.fail("lighttpd exited (%s): %s\n%s" % (
                    self.proc.returncode, h.tail(os.path.join(self.state, "lighttpd.out")),
                    h.tail(self.error_log)))
            try:
                status, _, _ = self.request("GET", "/api/health", timeout=2)
            except (OSError, h.http.client.HTTPException):
                return False
            return status in (200, 503)
        h.wait_for(healthy, h.START_TIMEOUT_S, "GET /api/health through lighttpd", 0.1)

    def log_text(self):
        """docchat's log lines (lighttpd passes docchat's stderr to its own)."""
        try:
            with open(os.path.join(self.state, "lighttpd.out"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def docchat_pids(srv):
    """PIDs of the docchat processes lighttpd spawned for this configuration: those whose
    environment names its config (lighttpd sets it for them alone; the binary may run
    under a wrapper that execs another program, such as valgrind)."""
    want = ("DOCCHAT_CONFIG=" + srv.config_path).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if want in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            continue
    return sorted(pids)


def proc_status(pid, field):
    """An integer field of /proc/PID/status (VmRSS, Threads, ...), None if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_kib(pids):
    return sum(proc_status(p, "VmRSS") or 0 for p in pids)


def integrity(path):
    """PRAGMA integrity_check of the database at path ("ok" when sound)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(r[0] for r in rows)
    finally:
        db.close()


def count_rows(path, sql, args=()):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchone()[0]
    finally:
        db.close()


class Tmpfs:
    """A tmpfs of `size` mounted on `path` (root only); unmounted at exit."""

    def __init__(self, path, size):
        self.path = path
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                            "tmpfs", path], capture_output=True, text=True)
        if r.returncode != 0:
            h.skip("cannot mount a tmpfs here (%s)" % (r.stderr.strip() or r.returncode))
        self.mounted = True
        h.on_exit(self._umount)

    def _umount(self, failed):
        if self.mounted:
            subprocess.run(["umount", "-l", self.path], capture_output=True)
            self.mounted = False


def fill_disk(directory, name="filler"):
    """Write zeros into directory/name until the file system is full; returns the path."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 16, 4096, 64, 1):
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


def log(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()
