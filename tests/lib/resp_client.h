/*
 * resp_client.h: a small blocking RESP client for integration tests.
 *
 * It talks to 127.0.0.1 only, waits with poll() and a timeout on every read
 * and write (a hung server fails a test instead of hanging it), and returns
 * each reply as its exact wire bytes: the canonical form two servers'
 * replies are compared in, byte for byte.  Replies are framed by a
 * non-recursive scanner that knows RESP2 and RESP3 types.  It is written
 * independently of src/resp so that it checks, not mirrors, the server.
 */
#ifndef CAIRN_TESTS_RESP_CLIENT_H
#define CAIRN_TESTS_RESP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct resp_client {
    int fd;
    int timeout_ms;   /* per wait; default 5000 */
    struct buf in;    /* received, not yet returned */
    struct buf reply; /* last reply of resp_client_call*, NUL-terminated */
    bool eof;         /* the server closed its side */
    size_t dropped;   /* bytes resp_client_wait_closed() threw away */
};

/* Connects to 127.0.0.1:port.  Returns 0 or a negative CAIRN_E* code. */
int resp_client_connect(struct resp_client *c, int port, int timeout_ms);
void resp_client_close(struct resp_client *c);

/* Writes all bytes (waiting up to the timeout when the socket is full).
 * Returns 0, CAIRN_ECLOSED (peer gone) or CAIRN_EAGAIN (timeout). */
int resp_client_send(struct resp_client *c, const void *data, size_t len);
/* Sends one command as a multibulk request; lens may be NULL (strlen). */
int resp_client_send_argv(struct resp_client *c, int argc,
                          const char *const *argv, const size_t *lens);
/* Half-closes: the server sees end of input, replies can still arrive. */
void resp_client_shutdown_write(struct resp_client *c);
/* Sends "a b c" split on spaces; "" is an empty argument and "..." groups
 * words (no escapes). */
int resp_client_send_line(struct resp_client *c, const char *line);

/* Reads one whole reply and appends its wire bytes to out.  Returns 0,
 * CAIRN_ECLOSED (closed before a whole reply), CAIRN_EAGAIN (timeout) or
 * CAIRN_EPROTO (not RESP). */
int resp_client_read(struct resp_client *c, struct buf *out);

/* Sends line and reads its reply; returns the reply bytes as a C string
 * (valid until the next call) or NULL on failure. */
const char *resp_client_call(struct resp_client *c, const char *line);

/* Waits up to timeout_ms for the server to close the connection.  What
 * arrives stays in c->in up to 1 MiB; beyond that it is thrown away and
 * counted in c->dropped (a test may drain a flood this way).  Returns 0 if
 * closed, CAIRN_EAGAIN if still open. */
int resp_client_wait_closed(struct resp_client *c, int timeout_ms);

/* Length of the first whole reply in p[0..len): > 0, 0 if incomplete, or
 * (size_t)-1 if the bytes are not RESP. */
size_t resp_client_reply_len(const char *p, size_t len);

/* A printable copy of bytes (CR, LF and non-printables escaped) in a static
 * buffer, for assertion messages. */
const char *resp_client_show(const char *p, size_t len);

#endif
