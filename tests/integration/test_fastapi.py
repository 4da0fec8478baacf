"""The seed-style service: FastAPI + SQLAlchemy + psycopg2 on a real
PostgreSQL, run by uvicorn under the shim with no code change.  Each
request span has that request's queries as children, and the caller's
client span is the request span's parent."""

import os
import time
import unittest

from harness import (ROOT, KIND_CLIENT, KIND_SERVER, Background, Sink,
                     assert_child_of, attr, find_span, find_spans, free_port,
                     run_traced, wait_for_port)
from pgserver import PgServer, need_postgres

SYSTEM_PY = "/usr/bin/python3"
APP_DIR = ROOT / "examples" / "fastapi_shop"


def need_stack():
    if os.system(SYSTEM_PY + " -c 'import fastapi, uvicorn, sqlalchemy, "
                 "psycopg2' 2>/dev/null") != 0:
        raise unittest.SkipTest("python3-fastapi, -uvicorn, -sqlalchemy or "
                                "-psycopg2 is not installed")


class FastApiShop(unittest.TestCase):
    def test_requests_nest_their_queries(self):
        need_postgres()
        need_stack()
        port = free_port()
        with PgServer(password="shop-pw") as pg, Sink() as sink:
            url = "postgresql+psycopg2://%s:%s@%s:%d/postgres" % (
                pg.user, pg.password, pg.host, pg.port)
            with Background([SYSTEM_PY, "-m", "uvicorn", "app:app",
                             "--port", port, "--no-access-log"], sink,
                            cwd=APP_DIR, DATABASE_URL=url,
                            OTEL_SERVICE_NAME="shop") as svc:
                wait_for_port(port, timeout=30)
                base = "http://127.0.0.1:%d" % port
                r = run_traced(["curl", "-s", base + "/products/2"], sink,
                               OTEL_SERVICE_NAME="client")
                self.assertIn('"coffee"', r.stdout,
                              "curl exit %d: %s\nservice: %s"
                              % (r.returncode, r.stderr, svc.output()))
                r = run_traced(["curl", "-s", "-H",
                                "Content-Type: application/json", "--data",
                                '{"product_id": 1, "quantity": 7}',
                                base + "/orders"], sink,
                               OTEL_SERVICE_NAME="client")
                self.assertIn('"id"', r.stdout)
                spans = sink.wait_for_spans(
                    lambda ss: len(find_spans(ss, kind=KIND_SERVER)) >= 2
                    and find_spans(ss, name="INSERT orders"), timeout=60)
        get = find_span(spans, kind=KIND_SERVER,
                        pred=lambda s: attr(s, "url.path") == "/products/2")
        post = find_span(spans, kind=KIND_SERVER,
                         pred=lambda s: attr(s, "url.path") == "/orders")
        self.assertEqual(get["resource"]["service.name"], "shop")
        assert_child_of(get, find_span(spans, kind=KIND_CLIENT, name="GET"))
        select = [s for s in find_spans(spans, name="SELECT products")
                  if s["parent_span_id"] == get["span_id"]]
        self.assertTrue(select, "no query under the GET request")
        insert = find_span(spans, name="INSERT orders")
        assert_child_of(insert, post)
        self.assertEqual(attr(insert, "db.system.name"), "postgresql")
        self.assertIn("?", attr(insert, "db.query.text") or "%(")
        self.assertNotIn("shop-pw", str(spans))


if __name__ == "__main__":
    unittest.main()
