/*
 * Unit tests for resource detection: container ids from cgroup v1/v2 and
 * mountinfo samples of docker, containerd, cri-o and podman, host.arch
 * names, redaction of secrets in command arguments, and the assembled
 * resource (service.name precedence, OTEL_RESOURCE_ATTRIBUTES overrides).
 * links: exporter/resource.c
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "exporter/resource.h"
#include "exporter/resource_parse.h"
#include "unit.h"

#define ID "3f4a6c0e8b1d2e5f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f"
#define ID2 "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"

static const char *cgroup_id(const char *text)
{
	static char id[RESOURCE_CONTAINER_ID_LEN + 1];

	memset(id, 'x', sizeof(id));
	if (resource_container_id_from_cgroup(text, strlen(text), id) < 0)
		return NULL;
	ck_assert_uint_eq(strlen(id), RESOURCE_CONTAINER_ID_LEN);
	return id;
}

static const char *mount_id(const char *text)
{
	static char id[RESOURCE_CONTAINER_ID_LEN + 1];

	if (resource_container_id_from_mountinfo(text, strlen(text), id) < 0)
		return NULL;
	return id;
}

START_TEST(test_cgroup_v2)
{
	/* docker with the systemd cgroup driver */
	ck_assert_str_eq(cgroup_id("0::/system.slice/docker-" ID ".scope\n"),
			 ID);
	/* kubernetes + containerd, systemd driver */
	ck_assert_str_eq(cgroup_id(
		"0::/kubepods.slice/kubepods-besteffort.slice/"
		"kubepods-besteffort-pod5f1c2a3b_4d5e_6f70_8192_a3b4c5d6e7f8"
		".slice/cri-containerd-" ID ".scope\n"), ID);
	/* cri-o */
	ck_assert_str_eq(cgroup_id(
		"0::/kubepods.slice/kubepods-burstable.slice/"
		"kubepods-burstable-podabc.slice/crio-" ID ".scope"), ID);
	/* rootless podman: the container's cgroup has a child */
	ck_assert_str_eq(cgroup_id(
		"0::/user.slice/user-1000.slice/user@1000.service/"
		"user.slice/libpod-" ID ".scope/container\n"), ID);
	/* docker with the cgroupfs driver on a v2 host */
	ck_assert_str_eq(cgroup_id("0::/docker/" ID "\n"), ID);
}
END_TEST

START_TEST(test_cgroup_v1)
{
	ck_assert_str_eq(cgroup_id(
		"12:pids:/docker/" ID "\n"
		"11:memory:/docker/" ID "\n"
		"10:cpu,cpuacct:/docker/" ID "\n"
		"1:name=systemd:/docker/" ID "\n"), ID);
	/* kubernetes cgroupfs driver: /kubepods/<qos>/pod<uid>/<id> */
	ck_assert_str_eq(cgroup_id(
		"11:cpuset:/kubepods/besteffort/"
		"pod0b9e7f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b/" ID "\n"), ID);
	ck_assert_str_eq(cgroup_id(
		"4:devices:/system.slice/containerd.service\n"
		"3:memory:/system.slice/docker-" ID ".scope\n"), ID);
	ck_assert_str_eq(cgroup_id(
		"1:name=systemd:/libpod_parent/libpod-" ID "\n"), ID);
	/* The first line that names a container decides. */
	ck_assert_str_eq(cgroup_id(
		"2:cpu:/\n1:name=systemd:/docker/" ID2 "\n0::/docker/" ID "\n"),
		ID2);
}
END_TEST

START_TEST(test_cgroup_none)
{
	ck_assert_ptr_null(cgroup_id(""));
	ck_assert_ptr_null(cgroup_id("0::/\n"));
	ck_assert_ptr_null(cgroup_id(
		"0::/user.slice/user-1000.slice/session-2.scope\n"));
	ck_assert_ptr_null(cgroup_id(
		"12:memory:/user.slice\n1:name=systemd:/init.scope\n"));
	ck_assert_ptr_null(cgroup_id("0::/system.slice/docker.service\n"));
	/* wrong lengths, uppercase, no path field */
	ck_assert_ptr_null(cgroup_id("0::/docker/" ID "0\n"));
	ck_assert_ptr_null(cgroup_id("0::/docker/3f4a6c0e8b1d2e5f7a9c0b1d2e"
				     "3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1"));
	ck_assert_ptr_null(cgroup_id("0::/docker/3F4A6C0E8B1D2E5F7A9C0B1D2E3F"
				     "4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F"));
	ck_assert_ptr_null(cgroup_id("/docker/" ID "\n"));
	ck_assert_ptr_null(cgroup_id("\n\n::\n"));
}
END_TEST

