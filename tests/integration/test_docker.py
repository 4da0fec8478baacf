"""docker/ without a Docker engine: every compose, Kubernetes, Tempo,
Prometheus and Grafana file parses and refers only to files, services,
volumes, stages and data sources that exist; the dashboard queries the
provisioned data sources; and the Dockerfile's build stage
(docker/build-bundle.sh) builds a working bundle from a clean copy of the
sources, both here and in a bare Debian bookworm root filesystem that has
only the packages the script installs (what `FROM debian:bookworm` plus
the stage's RUN lines amount to); the example service and traffic script
of the demo image then produce a trace."""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import (BUILD, KIND_CLIENT, KIND_SERVER, ROOT, STATUS_ERROR,
                     Sink, free_port, need_chroot, need_mount_namespace,
                     wait_for_port)
from test_dist import ROOTFS, ensure_rootfs

try:
    import yaml
except ImportError:  # python3-yaml, installed by tools/install-deps.sh
    yaml = None

DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
INJECT = DOCKER / "inject.Dockerfile"
IGNORE = DOCKER / "Dockerfile.dockerignore"
COMPOSE = DOCKER / "compose.yaml"
K8S = DOCKER / "k8s"
BUILD_SH = DOCKER / "build-bundle.sh"
VERSION = re.search(r"^VERSION\s*:=\s*(\S+)",
                    (ROOT / "Makefile").read_text(), re.M).group(1)


def need_yaml():
    if yaml is None:
        raise AssertionError("python3-yaml is missing "
                             "(tools/install-deps.sh installs it)")


def load_yaml_all(path):
    need_yaml()
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_yaml(path):
    docs = load_yaml_all(path)
    assert len(docs) == 1, "%s: expected one document" % path
    return docs[0]


# ------------------------------------------------------------ Dockerfiles

def dockerfile_instructions(path):
    """[(INSTRUCTION, argument text)] with continuations joined and
    comments dropped."""
    out, cur = [], ""
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if cur and line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def dockerfile_stages(path):
    """[{name, base, steps: [(INSTR, args)]}] in order; ARGs before the
    first FROM are returned as stage None's steps."""
    stages = [{"name": None, "base": None, "steps": []}]
    for instr, args in dockerfile_instructions(path):
        if instr == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$",
                         args, re.I)
            assert m, "bad FROM: %s" % args
            stages.append({"name": m.group(2), "base": m.group(1),
                           "steps": []})
        else:
            stages[-1]["steps"].append((instr, args))
    return stages


def copy_parts(args):
    """(--from value or None, [sources], destination) of a COPY."""
    words = args.split()
    frm = None
    rest = []
    for w in words:
        if w.startswith("--from="):
            frm = w.split("=", 1)[1]
        elif w.startswith("--"):
            continue
        else:
            rest.append(w)
    return frm, rest[:-1], rest[-1]


def env_pairs(args):
    """ENV k=v k2=v2 (values without spaces) -> dict."""
    return dict(w.split("=", 1) for w in args.split() if "=" in w)


def ignore_patterns():
    return [l.strip() for l in IGNORE.read_text().splitlines()
            if l.strip() and not l.strip().startswith("#")]


