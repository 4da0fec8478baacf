/*
 * The OTLP/JSON writer: span records encoded as JSON are compared byte for
 * byte on small cases and run through python3's json module on a full
 * one; a hand-built tree covers what span records never hold (bytes,
 * key-value lists, nested arrays, values left unset).
 * links: exporter/otlp.c exporter/legacy.c exporter/otlp_json.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/semconv.h"
#include "exporter/otlp.h"
#include "exporter/otlp_json.h"
#include "otlp_fixture.h"
#include "unit.h"

#define ANY(c) ANY_CASE(c)

START_TEST(test_json_exact)
{
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res };
	struct span s;
	char *json;

	res.nattrs = 1;
	span_init(&s);
	memset(s.parent_span_id, 0xa0, 8);
	s.parent_is_remote = 1;
	s.status = SPAN_STATUS_ERROR;
	s.status_message = pool_str(&s, "boom");
	attr_int(&s, "n", -5);
	attr_double(&s, "d", 0.1);
	attr_bool(&s, "b", 0);
	s.events[0].time_ns = 5;
	s.events[0].name = "ev";
	s.nevents = 1;
	json = json_of(&enc, &s, 1);
	ck_assert_str_eq(json,
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":["
		"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc\"}}"
		"]},\"scopeSpans\":[{\"scope\":{\"name\":\"otelshim\","
		"\"version\":\"" OTELSHIM_VERSION "\"},\"spans\":[{"
		"\"traceId\":\"010101010101010101010101010101ab\","
		"\"spanId\":\"1111111111111111\","
		"\"parentSpanId\":\"a0a0a0a0a0a0a0a0\","
		"\"flags\":769,\"name\":\"GET\",\"kind\":2,"
		"\"startTimeUnixNano\":\"1700000000000000000\","
		"\"endTimeUnixNano\":\"1700000000123456789\","
		"\"attributes\":["
		"{\"key\":\"n\",\"value\":{\"intValue\":\"-5\"}},"
		"{\"key\":\"d\",\"value\":{\"doubleValue\":0.1}},"
		"{\"key\":\"b\",\"value\":{\"boolValue\":false}}],"
		"\"events\":[{\"timeUnixNano\":\"5\",\"name\":\"ev\"}],"
		"\"status\":{\"message\":\"boom\",\"code\":2}}]}]}]}");
	free(json);
}
END_TEST

START_TEST(test_json_escaping)
{
	struct otlp_encoder enc = { .cfg = &cfg };
	struct span s;
	char *json;
	const char *want;

	span_init(&s);
	s.name = pool_str(&s, "q\"b\\s/\x01\x1f\t\n\r\b\f\x7f\xc3\xa9");
	s.trace_state = pool_str(&s, "a=1");
	s.dropped_attrs = 1;
	attr_double(&s, "nan", NAN);
	attr_double(&s, "inf", -INFINITY);
	attr_double(&s, "big", 1e300);
	attr_double(&s, "third", 1.0 / 3.0);
	attr_int(&s, "max", INT64_MAX);
	attr_bool(&s, "t", 1);
	json = json_of(&enc, &s, 1);
	want = "\"traceState\":\"a=1\",\"flags\":257,"
	       "\"name\":\"q\\\"b\\\\s/\\u0001\\u001f\\t\\n\\r\\b\\f\x7f"
	       "\xc3\xa9\",\"kind\":2,";
	ck_assert_msg(strstr(json, want), "%s", json);
	want = "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},"
	       "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
	       "{\"key\":\"big\",\"value\":{\"doubleValue\":1e+300}},"
	       "{\"key\":\"third\",\"value\":"
	       "{\"doubleValue\":0.33333333333333331}},"
	       "{\"key\":\"max\",\"value\":"
	       "{\"intValue\":\"9223372036854775807\"}},"
	       "{\"key\":\"t\",\"value\":{\"boolValue\":true}}],"
	       "\"droppedAttributesCount\":1}";
	ck_assert_msg(strstr(json, want), "%s", json);
	free(json);
}
END_TEST

/*
 * Runs python3's json module over the output of a full batch and prints
 * values back, so the check does not rely on our own idea of JSON.
 */
