"""SQLite statement spans from the sqlite3 C API, on real programs: the
sqlite3 CLI running a script, Python's sqlite3 module (executemany, errors,
threads sharing a connection) and examples/sqlite_loop (prepare/bind/step/
reset loops, sqlite3_exec, a failing UTF-16 prepare).  Every executed
statement must arrive as exactly one CLIENT span with the right summary,
attributes and status, and no literal or bound value may appear anywhere in
what the receiver got.  Parents: TRACEPARENT, and a span made active on the
thread (through a test build of the library that exports a way to do so).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

from harness import (BUILD, LIB, KIND_CLIENT, KIND_SERVER, STATUS_ERROR,
                     STATUS_UNSET, Sink, assert_child_of, attr, find_span,
                     is_root, need_programs, run_traced, summarize)

ROOT = Path(__file__).resolve().parents[2]
LOOP = BUILD / "examples" / "sqlite_loop"
SYSTEM_LIBSQLITE = "/lib/x86_64-linux-gnu/libsqlite3.so.0"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def settle(sink, count, timeout=10.0):
    """Wait for count spans, then a little longer so that extra spans (a
    duplicate would be one) have time to arrive too."""
    sink.wait_for_spans(count, timeout=timeout)
    time.sleep(0.6)
    return sink.spans()


def by_start(spans):
    return sorted(spans, key=lambda s: int(s["start_time_unix_nano"]))


def assert_no_secret(test, spans, secrets, numbers=()):
    """No secret may appear anywhere in the spans as received; numeric
    secrets are looked for where SQL can end up (names, attributes,
    status, events), since ids and timestamps are digits too."""
    blob = json.dumps(spans)
    for secret in secrets:
        test.assertFalse(secret in blob, "literal %r leaked" % secret)
    parts = json.dumps([[s.get("name"), s.get("attributes"),
                         s.get("status"), s.get("events")] for s in spans])
    for secret in numbers:
        test.assertFalse(secret in parts, "literal %r leaked" % secret)


def assert_db_span(test, s, summary, ns, rows=None, op=None, coll=None):
    a = s["attributes"]
    test.assertEqual(s["kind"], KIND_CLIENT, summarize([s]))
    test.assertEqual(s["name"], summary)
    test.assertEqual(a["db.query.summary"], summary)
    test.assertEqual(a["db.system.name"], "sqlite")
    test.assertEqual(a["db.namespace"], ns)
    if op is not None:
        test.assertEqual(a.get("db.operation.name"), op)
    if coll is not None:
        test.assertEqual(a.get("db.collection.name"), coll)
    if rows is not None:
        test.assertEqual(a.get("db.response.returned_rows"), rows,
                         summarize([s]))
    test.assertLessEqual(int(s["start_time_unix_nano"]),
                         int(s["end_time_unix_nano"]))


def assert_error(test, s, code, message_part):
    test.assertEqual(s["status"]["code"], STATUS_ERROR, summarize([s]))
    test.assertEqual(attr(s, "db.response.status_code"), code)
    test.assertEqual(attr(s, "error.type"), code)
    test.assertIn(message_part, s["status"].get("message", ""))


def python_with_system_sqlite():
    """A python3 whose _sqlite3 module links the system libsqlite3 (the
    one whose entry points the shim interposes)."""
    for py in ("/usr/bin/python3", sys.executable):
        if not py or not os.path.exists(py):
            continue
        r = subprocess.run([py, "-c", "import _sqlite3; print(_sqlite3.__file__)"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            continue
        ldd = subprocess.run(["ldd", r.stdout.strip()], capture_output=True,
                             text=True).stdout
        if "libsqlite3.so" in ldd:
            return py
    raise unittest.SkipTest("no python3 with a _sqlite3 linking libsqlite3")


CLI_SCRIPT = """\
CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL,
                   age INTEGER);
