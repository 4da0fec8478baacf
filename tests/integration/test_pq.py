"""PostgreSQL query spans from libpq, on unmodified programs against a real
server this module starts (pgserver.py): psql with DDL, DML and an error,
pgbench in its three query modes and in pipeline mode, and a C program
using the asynchronous API and pipeline mode.  Every statement must show
up once with the right summary, attributes and status, and no literal,
parameter value or password may reach the receiver."""

import collections
import json
import re
import tempfile
import time
import unittest

from harness import (BUILD, KIND_CLIENT, STATUS_ERROR, STATUS_UNSET, Sink,
                     attr, find_span, find_spans, lib_built, run_traced)
import pgserver
from pgserver import PgServer, pg_bin

PASSWORD = "pw_Secret_8841zz"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
EXAMPLE = BUILD / "examples" / "pq_async"

# Planted in SQL literals and parameter values: none may be exported.
SECRETS = ["psql_secret_lit_7731", "E_secret_9902", "dollar_secret_5150",
           "31415926535", "pgb_secret_literal_4417", "918273645546",
           "pq_async_literal_5309", "async_param_secret_6262",
           "bad_int_secret_3377", PASSWORD]

PG = None


def setUpModule():
    global PG
    pgserver.need_postgres()
    if not lib_built():
        raise unittest.SkipTest("build/libotelshim.so not built")
    PG = PgServer(password=PASSWORD).start()
    try:
        PG.createdb("app")
        PG.createdb("bench")
        r = run_traced([pg_bin("pgbench"), "-i", "-q", "-s", "1",
                        "-d", PG.dsn("bench")], None, timeout=120,
                       OTEL_SDK_DISABLED="true")
        if r.returncode != 0:
            raise RuntimeError("pgbench -i failed:\n" + r.stderr)
    except BaseException:
        PG.stop()
        raise


def tearDownModule():
    if PG is not None:
        PG.stop()


def psql(sink, *commands, dbname="app", unix=False, **env):
    """psql with one -c per command, under the shim."""
    argv = [pg_bin("psql"), "-X", "-A", "-t", "-d",
            PG.dsn(dbname, unix=unix)]
    for c in commands:
        argv += ["-c", c]
    return run_traced(argv, sink, **env)


def settle(sink, count, timeout=15.0):
    """All spans once at least count arrived and no more follow."""
    sink.wait_for_spans(count, timeout=timeout)
    time.sleep(0.6)
    return sink.spans()


def assert_no_secrets(test, spans, argv_has_sql=False):
    """No planted secret anywhere in the exported JSON.  With argv_has_sql
    (psql -c ...), the resource's process.command_args, which holds the
    SQL as typed on the command line, is left out of the search, except
    for the password."""
    blob = json.dumps(spans)
    test.assertNotIn(PASSWORD, blob)
    if argv_has_sql:
        spans = json.loads(blob)
        for s in spans:
            s.get("resource", {}).pop("process.command_args", None)
        blob = json.dumps(spans)
    for s in SECRETS:
        test.assertNotIn(s, blob)