def ignored(rel, patterns):
    """True when rel (a path in the build context) or a parent of it is
    excluded by a .dockerignore pattern."""
    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        for p in patterns:
            if fnmatch.fnmatch(sub, p) or (p.startswith("**/") and
                                           fnmatch.fnmatch(parts[i - 1],
                                                           p[3:])):
                return True
    return False


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        self.stages = dockerfile_stages(DOCKERFILE)[1:]
        self.names = [s["name"] for s in self.stages]

    def stage(self, name):
        for s in self.stages:
            if s["name"] == name:
                return s
        self.fail("no stage %s in %s" % (name, DOCKERFILE))

    def test_stages(self):
        self.assertEqual(self.names,
                         ["build", "app", "demo", "shop", "otelshim"])
        self.assertTrue(self.stage("build")["base"].startswith("debian:"))
        self.assertTrue(self.stage("app")["base"].startswith("debian:"))
        self.assertIn("slim", self.stage("app")["base"])
        self.assertEqual(self.stage("demo")["base"], "app")
        self.assertRegex(self.stage("otelshim")["base"], r"^busybox:\d")
        self.assertIn("slim", self.stage("shop")["base"])

    def test_copy_sources_exist_and_are_in_the_context(self):
        patterns = ignore_patterns()
        earlier = []
        for st in self.stages:
            for instr, args in st["steps"]:
                self.assertNotEqual(instr, "ADD", "use COPY")
                if instr != "COPY":
                    continue
                frm, srcs, _ = copy_parts(args)
                if frm is not None:
                    self.assertIn(frm, earlier, args)
                    continue
                for src in srcs:
                    self.assertTrue((ROOT / src).exists(), src)
                    if src != ".":
                        self.assertFalse(ignored(src, patterns),
                                         "%s is excluded from the "
                                         "context" % src)
            earlier.append(st["name"])
        # The build needs the sources, never the build outputs.
        for rel in ("Makefile", "shim", "exporter", "proto", "tools",
                    "examples/demo_service.c"):
            self.assertFalse(ignored(rel, patterns), rel)
        for rel in ("build/libotelshim.so", "dist/otelshim", ".git"):
            self.assertTrue(ignored(rel, patterns), rel)

    def test_build_stage_runs_the_tested_script(self):
        runs = [a for i, a in self.stage("build")["steps"] if i == "RUN"]
        self.assertTrue(any("docker/build-bundle.sh deps" in r
                            for r in runs), runs)
        self.assertTrue(any("docker/build-bundle.sh build /otelshim" in r
                            for r in runs), runs)

    def test_shop_stage_injects_the_bundle(self):
        steps = self.stage("shop")["steps"]
        copies = [copy_parts(a) for i, a in steps if i == "COPY"]
        self.assertIn(("build", ["/otelshim"], "/otelshim"), copies)
        self.assertIn((None, ["examples/fastapi_shop/"], "/app/"), copies)
        env = {}
        for i, a in steps:
            if i == "ENV":
                env.update(env_pairs(a))
        self.assertEqual(env.get("LD_PRELOAD"), "/otelshim/libotelshim.so")
        # Nothing runs after the preload is set: build steps untraced.
        kinds = [i for i, _ in steps]
        self.assertNotIn("RUN", kinds[kinds.index("ENV"):])

    def test_demo_stage_injects_the_bundle(self):
        steps = self.stage("demo")["steps"]
        copies = [copy_parts(a) for i, a in steps if i == "COPY"]
        self.assertIn(("build", ["/otelshim"], "/otelshim"), copies)
        env = {}
        for i, a in steps:
            if i == "ENV":
                env.update(env_pairs(a))
        self.assertEqual(env.get("LD_PRELOAD"), "/otelshim/libotelshim.so")
        self.assertEqual(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
                         "http://tempo:4318")

    def test_app_stage_runs_the_examples(self):
        steps = self.stage("app")["steps"]
        cmd = [json.loads(a) for i, a in steps if i == "CMD"][-1]
        self.assertEqual(cmd[0], "/usr/local/bin/demo_service")
        self.assertTrue((ROOT / "examples" / "demo_service.c").exists())
        copies = [copy_parts(a) for i, a in steps if i == "COPY"]
        self.assertIn(("build", ["/otelshim-examples/"], "/usr/local/bin/"),
                      copies)
        self.assertIn((None, ["docker/traffic.sh"],
                       "/usr/local/bin/otelshim-traffic"), copies)

    def test_bundle_stage_copies_for_init_containers(self):
        steps = self.stage("otelshim")["steps"]
        cmd = [json.loads(a) for i, a in steps if i == "CMD"][-1]
        self.assertEqual(cmd, ["cp", "-a", "/otelshim/.", "/shared/otelshim/"])

    def test_inject_dockerfile(self):
        stages = dockerfile_stages(INJECT)
        args = {}
        for i, a in stages[0]["steps"]:
            if i == "ARG":
                k, _, v = a.partition("=")
                args[k] = v
        self.assertEqual(args.get("OTELSHIM_IMAGE"), "otelshim:" + VERSION)
        self.assertEqual(stages[1]["base"], "${OTELSHIM_IMAGE}")
        self.assertEqual(stages[1]["name"], "otelshim")
        app = stages[2]
        self.assertEqual(app["base"], "${APP_IMAGE}")
        steps = app["steps"]
        self.assertIn(("otelshim", ["/otelshim"], "/otelshim"),
                      [copy_parts(a) for i, a in steps if i == "COPY"])
        env = {}
        for i, a in steps:
            if i == "ENV":
                env.update(env_pairs(a))
        self.assertEqual(env["LD_PRELOAD"], "/otelshim/libotelshim.so")
        self.assertIn("OTEL_EXPORTER_OTLP_ENDPOINT", env)
        self.assertIn("OTEL_SERVICE_NAME", env)
        # Nothing may run after the preload is switched on.
        last_env = max(n for n, (i, _) in enumerate(steps) if i == "ENV")
        self.assertFalse(any(i == "RUN" for i, _ in steps[last_env:]))

    def test_image_names_agree(self):
        """compose tags the images the inject pattern and k8s use."""
        need_yaml()
        images = {s.get("image") for s in
                  load_yaml(COMPOSE)["services"].values()}
        self.assertIn("otelshim:" + VERSION, images)
        self.assertIn("otelshim-demo-app:" + VERSION, images)
        k8s_images = set()
        for f in K8S.glob("*.yaml"):
            for doc in load_yaml_all(f):
                spec = doc.get("spec", {}).get("template", {}).get("spec", {})
                for c in (spec.get("initContainers", []) +
                          spec.get("containers", [])):
                    k8s_images.add(c["image"])
        self.assertIn("otelshim:" + VERSION, k8s_images)
        self.assertIn("otelshim-demo-app:" + VERSION, k8s_images)