BEGIN;
INSERT INTO users(email, age) VALUES ('alice-zq7secret@example.com', 424242);
INSERT INTO users(email, age) VALUES ('bob-zq7secret@example.com', 171717);
INSERT INTO users(email, age) VALUES ('carol-zq7secret@example.com', 5);
COMMIT;
SELECT id, email FROM users WHERE age > 100 ORDER BY id;
SELECT count(*) FROM users WHERE email LIKE '%zq7secret-like%';
INSERT INTO users(email, age) VALUES ('alice-zq7secret@example.com', 99);
SELECT * FROM missing_table WHERE token = 'zq7secret-missing';
SELECT email FROM users WHERE email = 'a' 'zq7secret-syntax';
UPDATE users SET age = 31337 WHERE email = 'bob-zq7secret@example.com';
DELETE FROM users WHERE age < 10;
"""
CLI_SECRETS = ["zq7secret"]
CLI_NUMBERS = ["424242", "171717", "31337"]


class CliScript(unittest.TestCase):
    """The sqlite3 shell (it links libsqlite3) running a script."""

    def setUp(self):
        need_programs("sqlite3")
        self.dir = tempfile.mkdtemp(prefix="otelshim-sqlite-")
        self.db = os.path.join(self.dir, "cli.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_cli(self, sink, **env):
        r = run_traced(["sqlite3", self.db], sink, input=CLI_SCRIPT, **env)
        # The shell reports the three failures and carries on.
        self.assertIn("UNIQUE constraint failed", r.stderr)
        self.assertIn("no such table: missing_table", r.stderr)
        self.assertIn("syntax error", r.stderr)
        self.assertEqual(r.stdout.splitlines()[:3],
                         ["1|alice-zq7secret@example.com",
                          "2|bob-zq7secret@example.com", "0"])
        return r

    def test_one_span_per_statement(self):
        with Sink() as sink:
            self.run_cli(sink)
            spans = by_start(settle(sink, 13))
        names = [s["name"] for s in spans]
        self.assertEqual(names, [
            "CREATE TABLE users", "BEGIN", "INSERT users", "INSERT users",
            "INSERT users", "COMMIT", "SELECT users", "SELECT users",
            "INSERT users", "SELECT missing_table",
            "SELECT users", "UPDATE users", "DELETE users"],
            summarize(spans))
        ns = os.path.realpath(self.db)
        (create, begin, i1, i2, i3, commit, sel, cnt, dup, missing,
         syntax, upd, dele) = spans
        assert_db_span(self, create, "CREATE TABLE users", ns, rows=0,
                       op="CREATE TABLE", coll="users")
        assert_db_span(self, begin, "BEGIN", ns, op="BEGIN")
        for s in (i1, i2, i3):
            assert_db_span(self, s, "INSERT users", ns, rows=0, op="INSERT",
                           coll="users")
            self.assertEqual(attr(s, "db.query.text"),
                             "INSERT INTO users(email, age) VALUES (?, ?);")
            self.assertEqual(s["status"]["code"], STATUS_UNSET)
        assert_db_span(self, sel, "SELECT users", ns, rows=2, op="SELECT",
                       coll="users")
        self.assertEqual(attr(sel, "db.query.text"),
                         "SELECT id, email FROM users WHERE age > ? "
                         "ORDER BY id;")
        assert_db_span(self, cnt, "SELECT users", ns, rows=1)
        # Constraint violation: the statement ran, step failed.
        assert_db_span(self, dup, "INSERT users", ns, rows=0)
        assert_error(self, dup, "SQLITE_CONSTRAINT",
                     "UNIQUE constraint failed: users.email")
        # Failed prepares: spans too, without a row count.
        assert_db_span(self, missing, "SELECT missing_table", ns,
                       coll="missing_table")
        assert_error(self, missing, "SQLITE_ERROR",
                     "no such table: missing_table")
        self.assertNotIn("db.response.returned_rows", missing["attributes"])
        self.assertEqual(attr(missing, "db.query.text"),
                         "SELECT * FROM missing_table WHERE token = ?;")
        assert_db_span(self, syntax, "SELECT users", ns)
        self.assertEqual(attr(syntax, "db.query.text"),
                         "SELECT email FROM users WHERE email = ? ?;")
        assert_error(self, syntax, "SQLITE_ERROR", "syntax error")
        self.assertEqual(syntax["status"]["message"],
                         'near "?": syntax error')
        assert_db_span(self, upd, "UPDATE users", ns, rows=0, op="UPDATE")
        assert_db_span(self, dele, "DELETE users", ns, rows=0, op="DELETE")
        for s in spans:
            self.assertTrue(is_root(s))
        self.assertEqual(len({s["trace_id"] for s in spans}), len(spans))
        assert_no_secret(self, spans, CLI_SECRETS, CLI_NUMBERS)

    def test_traceparent_is_the_parent(self):
        with Sink() as sink:
            self.run_cli(sink, TRACEPARENT="00-%s-%s-01"
                         % (TRACE_ID, PARENT_ID))
            spans = settle(sink, 13)
        self.assertEqual(len(spans), 13, summarize(spans))
        for s in spans:
            self.assertEqual(s["trace_id"], TRACE_ID)
            self.assertEqual(s["parent_span_id"], PARENT_ID)
        self.assertEqual(len({s["span_id"] for s in spans}), 13)

    def test_sampled_out_statements_leave_no_trace(self):
        """Each statement a trace of its own, half of them sampled out by
        the trace id ratio: the sampled ones arrive whole, the others not
        at all, and which is which follows from the trace id alone."""
        script = ("CREATE TABLE s(v TEXT);\n" +
                  "".join("INSERT INTO s(v) VALUES ('zq7secret-%d');\n" % i
                          for i in range(200)) +
                  "SELECT count(*) FROM s;\n")
        with Sink() as sink:
            r = run_traced(["sqlite3", self.db], sink, input=script,
                           OTEL_TRACES_SAMPLER="traceidratio",
                           OTEL_TRACES_SAMPLER_ARG="0.5")
            self.assertEqual(r.stdout, "200\n")
            spans = settle(sink, 1)
        inserts = [s for s in spans if s["name"] == "INSERT s"]
        # 200 fair coins: outside 40..160 once in 10^18 runs.
        self.assertTrue(40 <= len(inserts) <= 160, summarize(spans))
        ns = os.path.realpath(self.db)
        for s in spans:
            # traceidratio 0.5: the last 8 bytes of the id below 2^63.
            self.assertLess(int(s["trace_id"][16:], 16), 1 << 63)
        for s in inserts:
            assert_db_span(self, s, "INSERT s", ns, rows=0, op="INSERT",
                           coll="s")
            self.assertEqual(attr(s, "db.query.text"),
                             "INSERT INTO s(v) VALUES (?);")
        assert_no_secret(self, spans, CLI_SECRETS)
        with Sink() as sink:
            r = run_traced(["sqlite3", self.db], sink,
                           input="SELECT count(*) FROM s;\n",
                           OTEL_TRACES_SAMPLER="always_off")
            self.assertEqual(r.stdout, "200\n")
            time.sleep(0.6)
            self.assertEqual(sink.spans(), [])

    def test_memory_database_namespace(self):
        with Sink() as sink:
            run_traced(["sqlite3", ":memory:"], sink,
                       input="SELECT 1;\nVALUES (1), (2);\n")
            spans = by_start(settle(sink, 2))
        self.assertEqual(len(spans), 2, summarize(spans))
        for s in spans:
            self.assertEqual(attr(s, "db.namespace"), ":memory:")
        self.assertEqual(attr(spans[1], "db.response.returned_rows"), 2)


PY_PROGRAM = textwrap.dedent("""\
    import sqlite3, sys, threading
    conn = sqlite3.connect(sys.argv[1], check_same_thread=False)
    conn.execute("CREATE TABLE t(k INTEGER, v TEXT UNIQUE)")
    conn.executemany("INSERT INTO t(k, v) VALUES (?, ?)",
                     [(i % 4, "py-qx9secret-%d" % i) for i in range(12)])
    conn.commit()
    try:
        conn.executemany("INSERT INTO t(k, v) VALUES (?, ?)",
                         [(9, "py-qx9secret-new"), (9, "py-qx9secret-3")])
    except sqlite3.IntegrityError as e:
        print("integrity:", e)
    conn.rollback()
    try:
        conn.execute("SELECT * FROM nope WHERE v = 'py-qx9secret-lit'")
    except sqlite3.OperationalError as e:
        print("operational:", e)
    print("count:", conn.execute("SELECT count(*) FROM t").fetchall()[0][0])

    def work(tid):
        for _ in range(25):
            rows = conn.execute("SELECT v FROM t WHERE k = ?",
                                (tid,)).fetchall()
            assert len(rows) == 3, rows

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    conn.close()
    print("done")
