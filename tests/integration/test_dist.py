"""The portable bundle (make dist -> tools/dist.sh): it holds every
non-glibc library the exporter module needs (libcurl too, which the module
dlopen()s for https:// endpoints only), finds them through $ORIGIN
wherever the folder is copied, and traces a program inside a minimal
Debian root filesystem that has no libcurl, protobuf-c or libunwind
(debootstrap --variant=minbase, cached in build/rootfs-minbase, entered
with chroot)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from harness import (BUILD, KIND_CLIENT, LIB, MODULE, ROOT, STATUS_ERROR,
                     Sink, need_chroot, need_mount_namespace, tls_receiver)

DIST_SH = ROOT / "tools" / "dist.sh"
ROOTFS = BUILD / "rootfs-minbase"
SUITE = "bookworm"

# glibc's own libraries: never bundled, always the system's.
GLIBC = re.compile(r"^(ld-linux.*|ld64|libc|libm|libmvec|libpthread|libdl|"
                   r"librt|libresolv|libutil|libanl|libBrokenLocale|"
                   r"libnss_.*|libthread_db|libc_malloc_debug|linux-vdso)"
                   r"\.so(\.|$)")

# A failed connect from bash's /dev/tcp: one CLIENT error span.
REFUSED_SCRIPT = "exec 3<>/dev/tcp/127.0.0.1/1 || exit 7"


def readelf_dynamic(path):
    """(needed sonames, runpath or None) of an ELF file."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True,
                         text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    run = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r\w*path: \[([^\]]*)\]",
                    out)
    return needed, (run.group(1) if run else None)


def ldd_map(lines):
    """soname -> resolved path (or 'not found') from ldd output."""
    deps = {}
    for line in lines.splitlines():
        m = re.match(r"\s*(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?$", line)
        if m:
            deps[m.group(1)] = m.group(2).strip()
    return deps


