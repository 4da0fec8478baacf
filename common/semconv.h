/*
 * Attribute keys of the OpenTelemetry semantic conventions (the list is
 * common/semconv.def).  Each key is one object, defined once in
 * common/semconv.c: span records keep the key's address, which lives as
 * long as the process, and two keys are the same key exactly when their
 * addresses are equal, so a record compares pointers, not strings.
 */
#ifndef OTELSHIM_SEMCONV_H
#define OTELSHIM_SEMCONV_H

#define SEMCONV_KEY(name, text) extern const char name[sizeof(text)];
#include "semconv.def"
#undef SEMCONV_KEY

#endif