START_TEST(test_mountinfo)
{
	const char *docker =
		"612 540 0:51 / / rw,relatime master:281 - overlay overlay "
		"rw,lowerdir=/var/lib/docker/overlay2/l/ABC\n"
		"630 612 259:2 /var/lib/docker/containers/" ID "/resolv.conf "
		"/etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw\n"
		"631 612 259:2 /var/lib/docker/containers/" ID "/hostname "
		"/etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw\n";
	const char *podman =
		"1058 1020 0:68 /containers/storage/overlay-containers/" ID
		"/userdata/hostname /etc/hostname rw,nosuid,nodev - tmpfs "
		"tmpfs rw\n";
	/* A host sees every container's shm mount; none of them is ours. */
	const char *host =
		"29 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
		"700 29 0:60 / /var/lib/docker/containers/" ID "/mounts/shm "
		"rw,nosuid - tmpfs shm rw,size=65536k\n";
	const char *other =
		"631 612 259:2 /srv/mycontainers/" ID "/hostname "
		"/etc/hostname rw - ext4 /dev/sda rw\n"
		"632 612 259:2 /var/lib/docker/containers/" ID "/hosts "
		"/etc/hostsfoo rw - ext4 /dev/sda rw\n"
		"633 612 259:2 /var/lib/docker/containers/" ID "\n";

	ck_assert_str_eq(mount_id(docker), ID);
	ck_assert_str_eq(mount_id(podman), ID);
	ck_assert_ptr_null(mount_id(host));
	ck_assert_ptr_null(mount_id(other));
	ck_assert_ptr_null(mount_id(""));
}
END_TEST

START_TEST(test_arch)
{
	ck_assert_str_eq(resource_arch_name("x86_64"), "amd64");
	ck_assert_str_eq(resource_arch_name("aarch64"), "arm64");
	ck_assert_str_eq(resource_arch_name("i686"), "x86");
	ck_assert_str_eq(resource_arch_name("i386"), "x86");
	ck_assert_str_eq(resource_arch_name("armv7l"), "arm32");
	ck_assert_str_eq(resource_arch_name("armv6l"), "arm32");
	ck_assert_str_eq(resource_arch_name("ppc64le"), "ppc64");
	ck_assert_str_eq(resource_arch_name("ppc"), "ppc32");
	ck_assert_str_eq(resource_arch_name("s390x"), "s390x");
	ck_assert_str_eq(resource_arch_name("riscv64"), "riscv64");
}
END_TEST

static const char *redact(const char *arg, const char *prev)
{
	static char out[256];
	size_t n = resource_redact_arg(arg, prev, out, sizeof(out));

	ck_assert_uint_eq(n, strlen(out));
	return out;
}

START_TEST(test_redact)
{
	ck_assert_str_eq(redact("-v", NULL), "-v");
	ck_assert_str_eq(redact("http://example.com/a?b=c", "curl"),
			 "http://example.com/a?b=c");
	ck_assert_str_eq(redact("postgres://bob:hunter2@db:5432/app", "psql"),
			 "postgres://REDACTED:REDACTED@db:5432/app");
	ck_assert_str_eq(redact("https://tok@h/p@x", NULL),
			 "https://REDACTED:REDACTED@h/p@x");
	ck_assert_str_eq(redact("--password=hunter2 x", NULL),
			 "--password=REDACTED");
	ck_assert_str_eq(redact("hunter2", "--password"), "REDACTED");
	ck_assert_str_eq(redact("abc", "--api-key"), "REDACTED");
	ck_assert_str_eq(redact("bob:hunter2", "-u"), "bob:REDACTED");
	ck_assert_str_eq(redact("host=db password=hunter2 dbname=app", "psql"),
			 "host=db password=REDACTED dbname=app");
	ck_assert_str_eq(redact("http://h/x?access_token=abc&x=1", NULL),
			 "http://h/x?access_token=REDACTED&x=1");
	ck_assert_str_eq(redact("--port=5432", NULL), "--port=5432");
	ck_assert_str_eq(redact("5432", "--port"), "5432");
}
END_TEST

