/*
 * Short names for the protobuf-c message types of an OTLP trace export:
 * what the JSON writer walks and what a server's answer decodes into.
 */
#ifndef OTELSHIM_OTLP_PB_H
#define OTELSHIM_OTLP_PB_H

#include <stddef.h>
#include <stdint.h>

#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
	pb_request;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
	pb_response;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans pb_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans pb_scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event pb_event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link pb_link;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__ArrayValue pb_array;
typedef Opentelemetry__Proto__Common__V1__KeyValueList pb_kvlist;

/* Which member of an AnyValue is set. */
#define ANY_CASE(c) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##c

#endif