# ---------------------------------------------------------------- compose

class ComposeTest(unittest.TestCase):
    def setUp(self):
        self.compose = load_yaml(COMPOSE)
        self.services = self.compose["services"]
        self.names = [s["name"] for s in dockerfile_stages(DOCKERFILE)[1:]]

    def test_every_yaml_parses(self):
        files = sorted(DOCKER.rglob("*.yaml")) + sorted(DOCKER.rglob("*.yml"))
        self.assertGreaterEqual(len(files), 8)
        for f in files:
            with self.subTest(file=str(f.relative_to(ROOT))):
                docs = load_yaml_all(f)
                self.assertTrue(docs)
                for d in docs:
                    self.assertIsInstance(d, dict)

    def test_services(self):
        for want in ("tempo", "grafana", "prometheus", "notes", "traffic",
                     "otelshim", "notes-mounted"):
            self.assertIn(want, self.services)
        for name, svc in self.services.items():
            with self.subTest(service=name):
                self.assertTrue("image" in svc or "build" in svc)
                img = svc.get("image", "")
                self.assertNotRegex(img, r":latest$")
                if "build" not in svc:
                    self.assertRegex(img, r":[0-9v]", "pin the version")

    def test_builds(self):
        for name, svc in self.services.items():
            b = svc.get("build")
            if b is None:
                continue
            with self.subTest(service=name):
                ctx = (COMPOSE.parent / b["context"]).resolve()
                self.assertTrue(ctx.is_dir(), ctx)
                self.assertEqual(ctx, ROOT)
                self.assertTrue((ctx / b["dockerfile"]).is_file())
                self.assertIn(b["target"], self.names)

    def test_volumes_and_references(self):
        declared = set(self.compose.get("volumes") or {})
        used = set()
        for name, svc in self.services.items():
            for v in svc.get("volumes", []):
                with self.subTest(service=name, volume=v):
                    src, dst = v.split(":")[:2]
                    self.assertTrue(dst.startswith("/"))
                    if src.startswith((".", "/")):
                        self.assertTrue((COMPOSE.parent / src).exists(), src)
                    else:
                        self.assertIn(src, declared)
                        used.add(src)
            deps = svc.get("depends_on", [])
            for dep in (deps if isinstance(deps, list) else deps.keys()):
                self.assertIn(dep, self.services, name)
            nm = svc.get("network_mode", "")
            if nm.startswith("service:"):
                self.assertIn(nm.split(":", 1)[1], self.services)
        self.assertEqual(used, declared, "declared volumes nobody uses")

    def test_traced_services_reach_tempo(self):
        tempo = load_yaml(DOCKER / "tempo" / "tempo.yaml")
        http = tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]
        port = http["endpoint"].rsplit(":", 1)[1]
        self.assertIn("%s:%s" % (port, port), self.services["tempo"]["ports"])
        for name in ("notes", "traffic", "notes-mounted"):
            env = self.services[name]["environment"]
            self.assertEqual(env["OTEL_EXPORTER_OTLP_ENDPOINT"],
                             "http://tempo:%s" % port)
        env = self.services["notes-mounted"]["environment"]
        lib = env["LD_PRELOAD"]
        mounts = [v.split(":") for v in self.services["notes-mounted"]
                  ["volumes"]]
        self.assertIn(["otelshim", str(Path(lib).parent), "ro"], mounts)
        self.assertIn("otelshim:/shared/otelshim",
                      self.services["otelshim"]["volumes"])
        self.assertEqual(self.services["traffic"]["command"][0],
                         "/usr/local/bin/otelshim-traffic")

    def test_tempo_config(self):
        t = load_yaml(DOCKER / "tempo" / "tempo.yaml")
        protos = t["distributor"]["receivers"]["otlp"]["protocols"]
        self.assertEqual(protos["grpc"]["endpoint"], "0.0.0.0:4317")
        self.assertEqual(protos["http"]["endpoint"], "0.0.0.0:4318")
        self.assertEqual(t["storage"]["trace"]["backend"], "local")
        data = [v.split(":")[1] for v in self.services["tempo"]["volumes"]
                if v.startswith("tempo-data:")][0]
        for p in (t["storage"]["trace"]["wal"]["path"],
                  t["storage"]["trace"]["local"]["path"],
                  t["metrics_generator"]["storage"]["path"]):
            self.assertTrue(p.startswith(data + "/"), p)
        procs = t["overrides"]["defaults"]["metrics_generator"]["processors"]
        self.assertIn("service-graphs", procs)
        self.assertIn("span-metrics", procs)
        rw = t["metrics_generator"]["storage"]["remote_write"][0]["url"]
        m = re.match(r"http://([^:/]+):(\d+)/api/v1/write$", rw)
        self.assertTrue(m, rw)
        self.assertIn(m.group(1), self.services)
        prom = self.services[m.group(1)]
        self.assertIn("--web.enable-remote-write-receiver", prom["command"])
        self.assertIn("%s:%s" % (m.group(2), m.group(2)), prom["ports"])
        dims = t["metrics_generator"]["processor"]["span_metrics"][
            "dimensions"]
        self.assertIn("db.system.name", dims)
        cmd = self.services["tempo"]["command"]
        mount = [v.split(":")[1] for v in self.services["tempo"]["volumes"]
                 if v.startswith("./tempo/tempo.yaml:")][0]
        self.assertIn("-config.file=" + mount, cmd)

    def test_prometheus_config(self):
        p = load_yaml(DOCKER / "prometheus" / "prometheus.yaml")
        for job in p["scrape_configs"]:
            for sc in job["static_configs"]:
                for target in sc["targets"]:
                    host = target.split(":")[0]
                    self.assertTrue(host == "localhost" or
                                    host in self.services, target)
        mount = [v.split(":")[1] for v in self.services["prometheus"]
                 ["volumes"]][0]
        self.assertIn("--config.file=" + mount,
                      self.services["prometheus"]["command"])