""")


class PythonModule(unittest.TestCase):
    """Python's sqlite3 module: executemany, errors, several threads on one
    connection.  The module is dlopen()ed, so the hooks must find the real
    functions in a libsqlite3 loaded with local scope."""

    def test_executemany_errors_threads(self):
        py = python_with_system_sqlite()
        with tempfile.TemporaryDirectory(prefix="otelshim-sqlite-") as d:
            db = os.path.join(d, "py.db")
            prog = os.path.join(d, "prog.py")
            Path(prog).write_text(PY_PROGRAM)
            with Sink() as sink:
                r = run_traced([py, prog, db], sink)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("integrity: UNIQUE constraint failed: t.v",
                              r.stdout)
                self.assertIn("operational: no such table: nope", r.stdout)
                self.assertIn("count: 12", r.stdout)
                self.assertIn("done", r.stdout)
                # create, begin, 12 inserts, commit, begin, 2 inserts,
                # rollback, failed select, count, 100 threaded selects
                spans = by_start(settle(sink, 121))
        ns = os.path.realpath(db)
        self.assertEqual(len(spans), 121, summarize(spans))
        names = [s["name"] for s in spans[:20]]
        self.assertEqual(names, ["CREATE TABLE t", "BEGIN"] +
                         ["INSERT t"] * 12 + ["COMMIT", "BEGIN",
                         "INSERT t", "INSERT t", "ROLLBACK",
                         "SELECT nope"])
        for s in spans[2:14]:
            assert_db_span(self, s, "INSERT t", ns, rows=0, op="INSERT",
                           coll="t")
            self.assertEqual(attr(s, "db.query.text"),
                             "INSERT INTO t(k, v) VALUES (?, ?)")
        self.assertEqual(spans[16]["status"]["code"], STATUS_UNSET)
        assert_error(self, spans[17], "SQLITE_CONSTRAINT",
                     "UNIQUE constraint failed: t.v")
        assert_error(self, spans[19], "SQLITE_ERROR", "no such table: nope")
        self.assertEqual(attr(spans[19], "db.query.text"),
                         "SELECT * FROM nope WHERE v = ?")
        assert_db_span(self, spans[20], "SELECT t", ns, rows=1)
        threaded = spans[21:]
        self.assertEqual(len(threaded), 100, summarize(threaded))
        for s in threaded:
            assert_db_span(self, s, "SELECT t", ns, rows=3, op="SELECT",
                           coll="t")
            self.assertEqual(attr(s, "db.query.text"),
                             "SELECT v FROM t WHERE k = ?")
            self.assertNotEqual(s["status"]["code"], STATUS_ERROR)
        assert_no_secret(self, spans, ["qx9secret"])

    def test_disabled_sdk_still_runs_the_program(self):
        """With tracing off the hooks must still reach the real functions
        of a libsqlite3 loaded with local scope."""
        py = python_with_system_sqlite()
        prog = ("import sqlite3\nc = sqlite3.connect(':memory:')\n"
                "print(c.execute('SELECT 40 + 2').fetchall()[0][0])\n")
        with Sink() as sink:
            r = run_traced([py, "-c", prog], sink, OTEL_SDK_DISABLED="true")
            time.sleep(0.8)
            self.assertEqual(sink.spans(), [])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "42")


EXECUTESCRIPT_PROGRAM = textwrap.dedent("""
    import ctypes, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1])
    # Each script ends in something that is no statement: a newline, a
    # comment, blanks, an empty statement; the last two hold nothing else.
    for script in ["CREATE TABLE t(x);\\n",
                   "INSERT INTO t VALUES (1);\\n-- the end\\n",
                   "INSERT INTO t VALUES (2); /* the end */",
                   "INSERT INTO t VALUES (3);;\\n\\n   \\n",
                   "-- nothing but a comment\\n",
                   "\\n"]:
        conn.executescript(script)
    print("rows:", conn.execute("SELECT count(*) FROM t").fetchall()[0][0])
    conn.close()

    # The same through the C API: prepare gives no statement for a comment,
    # and stepping that NULL is SQLITE_MISUSE (21) the program ignores.
    ctypes.CDLL("libsqlite3.so.0", mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(None)
    db, st = ctypes.c_void_p(), ctypes.c_void_p()
    lib.sqlite3_open(sys.argv[1].encode(), ctypes.byref(db))
    for sql in (b"  -- no statement", b"SELECT count(*) FROM t"):
        rc = lib.sqlite3_prepare_v2(db, sql, -1, ctypes.byref(st), None)
        print("prepare:", rc, st.value is None)
        print("step:", lib.sqlite3_step(st), "finalize:",
              lib.sqlite3_finalize(st))
    lib.sqlite3_close(db)
""")


class NoStatementNoSpan(unittest.TestCase):
    """Text that holds no statement gets no span: Python's executescript()
    steps the NULL statement prepare gives for a script's empty tail (a
    newline, a comment), SQLite says SQLITE_MISUSE and the program ignores
    it; that was never a statement of the program's."""

    def test_executescript_tails(self):
        py = python_with_system_sqlite()
        with tempfile.TemporaryDirectory(prefix="otelshim-sqlite-") as d:
            db = os.path.join(d, "tail.db")
            with Sink() as sink:
                r = run_traced([py, "-c", EXECUTESCRIPT_PROGRAM, db], sink)
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = by_start(settle(sink, 6))
        self.assertEqual(r.stdout.split("\n"), [
            "rows: 3", "prepare: 0 True", "step: 21 finalize: 0",
            "prepare: 0 False", "step: 100 finalize: 0", ""])
        self.assertEqual([s["name"] for s in spans],
                         ["CREATE TABLE t", "INSERT t", "INSERT t",
                          "INSERT t", "SELECT t", "SELECT t"],
                         summarize(spans))
        for s in spans:
            self.assertNotEqual(s["status"]["code"], STATUS_ERROR,
                                summarize([s]))
            self.assertIsNone(attr(s, "error.type"))
        self.assertEqual([attr(s, "db.query.text") for s in spans[1:4]],
                         ["INSERT INTO t VALUES (?);"] * 3)


