/*
 * io_uv.h: the libuv binding of io.h, used by the daemon (and by its tests).
 *
 * One struct io_uv drives one uv_loop_t that the caller owns and runs.  It is
 * the only place in cairn, with src/server/, that includes <uv.h>.
 *
 * Lifetime: io_uv_init() on a live loop; the caller closes every handle it
 * opened (timers, listeners, conns, files), then calls io_uv_close() and runs
 * the loop until it has no more active handles, then io_uv_free().  The
 * handles' memory is released from libuv close callbacks, which is why the
 * loop must run after the last close.
 */
#ifndef CAIRN_IO_IO_UV_H
#define CAIRN_IO_IO_UV_H

#include <stdint.h>

#include <uv.h>

#include "io/io.h"

struct io_uv;

/*
 * Creates the binding on loop.  seed is what io_random_seed() returns; 0
 * draws one from the OS (uv_random).  Returns 0 or CAIRN_ENOMEM.
 */
int io_uv_init(struct io_uv **out, uv_loop_t *loop, uint64_t seed);

/* The struct io to hand to logic. */
struct io *io_uv_io(struct io_uv *u);

/* Releases the binding.  Every handle must have been closed and the loop run
 * until their close callbacks fired. */
void io_uv_free(struct io_uv *u);

/* The port a listener is bound to (useful after listening on port 0), or 0
 * when it cannot be read. */
uint16_t io_uv_listener_port(struct io_listener *l);

/* Handles (timers, listeners, conns, files) still open; for leak checks in
 * tests and at shutdown. */
size_t io_uv_handles_open(const struct io_uv *u);

#endif