static const char *str_attr(const struct resource *res, const char *key)
{
	const struct resource_attr *a = resource_find(res, key);

	if (!a)
		return NULL;
	ck_assert_int_eq(a->type, RESOURCE_STRING);
	return a->s;
}

static int count_key(const struct resource *res, const char *key)
{
	size_t i;
	int n = 0;

	for (i = 0; i < res->nattrs; i++)
		n += strcmp(res->attrs[i].key, key) == 0;
	return n;
}

static int is_uuid_v4(const char *s)
{
	int i;

	if (strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i]) ||
			   isupper((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

START_TEST(test_build_detected)
{
	static struct resource res, res2;
	static char *const argv[] = { "prog", "--password", "x", "plain",
				      NULL };
	struct config cfg;
	const struct resource_attr *a;
	struct utsname u;
	char exe[4096];
	ssize_t n;

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_int_eq(resource_build(&res, &cfg, argv), 0);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_str_eq(str_attr(&res, "service.name"),
			 "unknown_service:test_resource");
	ck_assert_str_eq(str_attr(&res, "process.executable.name"),
			 "test_resource");
	ck_assert_str_eq(str_attr(&res, "process.executable.path"), exe);
	ck_assert_str_eq(str_attr(&res, "telemetry.sdk.name"), "otelshim");
	ck_assert_str_eq(str_attr(&res, "telemetry.sdk.language"), "c");
	ck_assert_str_eq(str_attr(&res, "telemetry.sdk.version"),
			 OTELSHIM_VERSION);
	ck_assert_str_eq(str_attr(&res, "os.type"), "linux");
	ck_assert(is_uuid_v4(str_attr(&res, "service.instance.id")));

	a = resource_find(&res, "process.pid");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->type, RESOURCE_INT);
	ck_assert_int_eq(a->i, getpid());

	a = resource_find(&res, "process.command_args");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->type, RESOURCE_STRING_ARRAY);
	ck_assert_uint_eq(a->narr, 4);
	ck_assert_str_eq(a->arr[0], "prog");
	ck_assert_str_eq(a->arr[1], "--password");
	ck_assert_str_eq(a->arr[2], "REDACTED");
	ck_assert_str_eq(a->arr[3], "plain");

	ck_assert_int_eq(uname(&u), 0);
	ck_assert_str_eq(str_attr(&res, "host.name"), u.nodename);
	ck_assert_str_eq(str_attr(&res, "host.arch"),
			 resource_arch_name(u.machine));
	if (resource_find(&res, "container.id"))
		ck_assert_uint_eq(strlen(str_attr(&res, "container.id")), 64);
	ck_assert_ptr_null(resource_find(&res, "no.such.key"));

	/* A new build (a forked child) gets a new instance id. */
	resource_build(&res2, &cfg, argv);
	ck_assert_str_ne(str_attr(&res, "service.instance.id"),
			 str_attr(&res2, "service.instance.id"));
}
END_TEST

START_TEST(test_build_cmdline)
{
	static struct resource res;
	struct config cfg;
	const struct resource_attr *a;
	char buf[4096];
	FILE *f;
	size_t n;

	/* Without argv the arguments come from /proc/self/cmdline. */
	f = fopen("/proc/self/cmdline", "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';

	memset(&cfg, 0, sizeof(cfg));
	resource_build(&res, &cfg, NULL);
	a = resource_find(&res, "process.command_args");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_ge(a->narr, 1);
	ck_assert_str_eq(a->arr[0], buf);
}
END_TEST

START_TEST(test_build_limits)
{
	static struct resource res;
	static char *argv[100];
	static char long_arg[5000];
	struct config cfg;
	const struct resource_attr *a;
	int i;

	memset(long_arg, 'z', sizeof(long_arg) - 1);
	argv[0] = long_arg;
	for (i = 1; i < 99; i++)
		argv[i] = "arg";
	memset(&cfg, 0, sizeof(cfg));
	resource_build(&res, &cfg, argv);
	a = resource_find(&res, "process.command_args");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->narr, RESOURCE_MAX_ARGS);
	ck_assert_uint_eq(strlen(a->arr[0]), 1024);
}
END_TEST

