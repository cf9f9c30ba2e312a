/*
 * report.c: trace files, failure reports and the runner's speed; see
 * report.h.  This is the one file of sim/ that touches stdio streams or the
 * real clock, so that the models stay pure.
 */
#include "report.h"

#include <inttypes.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"

struct sim_report_trace {
    FILE *f;
    bool failed;
};

char *sim_report_format_entry(const struct sim_trace_entry *e, char *out,
                              size_t out_len)
{
    char node[8] = "-";
    if (e->node != SIM_NODE_NONE)
        snprintf(node, sizeof(node), "%u", (unsigned)e->node);
    snprintf(out, out_len,
             "t=%" PRIu64 ".%06" PRIu64 " seq=%" PRIu64 " node=%s %-11s "
             "arg=%" PRIu64 " bytes=%" PRIu32 " h=%016" PRIx64,
             e->at_us / 1000000, e->at_us % 1000000, e->seq, node,
             sim_event_kind_name(e->kind), e->arg, e->bytes_len,
             e->bytes_hash);
    return out;
}

void sim_report_dump_ring(const struct sim_world *w, FILE *f)
{
    size_t n = sim_world_trace_count(w);
    fprintf(f,
            "# seed=%" PRIu64 " now_us=%" PRIu64 " events=%" PRIu64
            " trace_hash=%016" PRIx64 " last %zu events:\n",
            sim_world_seed(w), sim_world_now_us(w), sim_world_events_fired(w),
            sim_world_trace_hash(w), n);
    char line[256];
    for (size_t i = 0; i < n; i++) {
        struct sim_trace_entry e;
        if (sim_world_trace_get(w, i, &e))
            fprintf(f, "%s\n", sim_report_format_entry(&e, line, sizeof(line)));
    }
}

static void trace_sink(void *ctx, const struct sim_trace_entry *e)
{
    struct sim_report_trace *t = ctx;
    char line[256];
    if (fprintf(t->f, "%s\n", sim_report_format_entry(e, line, sizeof(line))) < 0)
        t->failed = true;
}

int sim_report_trace_open(struct sim_world *w, const char *path,
                          struct sim_report_trace **out)
{
    struct sim_report_trace *t = cairn_calloc(1, sizeof(*t));
    if (t == NULL)
        return CAIRN_ENOMEM;
    t->f = fopen(path, "w");
    if (t->f == NULL) {
        cairn_free(t);
        return CAIRN_EIO;
    }
    sim_world_trace_set_sink(w, trace_sink, t);
    *out = t;
    return 0;
}

int sim_report_trace_close(struct sim_world *w, struct sim_report_trace *t)
{
    sim_world_trace_set_sink(w, NULL, NULL);
    int rc = t->failed ? CAIRN_EIO : 0;
    if (fclose(t->f) != 0)
        rc = CAIRN_EIO;
    cairn_free(t);
    return rc;
}

double sim_report_real_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