NAMESPACE_PROGRAM = textwrap.dedent("""
    import sqlite3, sys
    a, b = sys.argv[1], sys.argv[2]
    for path in (a, b, a, b):
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        conn.close()
    conn = sqlite3.connect(a)
    image = conn.serialize()
    conn.execute("SELECT count(*) FROM t").fetchall()
    conn.deserialize(image)
    # A statement prepared after it (the one above stays in Python's
    # statement cache with what its prepare saw).
    print("rows:", conn.execute("SELECT x FROM t").fetchall())
    conn.close()
""")


class NamespaceFollowsTheConnection(unittest.TestCase):
    """db.namespace is the file of the statement's own connection, also
    when connections to other files are opened and closed in between (a
    new one may get a closed one's address) and after the connection's
    database was replaced by sqlite3_deserialize(), which makes it an
    in-memory one."""

    def test_reopened_and_deserialized(self):
        py = python_with_system_sqlite()
        prog = NAMESPACE_PROGRAM
        with tempfile.TemporaryDirectory(prefix="otelshim-sqlite-") as d:
            a, b = os.path.join(d, "a.db"), os.path.join(d, "b.db")
            if not hasattr(__import__("sqlite3").Connection, "serialize"):
                prog = prog.replace("image = conn.serialize()", "")
                prog = prog.replace("conn.deserialize(image)", "")
            with Sink() as sink:
                r = run_traced([py, "-c", prog, a, b], sink)
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = by_start(settle(sink, 16))
        # Each connection: CREATE TABLE, BEGIN, INSERT, COMMIT.
        files = [a, b, a, b]
        for i, f in enumerate(files):
            for s in spans[4 * i:4 * i + 4]:
                self.assertEqual(attr(s, "db.namespace"), f, summarize(spans))
        last = spans[-1]
        self.assertEqual(last["name"], "SELECT t", summarize(spans))
        if "image = conn.serialize()" in prog:
            # What sqlite3_db_filename() says of an in-memory database
            # ("x", the name deserialize attaches it under), not the file.
            self.assertNotEqual(attr(last, "db.namespace"), a,
                                summarize(spans[16:]))
        else:
            self.assertEqual(attr(last, "db.namespace"), a)


