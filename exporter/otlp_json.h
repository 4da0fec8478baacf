/*
 * The OTLP/JSON writer for a tree of protobuf-c messages (otlp_json.c),
 * the counterpart of the protobuf writer in otlp_pb.h: the console and
 * file exporters and OTLP/HTTP with the JSON protocol send what it writes.
 * Exporter thread only.
 */
#ifndef OTELSHIM_OTLP_JSON_H
#define OTELSHIM_OTLP_JSON_H

#include <stddef.h>

#include "otlp_pb.h"

/*
 * Writes req as one OTLP/JSON object (hex ids, integer enums,
 * lowerCamelCase keys, 64-bit integers as strings, default values left
 * out), no trailing newline.  Every string in the tree must already be
 * well-formed UTF-8.  On success *out is a malloc()ed, NUL-terminated
 * buffer of *len bytes that the caller frees; returns 0, or -ENOMEM.
 */
int otlp_json_request(const pb_request *req, char **out, size_t *len);

#endif
