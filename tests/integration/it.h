/*
 * it.h: helpers shared by the integration tests (header-only, included by
 * each tests/integration/test_*.c after <cmocka.h>).
 *
 * The server under test is $CAIRN_SERVER.  Set CAIRN_SERVER to a
 * redis-server binary to run the suite against Redis itself: every test
 * must pass there, which is how the expectations were validated.
 */
#ifndef CAIRN_TESTS_IT_H
#define CAIRN_TESTS_IT_H

#include <string.h>

#include "resp_client.h"
#include "server_proc.h"

/* Timeouts for one wait on a socket or a process, in milliseconds. */
#define IT_IO_TIMEOUT_MS 5000
#define IT_STOP_TIMEOUT_MS 5000

static inline void it_connect(struct resp_client *c, int port)
{
    int rc = resp_client_connect(c, port, IT_IO_TIMEOUT_MS);
    if (rc != 0)
        fail_msg("cannot connect to 127.0.0.1:%d (%d)", port, rc);
}

/* Sends a command line and checks the reply's exact bytes. */
static inline void it_expect_at(struct resp_client *c, const char *line,
                                const char *want, const char *file, int lineno)
{
    const char *got = resp_client_call(c, line);
    if (got == NULL)
        _fail(file, lineno);
    if (strcmp(got, want) != 0) {
        char shown[1024];
        snprintf(shown, sizeof(shown), "%s", resp_client_show(got, strlen(got)));
        fail_msg("%s:%d: %s\n  got  %s\n  want %s", file, lineno, line, shown,
                 resp_client_show(want, strlen(want)));
    }
}
#define it_expect(c, line, want) it_expect_at(c, line, want, __FILE__, __LINE__)

/* Reads one reply and checks its exact bytes. */
static inline void it_expect_reply_at(struct resp_client *c, const char *want,
                                      const char *file, int lineno)
{
    struct buf got;
    buf_init(&got, 0);
    int rc = resp_client_read(c, &got);
    if (rc != 0 || got.len != strlen(want) ||
        memcmp(got.data, want, got.len) != 0) {
        char shown[1024];
        snprintf(shown, sizeof(shown), "%s",
                 got.len > 0 ? resp_client_show(got.data, got.len) : "");
        buf_free(&got);
        fail_msg("%s:%d: read rc %d\n  got  %s\n  want %s", file, lineno, rc,
                 shown, resp_client_show(want, strlen(want)));
    }
    buf_free(&got);
}
#define it_expect_reply(c, want) it_expect_reply_at(c, want, __FILE__, __LINE__)

/* The server closes the connection (within the I/O timeout). */
#define it_expect_closed(c)                                                \
    do {                                                                   \
        if (resp_client_wait_closed(c, IT_IO_TIMEOUT_MS) != 0)             \
            fail_msg("%s:%d: connection still open", __FILE__, __LINE__);  \
    } while (0)

/* The server still answers PING on a new connection (NOAUTH counts as an
 * answer when a password is required). */
static inline void it_still_serving_at(int port, const char *file, int lineno)
{
    struct resp_client c;
    if (resp_client_connect(&c, port, IT_IO_TIMEOUT_MS) != 0)
        fail_msg("%s:%d: server no longer accepts connections", file, lineno);
    const char *r = resp_client_call(&c, "PING");
    bool ok = r != NULL && (strcmp(r, "+PONG\r\n") == 0 ||
                            strcmp(r, "-NOAUTH Authentication required.\r\n") == 0);
    resp_client_close(&c);
    if (!ok)
        fail_msg("%s:%d: server no longer answers PING", file, lineno);
}
#define it_still_serving(port) it_still_serving_at(port, __FILE__, __LINE__)

/* Value of "field:" in an INFO reply, copied into out; false if absent. */
static inline bool it_info_field(const char *info, const char *field,
                                 char *out, size_t out_len)
{
    size_t flen = strlen(field);
    for (const char *p = info; p != NULL && *p != '\0';) {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            const char *v = p + flen + 1;
            size_t n = strcspn(v, "\r\n");
            if (n >= out_len)
                n = out_len - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

#endif
