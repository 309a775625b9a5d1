"""servers.py - the web servers of test_servers.py, each run from docchat's shipped config.

Every server runs in the foreground from its own config file, pid file, logs and loopback
port inside the test's temporary directory, and is stopped at the end; the machine's own
services are never touched. stage() first copies the docchat binary and the page into that
directory, where the servers' user can reach them wherever the checkout is.

The shipped files under deploy/ are used with their @...@ placeholders filled in and
nothing else changed; what Debian's main config files would provide around them
(apache2.conf with mods-enabled/, nginx.conf) is a small skeleton written here: modules,
pid file, logs, the worker user, and the compression a typical host turns on for
everything (so the configs' "no compression for /api" is tested too).

docchat under spawn-fcgi is started with the ExecStart line of deploy/systemd/docchat.service
(socket and binary paths substituted), its Environment= settings and its UMask, as the
unit's User/Group would: as root, www-data for both (the unit's own user, docchat, does not
exist here), otherwise the current user.

A Site is one server serving one docchat configuration (a harness.Docchat whose port is set
once the server answers), optionally with the shipped idle timeout replaced by a short one
(short_idle_s) for the timeout checks: that edit is the only change, and it must match
exactly once.
"""

import http.client
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import harness as h
from harness import check, fail

APACHE = os.environ.get("APACHE2") or "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
NGINX = os.environ.get("NGINX") or "/usr/sbin/nginx"
SPAWN_FCGI = os.environ.get("SPAWN_FCGI") or "/usr/bin/spawn-fcgi"
DEPLOY = os.path.join(h.SRCDIR, "deploy")
# Set by stage(): copies of the binary and the page that the servers' user can reach.
BIN = h.DOCCHAT_BIN
WWW = os.path.join(h.SRCDIR, "www")
UNIT = os.path.join(DEPLOY, "systemd", "docchat.service")
UNIT_SOCKET = "/run/docchat/docchat.sock"
UNIT_DB = "/var/lib/docchat/docchat.db"
UNIT_BIN = "/usr/local/bin/docchat"
STOP_TIMEOUT_S = 15.0

# The user the web servers' workers and docchat run as when the tests run as root.
RUN_AS = "www-data" if os.geteuid() == 0 else None


def run_as_ids():
    if RUN_AS is None:
        return None
    pw = pwd.getpwnam(RUN_AS)
    return pw.pw_uid, pw.pw_gid


def give_to_run_as(path):
    """chown -R path to RUN_AS (root only), so docchat can write its database there."""
    ids = run_as_ids()
    if ids is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, *ids)
        for n in files:
            os.chown(os.path.join(root, n), *ids)


def stage(tmp):
    """Copy the docchat binary and the page (without node_modules) into tmp, which the
    servers' user must be able to reach: the checkout may be somewhere it cannot (under
    /root, say), and a rebuild during the run does not pull the binary away."""
    global BIN, WWW
    os.chmod(tmp.path, 0o755)
    d = tmp.path
    while d != "/":
        check(os.stat(d).st_mode & 0o001, "%s is not searchable by other users, so the web "
              "servers' user cannot reach the test files: set TMPDIR=/tmp" % d)
        d = os.path.dirname(d)
    check(os.access(h.DOCCHAT_BIN, os.X_OK), "DOCCHAT_BIN %s is not an executable" %
          h.DOCCHAT_BIN)
    BIN = tmp.join("bin", "docchat")
    os.makedirs(os.path.dirname(BIN))
    shutil.copy2(h.DOCCHAT_BIN, BIN)
    WWW = tmp.join("www")
    shutil.copytree(os.path.join(h.SRCDIR, "www"), WWW,
                    ignore=shutil.ignore_patterns("node_modules"))