START_TEST(test_json_parses)
{
	static const char script[] =
		"import json,sys\n"
		"d=json.load(open(sys.argv[1],encoding='utf-8'))\n"
		"rs=d['resourceSpans'][0]\n"
		"a={x['key']:x['value']\n"
		"   for x in rs['resource']['attributes']}\n"
		"sp=rs['scopeSpans'][0]['spans']\n"
		"s=sp[0]\n"
		"b={x['key']:x['value'] for x in s['attributes']}\n"
		"print(len(sp), a['process.command_args']['arrayValue']"
		"['values'][1]['stringValue'], a['process.pid']['intValue'],"
		" s['traceId'], s['kind'], s['flags'], s['status']['code'],"
		" b['q']['stringValue'] == 'say \"hi\"\\n\\u00e9\\ufffd',"
		" b['code.stacktrace']['stringValue'].split()[1],"
		" s['events'][0]['attributes'][0]['value']['intValue'],"
		" sp[1]['name'], 'parentSpanId' in sp[1])\n";
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res,
				     .render_stack = render_stack };
	struct span s[2];
	char path[] = "/tmp/test_otlp_XXXXXX", spath[64], cmd[256];
	char line[512];
	char *json;
	FILE *f, *py;
	int fd;

	if (access("/usr/bin/python3", X_OK) != 0)
		return;         /* a structural check needs a real parser */
	span_init(&s[0]);
	memset(s[0].parent_span_id, 0x22, 8);
	s[0].kind = SPAN_KIND_CONSUMER;
	s[0].status = SPAN_STATUS_ERROR;
	s[0].stack_depth = 4;
	attr_str(&s[0], "q", "say \"hi\"\n\xc3\xa9\xff");
	attr_stack(&s[0], ATTR_CODE_STACKTRACE);
	attr_double(&s[0], "x", NAN);
	s[0].events[0] = (struct span_event){ .time_ns = 1, .name = "e",
		.nattrs = 1 };
	s[0].events[0].attrs[0] = (struct span_attr){ .key = "k",
		.type = SPAN_ATTR_INT, .v.i = -9 };
	s[0].nevents = 1;
	span_init(&s[1]);
	s[1].name = pool_str(&s[1], "second");

	json = json_of(&enc, s, 2);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(json, f);
	fclose(f);
	free(json);

	snprintf(spath, sizeof(spath), "/tmp/test_otlp_%d.py", (int)getpid());
	f = fopen(spath, "w");
	ck_assert_ptr_nonnull(f);
	fputs(script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s %s", spath, path);
	py = popen(cmd, "r");
	ck_assert_ptr_nonnull(py);
	line[0] = '\0';
	fgets(line, sizeof(line), py);
	ck_assert_int_eq(pclose(py), 0);
	unlink(path);
	unlink(spath);
	ck_assert_str_eq(line, "2 --flag 4242 010101010101010101010101010101ab"
			 " 5 257 2 True depth=4 -9 second False\n");
}
END_TEST

/* Values span records never hold, written straight from a tree. */
START_TEST(test_json_writer_values)
{
	static const uint8_t raw[3] = { 0, 0xff, 7 };
	pb_any v[7], *arr_items[2];
	pb_kv kv[6], *kvp[6], *inner[1];
	pb_array arr;
	pb_kvlist list;
	pb_resource r;
	pb_resource_spans rs, *rsp[1];
	pb_request req;
	char *out = NULL;
	size_t len = 0, i;

	for (i = 0; i < NELEM(v); i++)
		opentelemetry__proto__common__v1__any_value__init(&v[i]);
	for (i = 0; i < 3; i++) {
		v[i].value_case = ANY(BYTES_VALUE);
		v[i].bytes_value.data = (uint8_t *)raw;
		v[i].bytes_value.len = 3 - i;
	}
	v[3].value_case = ANY(STRING_VALUE);
	v[3].string_value = (char *)"v";
	/* v[4] stays unset */
	arr_items[0] = &v[3];
	arr_items[1] = &v[4];
	opentelemetry__proto__common__v1__array_value__init(&arr);
	arr.values = arr_items;
	arr.n_values = 2;
	v[5].value_case = ANY(ARRAY_VALUE);
	v[5].array_value = &arr;
	for (i = 0; i < NELEM(kv); i++) {
		opentelemetry__proto__common__v1__key_value__init(&kv[i]);
		kv[i].key = (char *)"k";
		kv[i].value = &v[i];
		kvp[i] = &kv[i];
	}
	inner[0] = &kv[3];
	opentelemetry__proto__common__v1__key_value_list__init(&list);
	list.values = inner;
	list.n_values = 1;
	v[6].value_case = ANY(KVLIST_VALUE);
	v[6].kvlist_value = &list;
	kv[4].value = &v[6];
	kv[5].value = NULL;
	kv[5].key = (char *)"none";
	kv[3].value = &v[5];
	opentelemetry__proto__resource__v1__resource__init(&r);
	r.attributes = kvp;
	r.n_attributes = NELEM(kvp);
	opentelemetry__proto__trace__v1__resource_spans__init(&rs);
	rs.resource = &r;
	rsp[0] = &rs;
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
	req.resource_spans = rsp;
	req.n_resource_spans = 1;

	ck_assert_int_eq(otlp_json_request(&req, &out, &len), 0);
	ck_assert_uint_eq(strlen(out), len);
	ck_assert_str_eq(out,
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":["
		"{\"key\":\"k\",\"value\":{\"bytesValue\":\"AP8H\"}},"
		"{\"key\":\"k\",\"value\":{\"bytesValue\":\"AP8=\"}},"
		"{\"key\":\"k\",\"value\":{\"bytesValue\":\"AA==\"}},"
		"{\"key\":\"k\",\"value\":{\"arrayValue\":{\"values\":["
		"{\"stringValue\":\"v\"},{}]}}},"
		"{\"key\":\"k\",\"value\":{\"kvlistValue\":{\"values\":["
		"{\"key\":\"k\",\"value\":{\"arrayValue\":{\"values\":["
		"{\"stringValue\":\"v\"},{}]}}}]}}},"
		"{\"key\":\"none\"}]}}]}");
	free(out);
	/* Nothing to send: an empty object. */
	req.n_resource_spans = 0;
	ck_assert_int_eq(otlp_json_request(&req, &out, &len), 0);
	ck_assert_str_eq(out, "{}");
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("otlp_json");
	TCase *tc = tcase_create("json");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_json_exact);
	tcase_add_test(tc, test_json_escaping);
	tcase_add_test(tc, test_json_parses);
	tcase_add_test(tc, test_json_writer_values);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
