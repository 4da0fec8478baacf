/*
 * The one definition of each attribute key (see semconv.h).
 */
#include "semconv.h"

#define SEMCONV_KEY(name, text) const char name[sizeof(text)] = text;
#include "semconv.def"
#undef SEMCONV_KEY