UTF16_PROGRAM = textwrap.dedent("""
    import ctypes, sys
    # Through the global scope, as a program linked with it calls it.
    ctypes.CDLL("libsqlite3.so.0", mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(None)
    db, st = ctypes.c_void_p(), ctypes.c_void_p()
    lib.sqlite3_open(sys.argv[1].encode(), ctypes.byref(db))
    lib.sqlite3_exec(db, "CREATE TABLE \u00e9t\u00e9(x)".encode(), None,
                     None, None)
    first = "SELECT x FROM \u00e9t\u00e9 WHERE x = 'u16secret'"
    text = (first + "; SELECT 2").encode("utf-16-le") + bytes(2)
    # NUL-terminated, then with the first statement's length given.
    for nbyte in (-1, 2 * len(first)):
        rc = lib.sqlite3_prepare16_v2(db, text, nbyte, ctypes.byref(st),
                                      None)
        print("prepare:", rc, "step:", lib.sqlite3_step(st),
              "finalize:", lib.sqlite3_finalize(st))
    lib.sqlite3_close(db)
""")


class Utf16Prepare(unittest.TestCase):
    """A statement prepared from UTF-16 text: one span with the first
    statement's text as UTF-8, sanitised, whether or not the length is
    given."""

    def test_prepare16_text(self):
        py = python_with_system_sqlite()
        with tempfile.TemporaryDirectory(prefix="otelshim-sqlite-") as d:
            # A file, not -c: the command line is a resource attribute.
            prog = os.path.join(d, "u16.py")
            Path(prog).write_text(UTF16_PROGRAM)
            with Sink() as sink:
                r = run_traced([py, prog, os.path.join(d, "u.db")], sink)
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = by_start(settle(sink, 3))
        self.assertEqual(len(spans), 3, summarize(spans))
        self.assertIn("prepare: 0 step: 101 finalize: 0", r.stdout)
        # Up to where SQLite stopped: past the ';', or the length given.
        for s, end in zip(spans[1:], (";", "")):
            self.assertEqual(s["name"], "SELECT \u00e9t\u00e9",
                             summarize(spans))
            self.assertEqual(attr(s, "db.query.text"),
                             "SELECT x FROM \u00e9t\u00e9 WHERE x = ?" + end,
                             summarize(spans))
        assert_no_secret(self, spans, ["u16secret"])


