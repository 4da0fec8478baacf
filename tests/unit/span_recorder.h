/*
 * For the unit tests of code that starts and ends spans (shim/context.c and
 * the connection code above it): the pipeline's entry points replaced by a
 * recorder of the spans handed over, and a configuration that samples
 * everything and propagates trace context (setup, a checked fixture).
 * Included by one test file per program: it defines what it declares.
 */
#ifndef OTELSHIM_SPAN_RECORDER_H
#define OTELSHIM_SPAN_RECORDER_H

#include <string.h>

#include "pipeline/batch.h"
#include "pipeline/record.h"
#include "shim/context.h"

#define MAXSPANS 64

static struct span submitted[MAXSPANS];
static int nsubmitted;

void batch_submit(const struct span *s)
{
	if (nsubmitted < MAXSPANS)
		submitted[nsubmitted] = *s;
	nsubmitted++;
}

void batch_note_dropped(void)
{
}

/* No exporter thread to start. */
void batch_warm(void)
{
}

static struct config cfg;

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.sampler = CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON;
	cfg.sampler_ratio = 1.0;
	cfg.propagate_tracecontext = 1;
	ctx_init(&cfg, NULL);
	ctx_set_active(NULL);
	nsubmitted = 0;
}

#endif
