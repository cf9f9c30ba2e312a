/*
 * log.h: leveled logging through a sink that the host installs.
 *
 * Logic never writes to stderr or a file itself: the daemon installs a sink
 * that writes lines with timestamps, the simulator one that tags lines with
 * the node id and simulated time (or drops them).  Without a sink, messages at
 * WARNING and above go to stderr so that a broken test is not silent.
 */
#ifndef CAIRN_CORE_LOG_H
#define CAIRN_CORE_LOG_H

enum cairn_log_level {
    CAIRN_LOG_DEBUG = 0,
    CAIRN_LOG_VERBOSE = 1,
    CAIRN_LOG_NOTICE = 2,
    CAIRN_LOG_WARNING = 3,
};

typedef void (*cairn_log_sink_fn)(void *ctx, enum cairn_log_level level,
                                  const char *msg);

void cairn_log_set_sink(cairn_log_sink_fn sink, void *ctx);
void cairn_log_set_level(enum cairn_log_level level);
enum cairn_log_level cairn_log_get_level(void);

/* Parses "debug", "verbose", "notice", "warning"; returns 0 or CAIRN_EINVAL. */
int cairn_log_level_parse(const char *name, enum cairn_log_level *out);
const char *cairn_log_level_name(enum cairn_log_level level);

void cairn_log(enum cairn_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...) cairn_log(CAIRN_LOG_DEBUG, __VA_ARGS__)
#define LOG_VERBOSE(...) cairn_log(CAIRN_LOG_VERBOSE, __VA_ARGS__)
#define LOG_NOTICE(...) cairn_log(CAIRN_LOG_NOTICE, __VA_ARGS__)
#define LOG_WARNING(...) cairn_log(CAIRN_LOG_WARNING, __VA_ARGS__)

#endif