class CExample(unittest.TestCase):
    """examples/sqlite_loop: prepare once, then bind/step/reset N times."""

    N = 50

    def setUp(self):
        if not LOOP.exists():
            self.skipTest("build/examples/sqlite_loop missing (make all)")
        self.dir = tempfile.mkdtemp(prefix="otelshim-sqlite-")
        self.db = os.path.join(self.dir, "loop.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_loops_exec_and_errors(self):
        n = self.N
        with Sink() as sink:
            r = run_traced([LOOP, "demo", self.db, n], sink)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = by_start(settle(sink, n + 14))
        self.assertEqual(len(spans), n + 14, summarize(spans))
        ns = os.path.realpath(self.db)
        out = r.stdout.splitlines()
        selects = [int(l.split()[2]) for l in out if l.startswith("select ")]
        self.assertEqual(selects, [n, n - n // 4, n - 2 * (n // 4),
                                   n - 3 * (n // 4), 1])
        self.assertIn("exec rows 4", out)
        self.assertIn("exec abort rc 4 rows 1", out)
        self.assertIn("null insert rc 19", out)

        # sqlite3_exec of a two-statement script: two spans.
        assert_db_span(self, spans[0], "DROP TABLE items", ns,
                       op="DROP TABLE", coll="items")
        assert_db_span(self, spans[1], "CREATE TABLE items", ns)
        assert_db_span(self, spans[2], "BEGIN", ns)
        inserts = spans[3:3 + n]
        for s in inserts:
            assert_db_span(self, s, "INSERT items", ns, rows=0)
            self.assertEqual(attr(s, "db.query.text"),
                             "INSERT INTO items(name, qty) VALUES (?, ?)")
        self.assertEqual(len({s["span_id"] for s in inserts}), n)
        assert_db_span(self, spans[3 + n], "COMMIT", ns)
        sel = spans[4 + n:9 + n]
        self.assertEqual([attr(s, "db.response.returned_rows") for s in sel],
                         selects)
        for s in sel:
            assert_db_span(self, s, "SELECT items", ns)
            self.assertEqual(attr(s, "db.query.text"),
                             "SELECT id, name FROM items WHERE qty >= ?")
        bad16, cnt, three, abort, nul = spans[9 + n:]
        assert_db_span(self, bad16, "SELECT no_such_table16", ns)
        assert_error(self, bad16, "SQLITE_ERROR",
                     "no such table: no_such_table16")
        self.assertEqual(attr(bad16, "db.query.text"),
                         "SELECT qty FROM no_such_table16 WHERE name = ?")
        assert_db_span(self, cnt, "SELECT items", ns, rows=1)
        assert_db_span(self, three, "SELECT items", ns, rows=3)
        self.assertEqual(attr(three, "db.query.text"),
                         "SELECT name FROM items WHERE id <= ?")
        # The callback stopped exec after one row.
        assert_db_span(self, abort, "SELECT items", ns, rows=1)
        assert_error(self, abort, "SQLITE_ABORT", "query aborted")
        assert_db_span(self, nul, "INSERT items", ns, rows=0)
        assert_error(self, nul, "SQLITE_CONSTRAINT",
                     "NOT NULL constraint failed: items.name")
        assert_no_secret(self, spans, ["secret-bound-name", "secret16-lit"],
                         ["777"])

    def test_untraced_program_unchanged(self):
        """Same output with the shim and without it."""
        plain = subprocess.run([str(LOOP), "demo", self.db, "20"],
                               capture_output=True, text=True)
        with Sink() as sink:
            traced = run_traced([LOOP, "demo", self.db, 20], sink)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(traced.returncode, 0, traced.stderr)
        self.assertEqual(plain.stdout, traced.stdout)


ACTIVE_HELPER = r"""
/* Test-only: lets a program make a SERVER span active on its thread. */
#include <stddef.h>
#include "context.h"
#include "record.h"

__attribute__((visibility("default"))) void *
otelshim_test_activate(const char *name, size_t len)
{
	struct span *s = ctx_start(SPAN_KIND_SERVER, NULL);

	if (s) {
		rec_name(s, name, len);
		ctx_set_active(s);
	}
	return s;
}

__attribute__((visibility("default"))) void
otelshim_test_end(void *s)
{
	ctx_end(s);
}
"""

ACTIVE_PROGRAM = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static sqlite3 *db;

static void run(const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
}

static void *other_thread(void *arg)
{
	(void)arg;
	run("SELECT 2 FROM t");
	return NULL;
}

int main(void)
{
	void *(*activate)(const char *, size_t) =
		(void *(*)(const char *, size_t))dlsym(RTLD_DEFAULT,
						      "otelshim_test_activate");
	void (*end)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT,
						      "otelshim_test_end");
	pthread_t th;
	sqlite3_stmt *st;
	void *server;

	if (!activate || !end) {
		fprintf(stderr, "helper not found\n");
		return 1;
	}
	sqlite3_open(":memory:", &db);
	run("CREATE TABLE t(a)");
	server = activate("GET /items", 10);
	run("INSERT INTO t VALUES (1)");
	sqlite3_prepare_v2(db, "SELECT a FROM t", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		;
	pthread_create(&th, NULL, other_thread, NULL);
	pthread_join(th, NULL);
	end(server);
	sqlite3_reset(st);
	while (sqlite3_step(st) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}
"""


class ActiveSpanParent(unittest.TestCase):
    """A span active on the thread is the parent of the statements the
    thread runs (the HTTP server span will be that span).  The program
    makes one active through a test build of the library: the core's
    objects plus a helper that exports ctx_start/ctx_set_active."""

    def setUp(self):
        need_programs("cc")
        self.dir = Path(tempfile.mkdtemp(prefix="otelshim-sqlite-"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def build(self):
        # The objects and libraries the real library is made of.
        r = subprocess.run(
            ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f",
             "-", "_otelshim_core_objs"], cwd=ROOT, capture_output=True,
            text=True, input="_otelshim_core_objs:\n\t@echo $(CORE_OBJS)\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [str(ROOT / o) for o in r.stdout.split()]
        for o in objs:
            if not os.path.exists(o):
                self.skipTest("%s missing (make all)" % o)
        dyn = subprocess.run(["readelf", "-d", str(LIB)], capture_output=True,
                             text=True).stdout
        libs = ["-l:" + l.split("[")[1].split("]")[0]
                for l in dyn.splitlines() if "(NEEDED)" in l]
        helper = self.dir / "active.c"
        helper.write_text(ACTIVE_HELPER)
        mapfile = self.dir / "lib.map"
        base = (BUILD / "libotelshim.map").read_text()
        mapfile.write_text(base.replace(
            "{ global:", "{ global:\n  otelshim_test_activate;\n"
            "  otelshim_test_end;", 1))
        lib = self.dir / "libotelshim.so"
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-D_GNU_SOURCE",
                        "-I", str(ROOT), "-I", str(ROOT / "shim"), "-I",
                        str(ROOT / "pipeline"), "-pthread",
                        "-Wl,--version-script=%s" % mapfile, "-o", str(lib),
                        str(helper)] + objs +
                       [str(BUILD / "libcommon.a")] + libs, check=True)
        # The library loads its exporter module from its own directory.
        os.symlink(BUILD / "otelshim-exporter.so",
                   self.dir / "otelshim-exporter.so")
        prog = self.dir / "active_prog"
        src = self.dir / "active_prog.c"
        src.write_text(ACTIVE_PROGRAM)
        subprocess.run(["cc", "-O1", "-pthread", "-o", str(prog), str(src),
                        "-lsqlite3", "-ldl"], check=True)
        return lib, prog

    def test_statements_nest_under_the_active_span(self):
        lib, prog = self.build()
        with Sink() as sink:
            r = run_traced([prog], sink, LD_PRELOAD=lib)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = settle(sink, 6)
        self.assertEqual(len(spans), 6, summarize(spans))
        server = find_span(spans, name="GET /items", kind=KIND_SERVER)
        create = find_span(spans, name="CREATE TABLE t")
        insert = find_span(spans, name="INSERT t")
        selects = by_start([s for s in spans if s["name"] == "SELECT t"])
        self.assertEqual(len(selects), 3, summarize(spans))
        inside, other, after = selects
        self.assertTrue(is_root(create))
        assert_child_of(insert, server)
        assert_child_of(inside, server)
        self.assertEqual(attr(inside, "db.response.returned_rows"), 1)
        # A thread created while serving the request serves it too (a
        # hand-off, README "How parentage is decided"); after the server
        # span ended the thread's statements are roots again.
        assert_child_of(other, server)
        self.assertTrue(is_root(after), summarize([after]))
        self.assertEqual(attr(after, "db.response.returned_rows"), 1)


if __name__ == "__main__":
    unittest.main()
