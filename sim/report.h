/*
 * report.h: the simulator's reporting, the only part of sim/ that writes
 * files.  The models never do I/O; a runner opens a full trace file (one line
 * per fired event) or dumps the trace ring after a failure.
 */
#ifndef CAIRN_SIM_REPORT_H
#define CAIRN_SIM_REPORT_H

#include <stdio.h>

#include "world.h"

/* Formats one trace entry as a line (no newline) into out; returns out. */
char *sim_report_format_entry(const struct sim_trace_entry *e, char *out,
                              size_t out_len);

/* Writes the ring (oldest first) to f, one line per entry, after a header
 * naming the seed, the time and the trace hash. */
void sim_report_dump_ring(const struct sim_world *w, FILE *f);

/* Opens path and installs a sink on w that writes every fired event to it.
 * Returns 0 or CAIRN_EIO.  sim_report_trace_close() uninstalls and closes. */
struct sim_report_trace;
int sim_report_trace_open(struct sim_world *w, const char *path,
                          struct sim_report_trace **out);
int sim_report_trace_close(struct sim_world *w, struct sim_report_trace *t);

/* Seconds on the real monotonic clock, for measuring a runner's speed
 * (never used by the models). */
double sim_report_real_seconds(void);

#endif