def children_of(pid):
    """Every process below pid (recursively), from /proc."""
    parents = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in parents.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def stop_process(proc, what, timeout=STOP_TIMEOUT_S, sig=signal.SIGTERM):
    """Stop proc and every process it started (they are ours by pid); returns the pids of
    its descendants that were still running after it exited (and were then killed)."""
    if proc is None or proc.poll() is not None:
        return []
    kids = children_of(proc.pid)
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        fail("%s did not stop within %.0fs of signal %d" % (what, timeout, sig))
    deadline = time.monotonic() + 3.0
    left = [p for p in kids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return left


def replace_once(text, pattern, repl, what):
    new, n = re.subn(pattern, repl, text, flags=re.M)
    check(n == 1, "%s: pattern %r matched %d times, want exactly 1" % (what, pattern, n))
    return new


class SpawnFcgi:
    """docchat as deploy/systemd/docchat.service runs it: spawn-fcgi -n binds the socket,
    puts it on fd 0 and execs docchat, so the process started here ends up as docchat."""

    def __init__(self, srv, sock_dir):
        self.srv = srv
        self.socket = os.path.join(sock_dir, "docchat.sock")
        self.log_path = os.path.join(srv.state, "docchat-spawnfcgi.log")
        exec_start, env, umask = None, {}, None
        with open(UNIT, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("ExecStart="):
                    exec_start = line[len("ExecStart="):]
                elif line.startswith("Environment="):
                    k, _, v = line[len("Environment="):].partition("=")
                    env[k] = v
                elif line.startswith("UMask="):
                    umask = int(line[len("UMask="):], 8)
        check(exec_start, "%s has no ExecStart=" % UNIT)
        argv = shlex.split(exec_start)
        check(argv.count(UNIT_SOCKET) == 1 and argv.count(UNIT_BIN) == 1,
              "ExecStart of %s does not name %s and %s once each: %s" % (
                  UNIT, UNIT_SOCKET, UNIT_BIN, exec_start))
        check(argv[0] == "/usr/bin/spawn-fcgi", "ExecStart runs %s, not spawn-fcgi" % argv[0])
        argv = [SPAWN_FCGI if a == argv[0] else self.socket if a == UNIT_SOCKET else
                BIN if a == UNIT_BIN else a for a in argv]
        check(env.get("DOCCHAT_DB") == UNIT_DB, "%s: Environment=DOCCHAT_DB=%s expected" % (
            UNIT, UNIT_DB))
        env["DOCCHAT_DB"] = srv.db_path
        # The unit's EnvironmentFile=/etc/docchat.conf: here the same settings come from
        # docchat's own config file.
        env["DOCCHAT_CONFIG"] = srv.config_path
        self.argv = argv
        log = open(self.log_path, "wb")
        kw = {}
        if RUN_AS is not None:
            kw = {"user": RUN_AS, "group": RUN_AS, "extra_groups": []}
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=h.clean_env(env), cwd=srv.state,
                                     umask=umask if umask is not None else -1, **kw)
        log.close()
        h.wait_for(self._ready, h.START_TIMEOUT_S, "spawn-fcgi to create %s" % self.socket)

    def _ready(self):
        if self.proc.poll() is not None:
            fail("spawn-fcgi exited (%s): %s" % (self.proc.returncode, h.tail(self.log_path)))
        return os.path.exists(self.socket)

    def stop(self):
        return stop_process(self.proc, "docchat under spawn-fcgi")


class Site:
    """One web server (kind) in front of one docchat configuration."""

    def __init__(self, tmp, fake, kind, name, overrides=None, short_idle_s=None):
        self.kind = kind
        self.name = name
        self.short_idle_s = short_idle_s
        self.procs = []          # (what, Popen, stop signal), stopped in reverse order
        self.spawn = None
        self.stopped = False
        self.leftovers = []
        self.srv = h.Docchat(tmp, fake, name=name, overrides=overrides, serve=False)
        self.state = self.srv.state
        self.logs = []
        h.on_exit(self._on_exit)
        give_to_run_as(self.state)
        self.port = h.free_port()
        getattr(self, "_start_" + kind.replace("-", "_"))()
        self._wait_healthy()

    # ---- the config files -------------------------------------------------------

    def _fill(self, rel, values, timeout_edit=None):
        """The shipped deploy/REL with its placeholders filled; with short_idle_s set,
        timeout_edit (pattern, replacement with {s}) applied to it as well."""
        text = h.fill_template(os.path.join(DEPLOY, rel), values)
        if self.short_idle_s is not None:
            pattern, repl = timeout_edit
            text = replace_once(text, pattern, repl.format(s=self.short_idle_s), rel)
        out = os.path.join(self.state, "server-" + os.path.basename(rel)[:-len(".in")])
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        return out

    def _sock_dir(self):
        d = os.path.join(self.state, "run")
        os.makedirs(d, exist_ok=True)
        give_to_run_as(d)
        return d

    def _popen(self, what, argv, stop_sig=signal.SIGTERM):
        out_path = os.path.join(self.state, "%s.out" % what)
        out = open(out_path, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             env=h.clean_env(), cwd=self.state)
        out.close()
        self.procs.append((what, p, stop_sig))
        self.logs.append(out_path)
        return p

    # ---- lighttpd ---------------------------------------------------------------

    LIGHTTPD_IDLE = (r"^server\.max-write-idle = 360$", "server.max-write-idle = {s}")

    def _start_lighttpd(self):
        conf = self._fill("lighttpd/docchat.conf.in", {
            "PORT": self.port, "WWW": WWW, "DOCCHAT": BIN,
            "CONFIG": self.srv.config_path, "STATE": self.state}, self.LIGHTTPD_IDLE)
        self.logs.append(os.path.join(self.state, "lighttpd-error.log"))
        self._popen("lighttpd", [h.LIGHTTPD, "-D", "-f", conf])

    def _start_lighttpd_spawnfcgi(self):
        self.spawn = SpawnFcgi(self.srv, self._sock_dir())
        self.logs.append(self.spawn.log_path)
        conf = self._fill("lighttpd/docchat-spawnfcgi.conf.in", {
            "BIND": "127.0.0.1", "PORT": self.port, "WWW": WWW,
            "SOCKET": self.spawn.socket, "STATE": self.state}, self.LIGHTTPD_IDLE)
        self.logs.append(os.path.join(self.state, "lighttpd-error.log"))
        self._popen("lighttpd", [h.LIGHTTPD, "-D", "-f", conf])

    # ---- Apache -----------------------------------------------------------------

    def _apache(self, site_conf, modules, extra=""):
        run = os.path.join(self.state, "apache-run")
        os.makedirs(run, exist_ok=True)
        give_to_run_as(run)
        error_log = os.path.join(self.state, "apache-error.log")
        self.logs.append(error_log)
        mods = ["mpm_event", "authz_core", "mime", "dir", "alias", "env", "setenvif",
                "headers", "filter", "deflate"] + modules
        lines = [
            "# Stands in for Debian's apache2.conf, ports.conf and mods-enabled/.",
            "ServerRoot %s" % self.state,
            "ServerName 127.0.0.1",
            "DefaultRuntimeDir %s" % run,
            "PidFile %s/apache2.pid" % run,
            "Mutex file:%s default" % run,
            "ErrorLog %s" % error_log,
            "LogLevel warn",
            "Listen 127.0.0.1:%d" % self.port,
            "Timeout 300",
            "KeepAlive On",
        ]
        if RUN_AS:
            lines += ["User %s" % RUN_AS, "Group %s" % RUN_AS]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m) for m in mods]
        lines += [
            "TypesConfig /etc/mime.types",
            "# A host that compresses everything it can.",
            "AddOutputFilterByType DEFLATE text/html text/plain application/json "
            "text/event-stream",
            extra % {"run": run},
            "Include %s" % site_conf,
        ]
        conf = os.path.join(self.state, "apache2.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        # SIGTERM: Apache stops at once, taking its FastCGI and CGI children with it.
        self._popen("apache2", [APACHE, "-f", conf, "-DFOREGROUND"])

    def _start_apache_fcgid(self):
        site = self._fill("apache/docchat-fcgid.conf.in", {
            "PORT": self.port, "WWW": WWW, "DOCCHAT": BIN,
            "CONFIG": self.srv.config_path},
            (r"^(\s*)FcgidIOTimeout 120$", r"\g<1>FcgidIOTimeout {s}"))
        ipc = os.path.join(self.state, "fcgid")
        os.makedirs(ipc, exist_ok=True)
        give_to_run_as(ipc)
        self._apache(site, ["fcgid"], "FcgidIPCDir %s\nFcgidProcessTableFile "
                     "%%(run)s/fcgid_shm" % ipc)

    def _start_apache_proxy_fcgi(self):
        self.spawn = SpawnFcgi(self.srv, self._sock_dir())
        self.logs.append(self.spawn.log_path)
        site = self._fill("apache/docchat-proxy-fcgi.conf.in", {
            "PORT": self.port, "WWW": WWW, "SOCKET": self.spawn.socket},
            (r"flushpackets=on timeout=120$", "flushpackets=on timeout={s}"))
        self._apache(site, ["proxy", "proxy_fcgi"])

    def _start_apache_cgi(self):
        site = self._fill("apache/docchat-cgi.conf.in", {
            "PORT": self.port, "WWW": WWW, "DOCCHAT": BIN,
            "CONFIG": self.srv.config_path},
            (r"^(\s*)CGIDScriptTimeout 120$", r"\g<1>CGIDScriptTimeout {s}"))
        self._apache(site, ["cgid"], "ScriptSock %(run)s/cgid.sock")

    # ---- nginx ------------------------------------------------------------------

    def _start_nginx_spawnfcgi(self):
        self.spawn = SpawnFcgi(self.srv, self._sock_dir())
        self.logs.append(self.spawn.log_path)
        site = self._fill("nginx/docchat.conf.in", {
            "BIND": "127.0.0.1", "PORT": self.port, "WWW": WWW, "SOCKET": self.spawn.socket},
            (r"^(\s*)fastcgi_read_timeout 120s;$", r"\g<1>fastcgi_read_timeout {s}s;"))
        temp = os.path.join(self.state, "nginx-temp")
        os.makedirs(temp, exist_ok=True)
        error_log = os.path.join(self.state, "nginx-error.log")
        self.logs.append(error_log)
        # "include fastcgi_params" is relative to the main config's directory.
        shutil.copy("/etc/nginx/fastcgi_params", os.path.join(self.state, "fastcgi_params"))
        lines = [
            "# Stands in for Debian's /etc/nginx/nginx.conf.",
            "user %s;" % RUN_AS if RUN_AS else "",
            "worker_processes 1;",
            "pid %s/nginx.pid;" % self.state,
            "error_log %s warn;" % error_log,
            "events { worker_connections 256; }",
            "http {",
            "    include /etc/nginx/mime.types;",
            "    default_type application/octet-stream;",
            "    access_log %s/nginx-access.log;" % self.state,
        ] + ["    %s_temp_path %s/%s;" % (t, temp, t)
             for t in ("client_body", "fastcgi", "proxy", "uwsgi", "scgi")] + [
            "    # A host that compresses everything it can.",
            "    gzip on;",
            "    gzip_types text/plain application/json text/event-stream;",
            "    include %s;" % site,
            "}",
        ]
        conf = os.path.join(self.state, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        # SIGQUIT would wait for open streams; SIGTERM is nginx's fast stop.
        self._popen("nginx", [NGINX, "-e", error_log, "-c", conf, "-g", "daemon off;"])

    # ---- running ----------------------------------------------------------------

    def _wait_healthy(self):
        def healthy():
            for what, p, _ in self.procs:
                if p.poll() is not None:
                    fail("%s exited (%s):\n%s" % (what, p.returncode, self.log_tails()))
            self.srv.port = self.port
            try:
                status, _, _ = self.srv.request("GET", "/api/health", timeout=2)
            except (OSError, http.client.HTTPException):
                return False
            return status == 200
        h.wait_for(healthy, h.START_TIMEOUT_S, "GET /api/health through %s" % self.kind, 0.1)

    def log_tails(self, n=25):
        out = []
        for p in self.logs:
            if os.path.exists(p) and os.path.getsize(p):
                out.append("--- %s\n%s" % (p, h.tail(p, n)))
        return "\n".join(out)

    def stop(self):
        """Stop the web server, then docchat under spawn-fcgi. Returns the pids of
        processes left behind by the web server (killed afterwards)."""
        if self.stopped:
            return self.leftovers
        self.stopped = True
        for what, p, sig in reversed(self.procs):
            self.leftovers += stop_process(p, what, sig=sig)
        if self.spawn is not None:
            self.leftovers += self.spawn.stop()
        return self.leftovers

    def _on_exit(self, failed):
        try:
            self.stop()
        finally:
            if failed:
                sys.stderr.write("# logs of %s (%s):\n%s\n" % (self.name, self.kind,
                                                              self.log_tails()))