# ---------------------------------------------------------------- grafana

class GrafanaTest(unittest.TestCase):
    def setUp(self):
        self.compose = load_yaml(COMPOSE)
        prov = DOCKER / "grafana" / "provisioning"
        self.ds = load_yaml(prov / "datasources" / "datasources.yaml")
        self.providers = load_yaml(prov / "dashboards" / "dashboards.yaml")
        self.dash = json.loads((DOCKER / "grafana" / "dashboards" /
                                "otelshim.json").read_text())
        self.uids = {d["uid"]: d for d in self.ds["datasources"]}

    def mounts(self):
        out = {}
        for v in self.compose["services"]["grafana"]["volumes"]:
            src, dst = v.split(":")[:2]
            out[dst] = (COMPOSE.parent / src).resolve()
        return out

    def test_datasources(self):
        self.assertEqual(self.uids["tempo"]["type"], "tempo")
        self.assertEqual(self.uids["prometheus"]["type"], "prometheus")
        services = self.compose["services"]
        tempo_port = load_yaml(DOCKER / "tempo" / "tempo.yaml")[
            "server"]["http_listen_port"]
        self.assertEqual(self.uids["tempo"]["url"],
                         "http://tempo:%d" % tempo_port)
        for d in self.ds["datasources"]:
            host = re.match(r"http://([^:/]+):\d+$", d["url"]).group(1)
            self.assertIn(host, services)
        # Links between them point at provisioned uids.
        jd = self.uids["tempo"]["jsonData"]
        self.assertIn(jd["serviceMap"]["datasourceUid"], self.uids)
        self.assertIn(jd["tracesToMetrics"]["datasourceUid"], self.uids)
        for e in self.uids["prometheus"]["jsonData"][
                "exemplarTraceIdDestinations"]:
            self.assertIn(e["datasourceUid"], self.uids)

    def test_provisioning_is_mounted(self):
        m = self.mounts()
        self.assertEqual(m["/etc/grafana/provisioning"],
                         DOCKER / "grafana" / "provisioning")
        path = self.providers["providers"][0]["options"]["path"]
        self.assertIn(path, m)
        self.assertTrue((m[path] / "otelshim.json").is_file())

    def panels(self):
        for p in self.dash["panels"]:
            yield p
            for sub in p.get("panels", []):
                yield sub

    def test_dashboard_uses_provisioned_datasources(self):
        used = set()
        for p in self.panels():
            with self.subTest(panel=p.get("title")):
                refs = [p["datasource"]] + [t.get("datasource", p[
                    "datasource"]) for t in p.get("targets", [])]
                for r in refs:
                    self.assertIn(r["uid"], self.uids)
                    self.assertEqual(r["type"], self.uids[r["uid"]]["type"])
                    used.add(r["uid"])
                self.assertTrue(p.get("targets"))
        for v in self.dash["templating"]["list"]:
            if "datasource" in v:
                self.assertIn(v["datasource"]["uid"], self.uids)
        self.assertEqual(used, {"tempo", "prometheus"})

    def test_dashboard_panels(self):
        titles = " | ".join(p["title"].lower() for p in self.panels())
        for want in ("request rate", "error", "latency", "slowest quer"):
            self.assertIn(want, titles)
        ids = [p["id"] for p in self.panels()]
        self.assertEqual(len(ids), len(set(ids)))
        exprs = [t["expr"] for p in self.panels()
                 for t in p.get("targets", []) if "expr" in t]
        # Tempo's span metrics, and the database dimension tempo.yaml adds.
        self.assertTrue(all("traces_spanmetrics_" in e for e in exprs))
        self.assertTrue(any("db_system_name" in e for e in exprs))
        for e in exprs:
            self.assertEqual(e.count("("), e.count(")"), e)
            self.assertEqual(e.count("{"), e.count("}"), e)
        traceql = [t["query"] for p in self.panels()
                   for t in p.get("targets", [])
                   if t.get("queryType") == "traceql"]
        self.assertTrue(traceql)
        for q in traceql:
            self.assertRegex(q, r"^\{.*\}$")


