"""A throw-away PostgreSQL 15 server for the integration tests, examples and
benchmarks: initdb in a temporary directory, listening on a free loopback
TCP port and on a Unix socket in that directory, with settings that trade
durability for speed.  When the tests run as root the server runs as the
`postgres` user (PostgreSQL refuses to run as root).  Standard library only.

    from pgserver import PgServer

    with PgServer(password="s3cret") as pg:
        pg.createdb("app")
        pg.psql("CREATE TABLE t (a int)", dbname="app")
        dsn = pg.dsn("app")                    # TCP, with the password
        sock = pg.dsn("app", unix=True)        # the Unix socket, trusted

Authentication: connections over the Unix socket are trusted; TCP
connections need the superuser's password when one was given (SCRAM),
else they are trusted too.  The superuser is `postgres`.

TLS: PgServer(ssl=(cert_pem, key_pem)) turns on `ssl` with that
certificate (copied into the server's directory); TCP clients then choose
with `sslmode` (pg.dsn("app", sslmode="require")).
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

PG_BIN = Path(os.environ.get("OTELSHIM_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = "postgres"

# Settings for a server nobody depends on: nothing waits for the disk.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "32MB",
    "max_connections": "50",
    "autovacuum": "off",
    "log_min_messages": "warning",
    "logging_collector": "off",
    "listen_addresses": "'127.0.0.1'",
}


def pg_bin(name):
    """Path of a PostgreSQL program (the real binary, not Debian's
    pg_wrapper script, so the shim is preloaded into the program itself)."""
    return str(PG_BIN / name)


def available():
    """True when the PostgreSQL server programs are installed."""
    return all((PG_BIN / p).exists() for p in ("initdb", "postgres",
                                               "pg_ctl", "psql"))


def need_postgres():
    """Skip the calling test when PostgreSQL is not installed, or when
    running as root without a `postgres` user to run the server as."""
    if not available():
        raise unittest.SkipTest("PostgreSQL 15 not found in %s" % PG_BIN)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            raise unittest.SkipTest("running as root and no %s user"
                                    % RUN_AS)


def _free_port():
    from harness import free_port
    return free_port()


class PgServer:
    """A PostgreSQL server of its own, started by start() (or `with`) and
    removed, data and all, by stop().

    Attributes once started: host ("127.0.0.1"), port (int), socket_dir
    (the directory holding the Unix socket), user ("postgres"), password
    (or None), dir (the temporary directory), data_dir, log_path."""

    def __init__(self, password=None, settings=None, start_timeout=30.0,
                 ssl=None):
        self.password = password
        self.ssl = ssl
        self.settings = dict(FAST_SETTINGS)
        self.settings.update(settings or {})
        self.start_timeout = start_timeout
        self.user = "postgres"
        self.host = "127.0.0.1"
        self.port = None
        self.dir = None
        self.data_dir = None
        self.socket_dir = None
        self.log_path = None
        self._started = False
        self._uid = None
        self._gid = None

    # ------------------------------------------------------------ running

    def _as_server_user(self, argv):
        """argv run as the server's user: as is unless we are root."""
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", RUN_AS, "--"] + argv

    def _run(self, argv, **kw):
        r = subprocess.run(self._as_server_user(argv), capture_output=True,
                           text=True, errors="replace",
                           env=self._server_env(), **kw)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s"
                               % (" ".join(argv), r.returncode, r.stdout,
                                  r.stderr))
        return r

    def _server_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PG", "OTEL_"))
               and k not in ("LD_PRELOAD", "TRACEPARENT", "TRACESTATE")}
        env["LC_ALL"] = "C"
        return env

    def start(self):
        need_postgres()
        self.dir = Path(tempfile.mkdtemp(prefix="otelshim-pg-"))
        self.data_dir = self.dir / "data"
        self.socket_dir = str(self.dir)
        self.log_path = self.dir / "server.log"
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(RUN_AS)
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self._uid, self._gid)
        try:
            self._initdb()
            self._configure()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self):
        argv = [pg_bin("initdb"), "-D", str(self.data_dir), "-U", self.user,
                "-E", "UTF8", "--locale=C", "--no-sync",
                "--auth-local=trust"]
        if self.password is not None:
            pwfile = self.dir / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._uid is not None:
                os.chown(pwfile, self._uid, self._gid)
            os.chmod(pwfile, 0o600)
            argv += ["--pwfile", str(pwfile), "--auth-host=scram-sha-256"]
        else:
            argv += ["--auth-host=trust"]
        try:
            self._run(argv, timeout=120)
        finally:
            if self.password is not None:
                (self.dir / "pwfile").unlink(missing_ok=True)

    def _configure(self):
        self.port = _free_port()
        lines = ["%s = %s" % kv for kv in self.settings.items()]
        lines += ["port = %d" % self.port,
                  "unix_socket_directories = '%s'" % self.socket_dir]
        if self.ssl:
            lines += ["ssl = on"] + self._install_certificate()
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write("\n# otelshim tests\n" + "\n".join(lines) + "\n")

    def _install_certificate(self):
        """The server's copies of the certificate and key (the key only
        for the server's user, as the server demands); their settings."""
        names = []
        for src, name, mode in zip(self.ssl, ("server.crt", "server.key"),
                                   (0o644, 0o600)):
            dst = self.dir / name
            shutil.copyfile(src, dst)
            if self._uid is not None:
                os.chown(dst, self._uid, self._gid)
            os.chmod(dst, mode)
            names.append(str(dst))
        return ["ssl_cert_file = '%s'" % names[0],
                "ssl_key_file = '%s'" % names[1]]

    def _start_server(self):
        self._run([pg_bin("pg_ctl"), "-D", str(self.data_dir), "-l",
                   str(self.log_path), "-w", "-t",
                   str(int(self.start_timeout)), "start"],
                  timeout=self.start_timeout + 10)
        self._started = True
        deadline = time.monotonic() + self.start_timeout
        while True:
            r = subprocess.run([pg_bin("pg_isready"), "-q", "-h",
                                self.socket_dir, "-p", str(self.port)],
                               env=self._server_env())
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready:\n" + self.log())
            time.sleep(0.1)

    def stop(self):
        """Stops the server (fast shutdown) and removes its directory."""
        if self._started:
            try:
                self._run([pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m",
                           "immediate", "-w", "stop"], timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill()
            self._started = False
        if self.dir is not None and not os.environ.get("OTELSHIM_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _kill(self):
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text()
                      .split("\n")[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def log(self):
        """The server's log so far (for assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    # ------------------------------------------------------------ clients

    def dsn(self, dbname="postgres", unix=False, password=True, **extra):
        """A libpq connection string: TCP to host:port (with the password
        when the server has one and password is true), or with unix=True
        the Unix socket.  Extra keywords are appended (application_name=..)."""
        parts = {"host": self.socket_dir if unix else self.host,
                 "port": str(self.port), "dbname": dbname,
                 "user": self.user}
        if password and self.password is not None and not unix:
            parts["password"] = self.password
        parts.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, _quote(v)) for k, v in parts.items())

    def url(self, dbname="postgres", password=True):
        """The same connection as a postgresql:// URI over TCP."""
        from urllib.parse import quote
        auth = self.user
        if password and self.password is not None:
            auth += ":" + quote(self.password, safe="")
        return "postgresql://%s@%s:%d/%s" % (auth, self.host, self.port,
                                             dbname)

    def env(self, dbname="postgres", unix=True):
        """PG* variables that point a libpq client at this server (no
        password: over the socket none is needed; add PGPASSWORD
        yourself for TCP)."""
        return {"PGHOST": self.socket_dir if unix else self.host,
                "PGPORT": str(self.port), "PGUSER": self.user,
                "PGDATABASE": dbname}

    def psql(self, sql, dbname="postgres", check=True, args=()):
        """Runs sql with psql over the Unix socket, untraced; returns its
        stdout (unaligned, tuples only).  Raises RuntimeError on failure
        when check is true."""
        argv = [pg_bin("psql"), "-X", "-q", "-A", "-t", "-v",
                "ON_ERROR_STOP=1", "-d", self.dsn(dbname, unix=True)]
        argv += list(args) + ["-c", sql]
        r = subprocess.run(argv, capture_output=True, text=True,
                           errors="replace", env=self._server_env(),
                           timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("psql %r failed (%d):\n%s"
                               % (sql, r.returncode, r.stderr))
        return r.stdout

    def createdb(self, name):
        """Creates database name (quoted as an identifier)."""
        self.psql('CREATE DATABASE "%s"' % name.replace('"', '""'))
        return name


def _quote(v):
    """A conninfo value, quoted when it has spaces, quotes or is empty."""
    if v and not any(c in v for c in " '\\"):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