def make_bundle(dest):
    """Run tools/dist.sh (what `make dist` runs after `make all`) into
    dest; returns dest."""
    for f in (LIB, MODULE, BUILD / "otelshim"):
        if not f.exists():
            raise unittest.SkipTest("%s is not built (make all)" % f)
    if shutil.which("patchelf") is None:
        raise AssertionError("patchelf is not installed "
                             "(tools/install-deps.sh installs it)")
    r = subprocess.run([str(DIST_SH), str(dest)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("tools/dist.sh failed:\n%s%s"
                             % (r.stdout, r.stderr))
    return dest


def spans_of_jsonl(path):
    """Spans (with their resource attributes) from an OTLP/JSON lines file
    written by the console exporter."""
    spans = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            res = {a["key"]: a["value"] for a in
                   rs.get("resource", {}).get("attributes", [])}
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    s = dict(s)
                    s["attrs"] = {a["key"]: a["value"] for a in
                                  s.get("attributes", [])}
                    s["res"] = res
                    spans.append(s)
    return spans


class BundleTest(unittest.TestCase):
    """The bundle on this machine: contents, RUNPATHs, relocation."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otelshim-dist-"))
        cls.bundle = make_bundle(cls.tmp / "otelshim")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_contents(self):
        b = self.bundle
        for f in ("libotelshim.so", "otelshim-exporter.so", "otelshim",
                  "README", "LIBRARIES"):
            self.assertTrue((b / f).is_file(), f)
        self.assertTrue(os.access(b / "otelshim", os.X_OK))
        libs = sorted(p.name for p in (b / "lib").iterdir())
        for want in ("libcurl.so.4", "libprotobuf-c.so.1", "libz.so.1",
                     "libssl.so.3", "libnghttp2.so.14"):
            self.assertIn(want, libs)
        glibc = [n for n in libs if GLIBC.match(n)]
        self.assertEqual(glibc, [], "glibc libraries were bundled")
        listed = sorted(l.split("\t")[0] for l in
                        (b / "LIBRARIES").read_text().splitlines())
        self.assertEqual(listed, libs)
        readme = (b / "README").read_text()
        self.assertIn("LD_PRELOAD=", readme)
        self.assertRegex(readme, r"glibc \d+\.\d+ or\s+newer")

    def test_runpaths_and_closure(self):
        """Statically, from the ELF headers: the preloaded library and the
        command need glibc only; every library the module needs, directly
        or through another bundled library, is in lib/ or is glibc."""
        b = self.bundle
        for f in ("libotelshim.so", "otelshim"):
            needed, runpath = readelf_dynamic(b / f)
            self.assertEqual([n for n in needed if not GLIBC.match(n)], [],
                             "%s needs more than glibc" % f)
            self.assertIsNone(runpath, f)
        needed, runpath = readelf_dynamic(b / "otelshim-exporter.so")
        self.assertEqual(runpath, "$ORIGIN/lib")
        # libcurl is dlopen()ed for https:// only, not needed at load.
        self.assertNotIn("libcurl.so.4", needed)
        self.assertIn("libprotobuf-c.so.1", needed)
        have = {p.name for p in (b / "lib").iterdir()}
        todo, seen = list(needed) + ["libcurl.so.4"], set()
        while todo:
            name = todo.pop()
            if name in seen or GLIBC.match(name):
                continue
            seen.add(name)
            self.assertIn(name, have, "%s is needed but not bundled" % name)
            sub, rp = readelf_dynamic(b / "lib" / name)
            self.assertEqual(rp, "$ORIGIN", name)
            todo.extend(sub)
        self.assertEqual(seen, have, "bundled libraries nothing needs")

    def test_relocated_copy_resolves_and_exports(self):
        """Copied elsewhere under another name, the module's libraries
        still resolve inside the copy, and a traced curl's span arrives
        over OTLP/HTTP (libcurl and protobuf-c from the bundle)."""
        moved = self.tmp / "elsewhere" / "renamed"
        shutil.copytree(self.bundle, moved, symlinks=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
        out = subprocess.run(["ldd", str(moved / "otelshim-exporter.so"),
                              str(moved / "lib" / "libcurl.so.4")],
                             capture_output=True, text=True, env=env,
                             check=True).stdout
        deps = ldd_map(out)
        self.assertNotIn("not found", out)
        for soname, path in deps.items():
            if GLIBC.match(soname):
                continue
            self.assertTrue(path.startswith(str(moved) + "/lib/"),
                            "%s resolved to %s" % (soname, path))
        with Sink() as sink:
            env.update(LD_PRELOAD=str(moved / "libotelshim.so"),
                       OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
                       OTEL_SERVICE_NAME="relocated",
                       OTEL_BSP_SCHEDULE_DELAY="200")
            r = subprocess.run(["bash", "-c", REFUSED_SCRIPT], env=env,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 7, r.stderr)
            spans = sink.wait_for_spans(1)
        self.assertEqual(spans[0]["name"], "connect")
        self.assertEqual(spans[0]["resource"]["service.name"], "relocated")
        self.assertEqual(spans[0]["attributes"]["error.type"], "ECONNREFUSED")
        # Over https the module loads libcurl, from the copy's lib/.
        with tls_receiver(str(self.tmp)) as (ep, cert, hits):
            env.update(OTEL_EXPORTER_OTLP_ENDPOINT=ep,
                       OTEL_EXPORTER_OTLP_CERTIFICATE=cert,
                       LD_DEBUG="libs")
            r = subprocess.run(["bash", "-c", REFUSED_SCRIPT], env=env,
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 7)
        self.assertEqual(hits, ["/v1/traces"])
        self.assertRegex(r.stderr, r"calling init: %s\S*/libcurl\.so\.4"
                         % re.escape(str(moved / "lib")))

    def test_command_finds_library_beside_it(self):
        """The bundled command preloads the bundled library."""
        out = self.tmp / "cmd-spans.jsonl"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OTEL") and k != "LD_PRELOAD"}
        env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
        r = subprocess.run([str(self.bundle / "otelshim"), "run",
                            "--service", "bundled-cmd", "--file", str(out),
                            "--", "bash", "-c",
                            'echo "$LD_PRELOAD"; ' + REFUSED_SCRIPT],
                           env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertEqual(r.stdout.strip(),
                         str(self.bundle / "libotelshim.so"))
        spans = spans_of_jsonl(out)
        self.assertEqual([s["name"] for s in spans], ["connect"])


def apt_mirror():
    """The Debian mirror apt uses here, from /etc/apt/sources.list*:
    the first URI serving the bookworm suite of the main archive."""
    files = [Path("/etc/apt/sources.list")]
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        files += sorted(d.iterdir())
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.*)$", stanza, re.M)
                if uris and suites and SUITE in suites.group(1).split():
                    return uris.group(1)
        else:
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)",
                             line)
                if m and m.group(2) == SUITE:
                    return m.group(1)
    return "http://deb.debian.org/debian"


def ensure_rootfs():
    """build/rootfs-minbase: a bookworm minbase root filesystem, made once
    with debootstrap (about a minute) and reused.  Skips the calling test
    when it cannot be made here."""
    if (ROOTFS / "usr" / "bin" / "bash").exists() and \
       (ROOTFS / ".otelshim-complete").exists():
        return ROOTFS
    reason = need_chroot()
    if reason:
        raise unittest.SkipTest("debootstrap: " + reason)
    if shutil.which("debootstrap") is None:
        raise unittest.SkipTest("debootstrap is not installed "
                                "(tools/install-deps.sh installs it)")
    tmp = BUILD / "rootfs-minbase.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(ROOTFS, ignore_errors=True)
    mirror = apt_mirror()
    r = subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(tmp),
                        mirror], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).splitlines()[-15:])
        shutil.rmtree(tmp, ignore_errors=True)
        raise unittest.SkipTest("debootstrap %s from %s failed here:\n%s"
                                % (SUITE, mirror, tail))
    (tmp / ".otelshim-complete").write_text(mirror + "\n")
    tmp.rename(ROOTFS)
    return ROOTFS


class MinbaseChrootTest(unittest.TestCase):
    """The bundle inside a minimal Debian without the libraries it
    bundles, entered with chroot (same network namespace as the host, so
    the test receiver on loopback is reachable)."""

    @classmethod
    def setUpClass(cls):
        reason = need_chroot()
        if reason:
            raise unittest.SkipTest(reason)
        cls.rootfs = ensure_rootfs()
        cls.tmp = Path(tempfile.mkdtemp(prefix="otelshim-dist-"))
        bundle = make_bundle(cls.tmp / "otelshim")
        # A fresh, uniquely named place inside the rootfs per run.
        cls.inside = "/opt/otelshim-test-%d" % os.getpid()
        cls.host_dir = cls.rootfs / cls.inside.lstrip("/")
        shutil.rmtree(cls.host_dir, ignore_errors=True)
        cls.host_dir.mkdir(parents=True)
        shutil.copytree(bundle, cls.host_dir / "otelshim", symlinks=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.host_dir, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def chroot(self, argv, env=None, proc=False, timeout=60):
        """Run argv inside the rootfs with a clean environment.  proc:
        mount /proc in a private mount namespace first (it disappears
        with the process)."""
        base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        base.update(env or {})
        inner = ["chroot", str(self.rootfs), "/usr/bin/env", "-i"] + \
            ["%s=%s" % kv for kv in base.items()] + list(argv)
        if proc:
            reason = need_mount_namespace()
            if reason:
                self.skipTest("/proc cannot be mounted for the rootfs "
                              "alone: " + reason)
            script = 'mount -t proc proc "$1/proc" && shift && exec "$@"'
            inner = ["unshare", "--mount", "--propagation", "private",
                     "sh", "-c", script, "sh", str(self.rootfs)] + inner
        return subprocess.run(inner, capture_output=True, text=True,
                              timeout=timeout)

    def test_rootfs_lacks_the_bundled_libraries(self):
        libdirs = [self.rootfs / d for d in
                   ("usr/lib/x86_64-linux-gnu", "usr/lib", "lib",
                    "usr/local/lib")]
        for pattern in ("libcurl.so*", "libprotobuf-c.so*",
                        "libunwind*.so*", "libnghttp2.so*"):
            for d in libdirs:
                if d.is_dir() and not d.is_symlink():
                    self.assertEqual(list(d.glob(pattern)), [],
                                     "%s has %s" % (d, pattern))

    def test_ldd_inside_resolves_everything(self):
        mod = self.inside + "/otelshim/otelshim-exporter.so"
        curl = self.inside + "/otelshim/lib/libcurl.so.4"
        r = self.chroot(["ldd", mod, curl])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("not found", r.stdout)
        deps = ldd_map(r.stdout)
        self.assertIn("libssl.so.3", deps)
        for soname, path in deps.items():
            if GLIBC.match(soname):
                self.assertFalse(path.startswith(self.inside), soname)
            else:
                self.assertTrue(path.startswith(self.inside + "/otelshim/"
                                                "lib/"),
                                "%s resolved to %s" % (soname, path))

    def test_console_export_inside(self):
        name = "spans-console.jsonl"
        r = self.chroot(["bash", "-c", REFUSED_SCRIPT], env={
            "LD_PRELOAD": self.inside + "/otelshim/libotelshim.so",
            "OTEL_SERVICE_NAME": "minbase-console",
            "OTEL_TRACES_EXPORTER": "console",
            "OTELSHIM_CONSOLE_FILE": self.inside + "/" + name})
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertNotIn("otelshim", r.stderr)
        spans = spans_of_jsonl(self.host_dir / name)
        self.assertEqual(len(spans), 1, spans)
        s = spans[0]
        self.assertEqual(s["name"], "connect")
        self.assertEqual(s["kind"], KIND_CLIENT)
        self.assertEqual(s["status"]["code"], STATUS_ERROR)
        self.assertEqual(s["attrs"]["error.type"]["stringValue"],
                         "ECONNREFUSED")
        self.assertEqual(s["res"]["service.name"]["stringValue"],
                         "minbase-console")

    def test_otlp_export_inside(self):
        """OTLP/HTTP protobuf through the bundled libcurl and protobuf-c to
        the receiver on the host's loopback."""
        with Sink() as sink:
            t0 = time.time_ns()
            r = self.chroot(["bash", "-c", REFUSED_SCRIPT], env={
                "LD_PRELOAD": self.inside + "/otelshim/libotelshim.so",
                "OTEL_SERVICE_NAME": "minbase-otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "200"})
            self.assertEqual(r.returncode, 7, r.stderr)
            spans = sink.wait_for_spans(1)
        self.assertNotIn("otelshim", r.stderr)
        s = spans[0]
        self.assertEqual(s["name"], "connect")
        self.assertEqual(s["resource"]["service.name"], "minbase-otlp")
        self.assertEqual(s["attributes"]["error.type"], "ECONNREFUSED")
        self.assertLessEqual(t0, int(s["start_time_unix_nano"]))

    def test_https_export_inside(self):
        """An https:// endpoint inside the rootfs, which has no libcurl:
        the module loads the bundled one, and the span arrives."""
        with tls_receiver(str(self.host_dir)) as (ep, cert, hits):
            r = self.chroot(["bash", "-c", REFUSED_SCRIPT], env={
                "LD_PRELOAD": self.inside + "/otelshim/libotelshim.so",
                "OTEL_SERVICE_NAME": "minbase-https",
                "OTEL_EXPORTER_OTLP_ENDPOINT": ep,
                "OTEL_EXPORTER_OTLP_CERTIFICATE":
                    self.inside + "/" + os.path.basename(cert),
                "OTEL_BSP_SCHEDULE_DELAY": "200"})
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertNotIn("otelshim", r.stderr)
        self.assertEqual(hits, ["/v1/traces"])

    def test_command_inside(self):
        """otelshim run inside the rootfs (it finds its library through
        /proc/self/exe, so /proc is mounted for it)."""
        name = "spans-cmd.jsonl"
        r = self.chroot([self.inside + "/otelshim/otelshim", "run",
                         "--service", "minbase-cmd", "--file",
                         self.inside + "/" + name, "--",
                         "bash", "-c", REFUSED_SCRIPT],
                        env={"OTEL_BSP_SCHEDULE_DELAY": "200"}, proc=True)
        self.assertEqual(r.returncode, 7, r.stderr)
        spans = spans_of_jsonl(self.host_dir / name)
        self.assertEqual([s["name"] for s in spans], ["connect"])
        self.assertEqual(spans[0]["res"]["service.name"]["stringValue"],
                         "minbase-cmd")


if __name__ == "__main__":
    unittest.main()