# ------------------------------------------------------------- kubernetes

class KubernetesTest(unittest.TestCase):
    def setUp(self):
        kust = load_yaml(K8S / "kustomization.yaml")
        self.docs = []
        for res in kust["resources"]:
            self.assertTrue((K8S / res).is_file(), res)
            self.docs += load_yaml_all(K8S / res)
        listed = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml"}
        self.assertEqual(set(kust["resources"]), listed)

    def of_kind(self, kind):
        return {d["metadata"]["name"]: d for d in self.docs
                if d["kind"] == kind}

    def test_objects_are_well_formed(self):
        for d in self.docs:
            with self.subTest(obj="%s/%s" % (d.get("kind"),
                                             d.get("metadata", {}).get(
                                                 "name"))):
                self.assertIn("apiVersion", d)
                self.assertIn("kind", d)
                self.assertRegex(d["metadata"]["name"],
                                 r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

    def test_deployments_reference_what_exists(self):
        cms = self.of_kind("ConfigMap")
        for name, dep in self.of_kind("Deployment").items():
            tpl = dep["spec"]["template"]
            labels = tpl["metadata"]["labels"]
            for k, v in dep["spec"]["selector"]["matchLabels"].items():
                self.assertEqual(labels.get(k), v)
            spec = tpl["spec"]
            vols = {v["name"]: v for v in spec["volumes"]}
            for c in spec.get("initContainers", []) + spec["containers"]:
                with self.subTest(deployment=name, container=c["name"]):
                    for m in c.get("volumeMounts", []):
                        self.assertIn(m["name"], vols)
                    for ef in c.get("envFrom", []):
                        self.assertIn(ef["configMapRef"]["name"], cms)
                    defined = set()
                    for e in c.get("env", []):
                        for ref in re.findall(r"\$\((\w+)\)",
                                              e.get("value", "")):
                            self.assertIn(ref, defined,
                                          "%s used before it is set" % ref)
                        defined.add(e["name"])
            for v in vols.values():
                if "configMap" in v:
                    self.assertIn(v["configMap"]["name"], cms)

    def test_init_container_shares_the_bundle(self):
        dep = self.of_kind("Deployment")["notes"]
        spec = dep["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in spec["volumes"]}
        init = spec["initContainers"][0]
        self.assertEqual(init["image"], "otelshim:" + VERSION)
        stage_cmd = [json.loads(a) for i, a in
                     dockerfile_stages(DOCKERFILE)[-1]["steps"]
                     if i == "CMD"][-1]
        self.assertEqual(init["command"], stage_cmd)
        dest = init["command"][-1].rstrip("/")
        shared = [m for m in init["volumeMounts"] if m["mountPath"] == dest]
        self.assertEqual(len(shared), 1)
        vol = shared[0]["name"]
        self.assertIn("emptyDir", vols[vol])
        cm = self.of_kind("ConfigMap")["otelshim-config"]["data"]
        lib = cm["LD_PRELOAD"]
        self.assertEqual(Path(lib).name, "libotelshim.so")
        self.assertTrue(cm["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith(
            "http://tempo:"))
        for c in spec["containers"]:
            with self.subTest(container=c["name"]):
                mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
                m = mounts.get(str(Path(lib).parent))
                self.assertIsNotNone(m, "bundle not mounted")
                self.assertEqual(m["name"], vol)
                self.assertTrue(m.get("readOnly"))
                names = [e["name"] for e in c["env"]]
                self.assertIn("OTEL_SERVICE_NAME", names)
                self.assertIn("otelshim-config",
                              [e["configMapRef"]["name"]
                               for e in c["envFrom"]])
                self.assertIn(Path(c["command"][0]).name,
                              ("demo_service", "otelshim-traffic"))

    def test_tempo_service(self):
        svc = self.of_kind("Service")["tempo"]
        dep = self.of_kind("Deployment")["tempo"]
        tpl = dep["spec"]["template"]
        for k, v in svc["spec"]["selector"].items():
            self.assertEqual(tpl["metadata"]["labels"][k], v)
        cports = {p["name"]: p["containerPort"]
                  for p in tpl["spec"]["containers"][0]["ports"]}
        for p in svc["spec"]["ports"]:
            self.assertIn(p["targetPort"], cports)
        self.assertIn(4318, [p["port"] for p in svc["spec"]["ports"]])
        cfg = yaml.safe_load(self.of_kind("ConfigMap")["tempo-config"]
                             ["data"]["tempo.yaml"])
        http = cfg["distributor"]["receivers"]["otlp"]["protocols"]["http"]
        self.assertEqual(http["endpoint"], "0.0.0.0:4318")
        self.assertEqual(cfg["server"]["http_listen_port"], cports["http"])


# ----------------------------------------------------- the build, for real

class ShellScriptsTest(unittest.TestCase):
    def test_shellcheck(self):
        if shutil.which("shellcheck") is None:
            self.skipTest("shellcheck is not installed")
        scripts = [BUILD_SH, DOCKER / "traffic.sh", ROOT / "tools" / "dist.sh"]
        r = subprocess.run(["shellcheck"] + [str(s) for s in scripts],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_build_packages_exist_in_debian(self):
        r = subprocess.run([str(BUILD_SH), "packages"], capture_output=True,
                           text=True, check=True)
        pkgs = r.stdout.split()
        self.assertIn("patchelf", pkgs)
        self.assertIn("libcurl4-openssl-dev", pkgs)
        for p in pkgs:
            with self.subTest(package=p):
                st = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                                    capture_output=True, text=True)
                self.assertEqual(st.stdout, "install ok installed",
                                 "%s is not installed here" % p)


def copy_context(dest):
    """The Docker build context (the repository minus what
    Dockerfile.dockerignore excludes) copied to dest."""
    patterns = ignore_patterns()

    def skip(d, names):
        rel = Path(d).relative_to(ROOT)
        return [n for n in names if ignored(str(rel / n), patterns)]
    shutil.copytree(ROOT, dest, ignore=skip, symlinks=True)


BUILD_ROOTFS = BUILD / "rootfs-build"


def in_chroot(root, argv, timeout):
    """argv inside root with a clean environment, and with /proc mounted
    in a private mount namespace (gone with the process) where one can
    be made; elsewhere (a container, a chroot) without /proc, which
    apt-get, make and the compilers do not need."""
    inner = ["chroot", str(root), "/usr/bin/env", "-i",
             "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
             "LANG=C"] + argv
    if need_mount_namespace() is None:
        script = 'mount -t proc proc "$1/proc" && shift && exec "$@"'
        inner = ["unshare", "--mount", "--propagation", "private", "sh",
                 "-c", script, "sh", str(root)] + inner
    return subprocess.run(inner, capture_output=True, text=True,
                          timeout=timeout)


class CleanDebianBuildTest(unittest.TestCase):
    """The build stage in a bare bookworm: build/rootfs-build is the
    minbase root filesystem of test_dist plus `build-bundle.sh deps`
    (cached; deps only installs what is missing), and the build runs there
    on a fresh copy of the context.  A header or tool the script does not
    install fails here as it would in `docker build`."""

    @classmethod
    def setUpClass(cls):
        reason = need_chroot()
        if reason:
            raise unittest.SkipTest(reason)
        ensure_rootfs()
        root = BUILD_ROOTFS
        if not (root / ".otelshim-complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            tmp = BUILD / "rootfs-build.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            # cp -a: the tree holds device nodes, which copytree would
            # open and read.
            subprocess.run(["cp", "-a", str(ROOTFS), str(tmp)], check=True)
            tmp.rename(root)
        shutil.rmtree(root / "src", ignore_errors=True)
        (root / "src" / "docker").mkdir(parents=True)
        shutil.copy2(BUILD_SH, root / "src" / "docker")
        r = in_chroot(root, ["/src/docker/build-bundle.sh", "deps"], 900)
        if r.returncode != 0:
            out = r.stdout + r.stderr
            if re.search(r"Could not resolve|Failed to fetch|"
                         r"Temporary failure", out):
                raise unittest.SkipTest("no Debian mirror reachable from "
                                        "the chroot:\n" + out[-1500:])
            raise AssertionError("build-bundle.sh deps failed in the "
                                 "chroot:\n" + out[-3000:])
        (root / ".otelshim-complete").write_text("deps installed\n")
        shutil.rmtree(root / "src")
        copy_context(root / "src")
        shutil.rmtree(root / "otelshim", ignore_errors=True)
        cls.root = root
        cls.result = in_chroot(root, ["/src/docker/build-bundle.sh",
                                      "build", "/otelshim"], 900)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "root"):
            shutil.rmtree(cls.root / "src", ignore_errors=True)

    def test_build_stage_succeeds(self):
        r = self.result
        self.assertEqual(r.returncode, 0,
                         (r.stdout + r.stderr)[-4000:])
        for f in ("libotelshim.so", "otelshim-exporter.so", "otelshim",
                  "lib/libcurl.so.4", "lib/libprotobuf-c.so.1"):
            self.assertTrue((self.root / "otelshim" / f).exists(), f)
        self.assertTrue((self.root / "otelshim-examples" /
                         "demo_service").exists())

    def test_built_bundle_traces(self):
        self.assertEqual(self.result.returncode, 0)
        r = in_chroot(self.root, [
            "env", "LD_PRELOAD=/otelshim/libotelshim.so",
            "OTEL_TRACES_EXPORTER=console",
            "OTELSHIM_CONSOLE_FILE=/tmp/spans.jsonl",
            "bash", "-c", "rm -f /tmp/spans.jsonl; "
            "(exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null; "
            "unset LD_PRELOAD; cat /tmp/spans.jsonl"], 60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"name":"connect"', r.stdout.replace(" ", ""))


class BuildBundleTest(unittest.TestCase):
    """docker/build-bundle.sh build, as the Dockerfile's build stage runs
    it, on a copy of the build context (the repository minus what
    Dockerfile.dockerignore excludes, so no build/ outputs)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otelshim-docker-"))
        cls.src = cls.tmp / "src"
        copy_context(cls.src)
        cls.dest = cls.tmp / "otelshim"
        r = subprocess.run([str(cls.src / "docker" / "build-bundle.sh"),
                            "build", str(cls.dest)], cwd=cls.src,
                           capture_output=True, text=True, timeout=900)
        cls.result = r

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_build_succeeds(self):
        r = self.result
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        for f in ("libotelshim.so", "otelshim-exporter.so", "otelshim",
                  "README", "lib/libcurl.so.4"):
            self.assertTrue((self.dest / f).exists(), f)
        examples = Path(str(self.dest) + "-examples")
        self.assertTrue(os.access(examples / "demo_service", os.X_OK))

    def test_demo_image_contents_trace(self):
        """What the demo image runs — the notes service and the traffic
        script, with LD_PRELOAD pointing into the bundle — produces linked
        client, server and database spans and a failed-connect span."""
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        examples = Path(str(self.dest) + "-examples")
        port = free_port()
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("OTEL") and k not in
                ("LD_PRELOAD", "LD_LIBRARY_PATH")}
        with Sink() as sink:
            env = dict(base, LD_PRELOAD=str(self.dest / "libotelshim.so"),
                       OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
                       OTEL_BSP_SCHEDULE_DELAY="200")
            svc = subprocess.Popen(
                [str(examples / "demo_service"), str(port),
                 str(self.tmp / "notes.db")],
                env=dict(env, OTEL_SERVICE_NAME="notes"),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)
            try:
                wait_for_port(port)
                r = subprocess.run(
                    ["sh", str(DOCKER / "traffic.sh"),
                     "http://127.0.0.1:%d" % port, "1", "0"],
                    env=dict(env, OTEL_SERVICE_NAME="traffic"),
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
            finally:
                svc.terminate()
                svc.wait(timeout=10)

            def complete(spans):
                kinds = {(s["resource"]["service.name"], s["kind"])
                         for s in spans}
                return {("notes", KIND_SERVER),
                        ("traffic", KIND_CLIENT)} <= kinds and any(
                    s["name"] == "connect" for s in spans)
            spans = sink.wait_for_spans(complete, timeout=60)
        by_id = {s["span_id"]: s for s in spans}
        post = [s for s in spans if s["kind"] == KIND_SERVER and
                s["attributes"].get("http.request.method") == "POST"]
        self.assertEqual(len(post), 1, post)
        parent = by_id.get(post[0]["parent_span_id"])
        self.assertIsNotNone(parent, "server span not linked to curl")
        self.assertEqual(parent["resource"]["service.name"], "traffic")
        self.assertEqual(parent["kind"], KIND_CLIENT)
        db = [s for s in spans if s["parent_span_id"] == post[0]["span_id"]
              and "db.system.name" in s["attributes"]]
        self.assertTrue(db, "no database span under the POST")
        refused = [s for s in spans if s["name"] == "connect"]
        self.assertEqual(refused[0]["status"]["code"], STATUS_ERROR)
        self.assertEqual(refused[0]["attributes"]["server.port"], 1)


if __name__ == "__main__":
    unittest.main()
