/* `otelshim view`: OTLP/JSON lines as a terminal waterfall. */
#ifndef OTELSHIM_TOOLS_VIEW_H
#define OTELSHIM_TOOLS_VIEW_H

/* argv: the arguments after "view"; returns the exit status. */
int view_main(int argc, char **argv);

#endif