START_TEST(test_service_name_precedence)
{
	static struct resource res;
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.resource_attrs[0] = (struct config_kv){ "service.name", "attr" };
	cfg.n_resource_attrs = 1;
	resource_build(&res, &cfg, NULL);
	ck_assert_str_eq(str_attr(&res, "service.name"), "attr");

	cfg.service_name = "env";
	resource_build(&res, &cfg, NULL);
	ck_assert_str_eq(str_attr(&res, "service.name"), "env");
	ck_assert_int_eq(count_key(&res, "service.name"), 1);

	cfg.n_resource_attrs = 0;
	resource_build(&res, &cfg, NULL);
	ck_assert_str_eq(str_attr(&res, "service.name"), "env");
}
END_TEST

START_TEST(test_user_attributes)
{
	static struct resource res;
	struct config cfg;
	size_t before;

	memset(&cfg, 0, sizeof(cfg));
	resource_build(&res, &cfg, NULL);
	before = res.nattrs;

	cfg.resource_attrs[0] = (struct config_kv){ "deployment.environment",
						    "prod" };
	cfg.resource_attrs[1] = (struct config_kv){ "host.name", "override" };
	cfg.resource_attrs[2] = (struct config_kv){ "process.pid", "1" };
	cfg.resource_attrs[3] = (struct config_kv){ "team", "a" };
	cfg.resource_attrs[4] = (struct config_kv){ "team", "b" };
	cfg.resource_attrs[5] = (struct config_kv){ "", "ignored" };
	cfg.n_resource_attrs = 6;
	resource_build(&res, &cfg, NULL);

	ck_assert_uint_eq(res.nattrs, before + 2);
	ck_assert_str_eq(str_attr(&res, "deployment.environment"), "prod");
	ck_assert_str_eq(str_attr(&res, "host.name"), "override");
	ck_assert_int_eq(count_key(&res, "host.name"), 1);
	/* A user key replaces the detected one, type and all. */
	ck_assert_str_eq(str_attr(&res, "process.pid"), "1");
	ck_assert_str_eq(str_attr(&res, "team"), "b");
	ck_assert_int_eq(count_key(&res, "team"), 1);
	ck_assert_str_eq(str_attr(&res, "service.name"),
			 "unknown_service:test_resource");
}
END_TEST

START_TEST(sql_arguments_sanitised)
{
	char out[256];

	resource_redact_arg("SELECT * FROM t WHERE pw = 'hunter2'", "-c", out,
			    sizeof(out));
	ck_assert_ptr_null(strstr(out, "hunter2"));
	ck_assert_ptr_nonnull(strstr(out, "?"));
	resource_redact_arg("insert into t values (4242, 'x')", "db.sqlite",
			    out, sizeof(out));
	ck_assert_ptr_null(strstr(out, "4242"));
	resource_redact_arg("selection.txt", NULL, out, sizeof(out));
	ck_assert_str_eq(out, "selection.txt");
	resource_redact_arg("Authorization: Bearer abc", "-H", out,
			    sizeof(out));
	ck_assert_str_eq(out, "Authorization: REDACTED");
	resource_redact_arg("Cookie: sid=abc", "-H", out, sizeof(out));
	ck_assert_str_eq(out, "Cookie: REDACTED");
	resource_redact_arg("Accept: text/html", "-H", out, sizeof(out));
	ck_assert_str_eq(out, "Accept: text/html");
	resource_redact_arg("http://h/p?sig=abc&X-Amz-Signature=def&q=1", NULL,
			    out, sizeof(out));
	ck_assert_str_eq(out, "http://h/p?sig=REDACTED&X-Amz-Signature=REDACTED"
			 "&q=1");
}
END_TEST

static Suite *resource_suite(void)
{
	Suite *s = suite_create("resource");
	TCase *tp = tcase_create("parse");
	TCase *tb = tcase_create("build");

	tcase_add_test(tp, test_cgroup_v2);
	tcase_add_test(tp, test_cgroup_v1);
	tcase_add_test(tp, test_cgroup_none);
	tcase_add_test(tp, test_mountinfo);
	tcase_add_test(tp, test_arch);
	tcase_add_test(tp, test_redact);
	tcase_add_test(tp, sql_arguments_sanitised);
	suite_add_tcase(s, tp);

	tcase_add_test(tb, test_build_detected);
	tcase_add_test(tb, test_build_cmdline);
	tcase_add_test(tb, test_build_limits);
	tcase_add_test(tb, test_service_name_precedence);
	tcase_add_test(tb, test_user_attributes);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	return unit_run(resource_suite());
}
