/* log.c: see log.h.  Messages longer than 1 KiB are truncated. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

static cairn_log_sink_fn log_sink;
static void *log_ctx;
static enum cairn_log_level log_level = CAIRN_LOG_NOTICE;

static const char *const level_names[] = {"debug", "verbose", "notice",
                                          "warning"};

void cairn_log_set_sink(cairn_log_sink_fn sink, void *ctx)
{
    log_sink = sink;
    log_ctx = ctx;
}

void cairn_log_set_level(enum cairn_log_level level)
{
    log_level = level;
}

enum cairn_log_level cairn_log_get_level(void)
{
    return log_level;
}

int cairn_log_level_parse(const char *name, enum cairn_log_level *out)
{
    for (int i = 0; i <= CAIRN_LOG_WARNING; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum cairn_log_level)i;
            return 0;
        }
    }
    return CAIRN_EINVAL;
}

const char *cairn_log_level_name(enum cairn_log_level level)
{
    return level_names[level];
}

void cairn_log(enum cairn_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_sink != NULL)
        log_sink(log_ctx, level, msg);
    else if (level >= CAIRN_LOG_WARNING)
        fprintf(stderr, "cairn: %s\n", msg);
}