class PsqlTest(unittest.TestCase):
    def test_ddl_dml_and_error(self):
        cmds = [
            "CREATE TABLE pq_items (id int PRIMARY KEY, name text, "
            "price numeric)",
            "INSERT INTO pq_items VALUES (1, 'psql_secret_lit_7731', 2.5), "
            "(2, E'E_secret_9902\\n', 31415926535)",
            "INSERT INTO pq_items VALUES (3, $$dollar_secret_5150$$, -1)",
            "SELECT name FROM pq_items WHERE id IN (1, 2, 3) "
            "AND name <> 'psql_secret_lit_7731'",
            "UPDATE pq_items SET price = 0.5 WHERE id = 31415926535",
            "DELETE FROM pq_items WHERE name = 'psql_secret_lit_7731'",
            "SELECT * FROM pq_missing_table",
            "DROP TABLE pq_items",
        ]
        with Sink() as sink:
            r = psql(sink, *cmds)
            spans = settle(sink, len(cmds))
        self.assertIn('relation "pq_missing_table" does not exist',
                      r.stderr)
        self.assertEqual(len(spans), len(cmds), spans)
        want = [
            ("CREATE TABLE pq_items", "CREATE TABLE",
             "CREATE TABLE pq_items (id int PRIMARY KEY, name text, "
             "price numeric)", None),
            ("INSERT pq_items", "INSERT",
             "INSERT INTO pq_items VALUES (?, ?, ?)", None),
            ("INSERT pq_items", "INSERT",
             "INSERT INTO pq_items VALUES (?, ?, ?)", None),
            ("SELECT pq_items", "SELECT",
             "SELECT name FROM pq_items WHERE id IN (?) AND name <> ?", 2),
            ("UPDATE pq_items", "UPDATE",
             "UPDATE pq_items SET price = ? WHERE id = ?", None),
            ("DELETE pq_items", "DELETE",
             "DELETE FROM pq_items WHERE name = ?", None),
            ("SELECT pq_missing_table", "SELECT",
             "SELECT * FROM pq_missing_table", None),
            ("DROP TABLE pq_items", "DROP TABLE", "DROP TABLE pq_items",
             None),
        ]
        spans.sort(key=lambda s: int(s["start_time_unix_nano"]))
        for s, (name, op, text, rows) in zip(spans, want):
            a = s["attributes"]
            self.assertEqual(s["name"], name)
            self.assertEqual(s["kind"], KIND_CLIENT)
            self.assertEqual(a["db.system.name"], "postgresql")
            self.assertEqual(a["db.namespace"], "app")
            self.assertEqual(a["db.query.summary"], name)
            self.assertEqual(a["db.operation.name"], op)
            self.assertEqual(a["db.query.text"], text)
            self.assertEqual(a["server.address"], "127.0.0.1")
            self.assertEqual(a["server.port"], PG.port)
            self.assertEqual(a.get("db.response.returned_rows"), rows)
            self.assertLessEqual(int(s["start_time_unix_nano"]),
                                 int(s["end_time_unix_nano"]))
            self.assertEqual(s["parent_span_id"], "")
        for s in spans[:-2] + spans[-1:]:
            self.assertEqual(s["status"]["code"], STATUS_UNSET, s)
            self.assertNotIn("error.type", s["attributes"])
        err = spans[-2]
        self.assertEqual(err["status"]["code"], STATUS_ERROR)
        self.assertEqual(err["status"]["message"],
                         'relation "pq_missing_table" does not exist')
        self.assertEqual(attr(err, "db.response.status_code"), "42P01")
        self.assertEqual(attr(err, "error.type"), "42P01")
        self.assertEqual(attr(err, "db.collection.name"),
                         "pq_missing_table")
        self.assertEqual(attr(spans[0], "db.collection.name"), "pq_items")
        assert_no_secrets(self, spans, argv_has_sql=True)

    def test_value_in_error_message_is_redacted(self):
        with Sink() as sink:
            r = psql(sink, "SELECT 'bad_int_secret_3377'::int")
            s = settle(sink, 1)[0]
        self.assertIn("bad_int_secret_3377", r.stderr)   # psql saw it
        self.assertEqual(attr(s, "db.response.status_code"), "22P02")
        self.assertEqual(s["status"]["code"], STATUS_ERROR)
        self.assertEqual(s["status"]["message"],
                         'invalid input syntax for type integer: "?"')
        self.assertEqual(attr(s, "db.query.text"), "SELECT ?::int")
        assert_no_secrets(self, [s], argv_has_sql=True)

    def test_multi_statement_query_is_one_span(self):
        with Sink() as sink:
            r = psql(sink, "SELECT 1 AS a; SELECT 2 AS b, 3 AS c "
                     "UNION ALL SELECT 4, 5")
            spans = settle(sink, 1)
        self.assertEqual(r.stdout.split(), ["1", "2|3", "4|5"])
        self.assertEqual(len(spans), 1)
        s = spans[0]
        self.assertEqual(s["name"], "SELECT SELECT SELECT")
        self.assertNotIn("db.operation.name", s["attributes"])
        self.assertEqual(attr(s, "db.response.returned_rows"), 3)
        self.assertEqual(attr(s, "db.query.text"),
                         "SELECT ? AS a; SELECT ? AS b, ? AS c "
                         "UNION ALL SELECT ?, ?")

    def test_copy_from_stdin_is_one_span(self):
        with Sink() as sink:
            r = run_traced([pg_bin("psql"), "-X", "-d", PG.dsn("app"),
                            "-c", "CREATE TABLE pq_copy (a int, b text)",
                            "-c", "COPY pq_copy FROM STDIN",
                            "-c", "SELECT count(*) FROM pq_copy",
                            "-c", "DROP TABLE pq_copy"], sink,
                           input="1\tcopy_secret_a\n2\tcopy_secret_b\n\\.\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = settle(sink, 4)
        self.assertEqual(sorted(s["name"] for s in spans),
                         ["COPY pq_copy", "CREATE TABLE pq_copy",
                          "DROP TABLE pq_copy", "SELECT pq_copy"])
        copy = find_span(spans, name="COPY pq_copy")
        self.assertEqual(copy["status"]["code"], STATUS_UNSET)
        self.assertEqual(attr(copy, "db.query.text"),
                         "COPY pq_copy FROM STDIN")
        self.assertEqual(attr(find_span(spans, name="SELECT pq_copy"),
                              "db.response.returned_rows"), 1)
        self.assertNotIn("copy_secret", json.dumps(spans))

    def test_long_query_keeps_its_outcome(self):
        cols = ", ".join("col_%04d" % i for i in range(400))
        sql = "SELECT %s, 'é' FROM pq_missing_wide" % cols
        with Sink() as sink:
            psql(sink, sql)
            s = settle(sink, 1)[0]
        text = attr(s, "db.query.text")
        self.assertTrue(sql.startswith(text[:-1]), text[-40:])
        self.assertGreater(len(text), 500)
        self.assertLess(len(text), len(sql))
        self.assertEqual(s["name"], "SELECT pq_missing_wide")
        self.assertEqual(attr(s, "db.response.status_code"), "42P01")
        self.assertEqual(s["status"]["message"],
                         'relation "pq_missing_wide" does not exist')

    def test_unix_socket_address_is_the_socket_directory(self):
        with Sink() as sink:
            r = psql(sink, "SELECT 1", unix=True)
            self.assertEqual(r.stdout.strip(), "1", r.stderr)
            s = settle(sink, 1)[0]
        self.assertEqual(attr(s, "server.address"), PG.socket_dir)
        self.assertEqual(attr(s, "server.port"), PG.port)
        self.assertEqual(attr(s, "db.namespace"), "app")

    def test_traceparent_is_the_parent(self):
        with Sink() as sink:
            psql(sink, "SELECT 1", "SELECT 2",
                 TRACEPARENT="00-%s-%s-01" % (TRACE_ID, PARENT_ID))
            spans = settle(sink, 2)
        self.assertEqual(len(spans), 2)
        for s in spans:
            self.assertEqual(s["trace_id"], TRACE_ID)
            self.assertEqual(s["parent_span_id"], PARENT_ID)
        self.assertNotEqual(spans[0]["span_id"], spans[1]["span_id"])

    def test_no_spans_when_disabled(self):
        with Sink() as sink:
            r = psql(sink, "SELECT 41 + 1", OTEL_SDK_DISABLED="true")
            self.assertEqual(r.stdout.strip(), "42")
            time.sleep(0.8)
            self.assertEqual(sink.spans(), [])


TPCB = collections.Counter({
    "BEGIN": 1, "UPDATE pgbench_accounts": 1, "SELECT pgbench_accounts": 1,
    "UPDATE pgbench_tellers": 1, "UPDATE pgbench_branches": 1,
    "INSERT pgbench_history": 1, "END": 1})

SECRET_SCRIPT = """\
\\set aid random(1, 100000)
\\set sv 918273645546
SELECT abalance, 'pgb_secret_literal_4417' AS tag FROM pgbench_accounts WHERE aid = :aid AND :sv::bigint > 0;
"""

PIPELINE_SCRIPT = """\
\\set aid random(1, 100000)
\\set sv 918273645546
\\set delta random(-5000, 5000)
\\startpipeline
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SELECT count(*) FROM pgbench_branches WHERE bid < :sv::bigint;
\\endpipeline
"""


class PgbenchTest(unittest.TestCase):
    CLIENTS = 2
    TX = 20

    def pgbench(self, sink, mode, *args, **env):
        """pgbench with two connections driven by one thread, so their
        asynchronous queries interleave."""
        argv = [pg_bin("pgbench"), "-n", "-M", mode, "-t", str(self.TX),
                "-c", str(self.CLIENTS), "-j", "1",
                ] + list(args) + [PG.dsn("bench")]
        r = run_traced(argv, sink, timeout=120, **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def check_tpcb(self, mode):
        runs = self.TX * self.CLIENTS
        with Sink() as sink:
            self.pgbench(sink, mode)
            spans = settle(sink, runs * 7)
        assert_no_secrets(self, spans)
        bench = [s for s in spans if s["name"] in TPCB]
        names = collections.Counter(s["name"] for s in bench)
        self.assertEqual(names, collections.Counter(
            {k: runs for k in TPCB}))
        # pgbench's own set-up: the branch count and a catalog query.
        others = [s for s in spans if s["name"] not in TPCB]
        self.assertEqual(len(others), 2, [s["name"] for s in others])
        find_span(others, name="select pgbench_branches")
        for s in bench:
            a = s["attributes"]
            self.assertEqual(s["kind"], KIND_CLIENT)
            self.assertEqual(s["status"]["code"], STATUS_UNSET, s)
            self.assertEqual(a["db.namespace"], "bench")
            self.assertEqual(a["db.query.summary"], s["name"])
            self.assertEqual(a["server.port"], PG.port)
            text = a["db.query.text"]
            if mode == "simple":
                self.assertNotIn("$", text)
                self.assertNotRegex(text, r"\d")
            else:
                # Parameterised text, recorded as sent.
                self.assertNotRegex(re.sub(r"\$\d+", "", text), r"\d")
            if s["name"] == "SELECT pgbench_accounts":
                self.assertEqual(a["db.response.returned_rows"], 1)
                self.assertEqual(a["db.collection.name"],
                                 "pgbench_accounts")
                self.assertEqual(
                    text, "SELECT abalance FROM pgbench_accounts WHERE "
                    "aid = %s;" % ("?" if mode == "simple" else "$1"))
        # One transaction's statements are separate root spans.
        self.assertTrue(all(s["parent_span_id"] == "" for s in spans))

    def test_sampled_out_commands_leave_no_trace(self):
        """Half the commands' traces sampled out by the trace id ratio,
        in every query mode and in a pipeline: pgbench runs as always, the
        sampled spans arrive whole and only those, by the ratio rule on
        their trace ids."""
        runs = self.TX * self.CLIENTS
        for mode in ("simple", "prepared"):
            with self.subTest(mode=mode), Sink() as sink:
                self.pgbench(sink, mode,
                             OTEL_TRACES_SAMPLER="traceidratio",
                             OTEL_TRACES_SAMPLER_ARG="0.5")
                spans = settle(sink, 1)
                bench = [s for s in spans if s["name"] in TPCB]
                # 280 fair coins: outside 70..210 once in 10^17 runs.
                self.assertTrue(
                    runs * 7 // 4 <= len(bench) <= runs * 21 // 4,
                    len(bench))
                for s in spans:
                    self.assertLess(int(s["trace_id"][16:], 16), 1 << 63)
                for s in bench:
                    a = s["attributes"]
                    self.assertEqual(a["db.system.name"], "postgresql")
                    self.assertEqual(a["db.query.summary"], s["name"])
                    self.assertEqual(a["server.port"], PG.port)
                    self.assertIn("db.query.text", a)
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
            f.write(PIPELINE_SCRIPT)
            f.flush()
            with Sink() as sink:
                self.pgbench(sink, "prepared", "-f", f.name,
                             OTEL_TRACES_SAMPLER="traceidratio",
                             OTEL_TRACES_SAMPLER_ARG="0.5")
                spans = settle(sink, 1)
        self.assertTrue(spans)
        for s in spans:
            self.assertLess(int(s["trace_id"][16:], 16), 1 << 63)
            self.assertEqual(attr(s, "db.system.name"), "postgresql")
        with Sink() as sink:
            self.pgbench(sink, "prepared", OTEL_TRACES_SAMPLER="always_off")
            time.sleep(0.6)
            self.assertEqual(sink.spans(), [])

    def test_simple(self):
        self.check_tpcb("simple")

    def test_extended(self):
        self.check_tpcb("extended")

    def test_prepared(self):
        self.check_tpcb("prepared")

    def run_script(self, mode, script, per_tx):
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
            f.write(script)
            f.flush()
            with Sink() as sink:
                self.pgbench(sink, mode, "-f", f.name)
                spans = settle(sink, self.TX * self.CLIENTS * per_tx)
        assert_no_secrets(self, spans)
        return spans

    def test_literals_and_values_never_exported(self):
        for mode in ("simple", "extended", "prepared"):
            spans = self.run_script(mode, SECRET_SCRIPT, 1)
            sel = find_spans(spans, name="SELECT pgbench_accounts")
            self.assertEqual(len(sel), self.TX * self.CLIENTS, mode)
            ph = "?" if mode == "simple" else "$"
            for s in sel:
                text = attr(s, "db.query.text")
                self.assertIn("? AS tag", text)
                self.assertIn("aid = %s" % ph, text)

    def test_pipeline(self):
        for mode in ("extended", "prepared"):
            with self.subTest(mode=mode):
                spans = self.run_script(mode, PIPELINE_SCRIPT, 3)
                runs = self.TX * self.CLIENTS
                upd = find_spans(spans, name="UPDATE pgbench_accounts")
                sel = find_spans(spans, name="SELECT pgbench_accounts")
                cnt = find_spans(spans, name="SELECT pgbench_branches",
                                 attrs={"db.query.text":
                                        "SELECT count(*) FROM "
                                        "pgbench_branches WHERE bid < $1::bigint;"})
                self.assertEqual((len(upd), len(sel), len(cnt)),
                                 (runs, runs, runs))
                for s in sel + cnt:
                    self.assertEqual(attr(s, "db.response.returned_rows"),
                                     1)
                for s in upd + sel + cnt:
                    self.assertEqual(s["status"]["code"], STATUS_UNSET)

    def test_initialisation(self):
        with Sink() as sink:
            r = run_traced([pg_bin("pgbench"), "-i", "-q", "-s", "1",
                            "-d", PG.dsn("bench")], sink, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = settle(sink, 20)
        copy = find_span(spans, name="copy pgbench_accounts")
        self.assertEqual(attr(copy, "db.operation.name"), "copy")
        self.assertEqual(attr(copy, "db.query.text"),
                         "copy pgbench_accounts from stdin with "
                         "(freeze on)")
        self.assertEqual(copy["status"]["code"], STATUS_UNSET)
        # The span covers the data sent through PQputline/PQendcopy.
        self.assertGreater(int(copy["end_time_unix_nano"])
                           - int(copy["start_time_unix_nano"]), 1000000)
        self.assertEqual(len(find_spans(spans, name="insert pgbench_tellers")),
                         10)
        for name in ("create table pgbench_accounts",
                     "alter table pgbench_accounts",
                     "vacuum pgbench_accounts", "begin", "commit"):
            find_span(spans, name=name)
        self.assertFalse([s for s in spans
                          if s["status"]["code"] == STATUS_ERROR])


DLOPEN_PROG = r"""
import ctypes, os, sys
assert "libpq" not in open("/proc/self/maps").read()
ctypes.CDLL("libpq.so.5", mode=ctypes.RTLD_GLOBAL)
g = ctypes.CDLL(None)     # global lookup, as an extension module's calls
g.PQconnectdb.restype = ctypes.c_void_p
g.PQexecParams.restype = ctypes.c_void_p
g.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
g.PQgetvalue.restype = ctypes.c_char_p
g.PQgetvalue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
g.PQclear.argtypes = [ctypes.c_void_p]
g.PQfinish.argtypes = [ctypes.c_void_p]
conn = g.PQconnectdb(sys.argv[1].encode())
vals = (ctypes.c_char_p * 1)(os.environ["DL_SECRET"].encode())
res = g.PQexecParams(conn, b"SELECT length($1::text)", 1, None, vals,
                     None, None, 0)
print(g.PQgetvalue(res, 0, 0).decode())
g.PQclear(res)
g.PQfinish(conn)
"""


class DlopenTest(unittest.TestCase):
    def test_libpq_loaded_after_start(self):
        """libpq dlopen()ed by the program (Python extension style): the
        hooks find the real functions on first use."""
        with Sink() as sink:
            r = run_traced(["python3", "-c", DLOPEN_PROG, PG.dsn("app")],
                           sink, DL_SECRET="dlopen_secret_2718")
            self.assertEqual(r.stdout.strip(), "18", r.stderr)
            spans = settle(sink, 1)
        self.assertEqual(len(spans), 1)
        s = spans[0]
        self.assertEqual(s["name"], "SELECT")
        self.assertEqual(attr(s, "db.query.text"), "SELECT length($1::text)")
        self.assertEqual(attr(s, "db.response.returned_rows"), 1)
        self.assertNotIn("dlopen_secret", json.dumps(spans))
        self.assertNotIn(PASSWORD, json.dumps(spans))


class AsyncExampleTest(unittest.TestCase):
    def run_example(self, sink, **env):
        if not EXAMPLE.exists():
            self.skipTest("%s not built (make examples)" % EXAMPLE)
        r = run_traced([str(EXAMPLE), PG.dsn("app")], sink,
                       PQ_ASYNC_SECRET="async_param_secret_6262", **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_async_and_pipeline(self):
        with Sink() as sink:
            r = self.run_example(sink)
            spans = settle(sink, 15)
        out = r.stdout.splitlines()
        self.assertIn("pipeline[4] PGRES_FATAL_ERROR rows=-1 sqlstate=42P01",
                      out)
        self.assertIn("pipeline[5] PGRES_PIPELINE_ABORTED rows=-1", out)
        self.assertEqual(out[-1], "count=5")
        assert_no_secrets(self, spans)
        spans.sort(key=lambda s: int(s["start_time_unix_nano"]))
        got = [(s["name"], s["status"]["code"],
                attr(s, "db.response.returned_rows"),
                attr(s, "db.response.status_code")) for s in spans]
        ins, sel = "INSERT pq_async_items", "SELECT pq_async_items"
        self.assertEqual(got, [
            ("CREATE TABLE pq_async_items", 0, None, None),
            ("TRUNCATE pq_async_items", 0, None, None),
            (ins, 0, None, None),
            (ins, 0, None, None),
            # PQsendPrepare: no span of its own; three executions.
            (sel, 0, 1, None), (sel, 0, 1, None), (sel, 0, 0, None),
            # The pipeline: three inserts, the prepared select, a sync;
            # a failing select, one it aborts, a sync.
            (ins, 0, None, None), (ins, 0, None, None),
            (ins, 0, None, None), (sel, 0, 1, None),
            ("SELECT pq_async_missing", STATUS_ERROR, None, "42P01"),
            (sel, STATUS_ERROR, None, None),
            # A bound value the server rejects, then the final count.
            ("SELECT", STATUS_ERROR, None, "22P02"),
            (sel, 0, 1, None),
        ])
        bad = spans[13]
        self.assertEqual(attr(bad, "db.query.text"), "SELECT $1::int")
        self.assertEqual(bad["status"]["message"],
                         'invalid input syntax for type integer: "?"')
        prepared = "SELECT name FROM pq_async_items WHERE id = $1"
        for i in (4, 5, 6, 10):
            self.assertEqual(attr(spans[i], "db.query.text"), prepared)
            self.assertEqual(attr(spans[i], "db.operation.name"), "SELECT")
        self.assertEqual(attr(spans[2], "db.query.text"),
                         "INSERT INTO pq_async_items VALUES (?, ?)")
        self.assertEqual(attr(spans[3], "db.query.text"),
                         "INSERT INTO pq_async_items (id, name) "
                         "VALUES ($1, $2)")
        self.assertEqual(attr(spans[12], "error.type"), "pipeline_aborted")
        self.assertEqual(spans[12]["status"]["message"],
                         "not executed: an earlier command in the "
                         "pipeline failed")
        # Pipelined spans end in order, when their results were read.
        ends = [int(s["end_time_unix_nano"]) for s in spans[7:13]]
        self.assertEqual(ends, sorted(ends))
        starts = [int(s["start_time_unix_nano"]) for s in spans[7:11]]
        self.assertLess(max(starts), min(ends))
        for s in spans:
            self.assertEqual(attr(s, "server.port"), PG.port)
            self.assertEqual(attr(s, "db.namespace"), "app")

    def test_traceparent_parents_every_query(self):
        with Sink() as sink:
            self.run_example(sink, TRACEPARENT="00-%s-%s-01"
                             % (TRACE_ID, PARENT_ID))
            spans = settle(sink, 15)
        self.assertEqual(len(spans), 15)
        for s in spans:
            self.assertEqual(s["trace_id"], TRACE_ID)
            self.assertEqual(s["parent_span_id"], PARENT_ID)
        self.assertEqual(len({s["span_id"] for s in spans}), 15)


if __name__ == "__main__":
    unittest.main()
