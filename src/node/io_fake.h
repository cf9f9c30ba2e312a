/*
 * io_fake.h: an in-memory struct io for unit tests and fuzzers.
 *
 * It never touches the OS.  Time is a counter the test advances; timers fire
 * from io_fake_advance() in deadline order.  Connections are created by the
 * test ("a client connects"), fed bytes ("the client sends"), and record
 * every byte the node writes ("the client receives").  A connection can be
 * stalled, so its output stays pending as if the client did not read, to
 * exercise backpressure and output limits.  Files and outgoing connects are
 * not modelled (they fail with CAIRN_EIO / CAIRN_EADDR).
 *
 * Callbacks are delivered only from io_fake_* driver calls, never from inside
 * an io_* call made by the code under test, as io.h requires.
 */
#ifndef CAIRN_NODE_IO_FAKE_H
#define CAIRN_NODE_IO_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

struct io_fake;
struct io_fake_conn;

/* wall_start_ms: the Unix time at fake time zero.  NULL on no memory. */
struct io_fake *io_fake_new(uint64_t seed, int64_t wall_start_ms);
/* Frees the fake and every conn it made.  Timers and listeners must have
 * been freed/closed by their owners. */
void io_fake_free(struct io_fake *f);
struct io *io_fake_io(struct io_fake *f);

/* Moves the clock forward by ms, firing due timers in deadline order (each
 * at its own deadline).  Also delivers pending reads/drains (io_fake_poll). */
void io_fake_advance(struct io_fake *f, uint64_t ms);
/* Adds CPU time: the microsecond clock moves, timers do not fire. */
void io_fake_spend_us(struct io_fake *f, uint64_t us);

/* A client connects to the first listener: the accept callback runs now.
 * Returns the conn (owned by the fake) or NULL if no listener / no memory. */
struct io_fake_conn *io_fake_connect(struct io_fake *f, const char *peer);

/* The client sends bytes; they are delivered in reads of at most the conn's
 * read size (default 64 KiB) when the conn is reading.  Calls io_fake_poll.
 * Returns 0, CAIRN_ECLOSED (the node closed it) or CAIRN_ENOMEM. */
int io_fake_send(struct io_fake_conn *c, const void *data, size_t len);
int io_fake_send_str(struct io_fake_conn *c, const char *s);
void io_fake_set_read_size(struct io_fake_conn *c, size_t n);
/* The client closes its end: eof_cb(CAIRN_ECLOSED) is delivered. */
void io_fake_hangup(struct io_fake_conn *c);

/* Delivers what is pending for every conn: reads, drains, eofs.  Bounded by
 * the bytes pending. */
void io_fake_poll(struct io_fake *f);

/* Bytes the node wrote and the client "received", as a NUL-terminated
 * string (binary safe via *len).  The returned pointer is valid until the
 * next call that writes to or clears the conn. */
const char *io_fake_output(struct io_fake_conn *c, size_t *len);
void io_fake_output_clear(struct io_fake_conn *c);

/* A stalled client reads nothing: writes stay pending. */
void io_fake_stall(struct io_fake_conn *c, bool stalled);

/* io_conn_write calls made on the conn so far. */
size_t io_fake_writes(const struct io_fake_conn *c);

/* True once the node closed the conn. */
bool io_fake_closed(const struct io_fake_conn *c);
/* True while the node has reading paused. */
bool io_fake_paused(const struct io_fake_conn *c);

#endif
