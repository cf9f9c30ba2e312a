/*
 * sim_io.h: struct io for one simulated node, over the world's event loop,
 * the network model and the node's disk model.
 *
 * Clock: the node's monotonic clock starts at mono_base_us and runs at
 * (1 + drift_ppm / 1e6) times world time, so nodes disagree within the drift
 * bound the runner draws from.  wall_ms is wall_epoch_ms plus world time
 * scaled the same way, plus any step injected with sim_io_wall_step() (the
 * wall clock may jump; the monotonic one never goes back).  A node paused
 * with sim_io_pause() runs no callback until the pause ends; its clocks keep
 * running, as CLOCK_MONOTONIC does across SIGSTOP.
 *
 * Callbacks fire only from world events, never inside the call that asked
 * for them.  Disk operations complete in submission order (per node), after
 * the disk model's latency; their effect happens at completion.  Writes copy
 * their data at submission; reads fill the caller's buffer at completion.
 * Closing a file with operations pending lets them complete without
 * callbacks.
 *
 * Crash (sim_io_crash): every handle of the node dies without callbacks:
 * timers never fire, pending disk operations never happen (and the disk
 * loses what it was not made to keep, see disk.h), listeners vanish, the
 * node's connections go silent and break for their peers after the
 * network's stall_break_us.  The handles' memory stays valid, and closing or
 * freeing them stays legal, until sim_io_free(), so the node's own teardown
 * may run after a crash.  A restart is a fresh sim_io on the same host and
 * disk.  Operations on a crashed sim_io that would need a callback fail with
 * CAIRN_ESHUTDOWN.
 *
 * Allocations a node asks for (timer_new, file_open, a read or write) use
 * cairn_malloc, so an allocation fault hook can make them fail with
 * CAIRN_ENOMEM; the simulator's own state uses sim_xmalloc.
 */
#ifndef CAIRN_SIM_SIM_IO_H
#define CAIRN_SIM_SIM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"
#include "io/io.h"
#include "net.h"
#include "world.h"

struct sim_io_config {
    unsigned host;         /* this node's host id in the network */
    int32_t drift_ppm;     /* clock rate error; |drift_ppm| < 1000000 */
    uint64_t mono_base_us; /* monotonic clock reading at creation */
    int64_t wall_epoch_ms; /* wall clock at world time 0 (Unix ms) */
};

struct sim_io;

/* disk may be NULL (a client host): file operations then fail with
 * CAIRN_EIO.  Marks the host up in net.  Crashes on allocation failure. */
struct sim_io *sim_io_new(struct sim_world *w, struct sim_net *net,
                          struct sim_disk *disk,
                          const struct sim_io_config *cfg);
struct io *sim_io_io(struct sim_io *s);
/* The sim_io behind an io made by sim_io_new(). */
struct sim_io *sim_io_from_io(struct io *io);

void sim_io_crash(struct sim_io *s);
bool sim_io_alive(const struct sim_io *s);
/* Releases the sim_io and every handle still open on it (no callbacks). */
void sim_io_free(struct sim_io *s);

void sim_io_pause(struct sim_io *s, uint64_t duration_us);
void sim_io_wall_step(struct sim_io *s, int64_t delta_ms);
/* The node's monotonic clock in microseconds (what io_now_us returns). */
uint64_t sim_io_clock_us(const struct sim_io *s);

/* Handles open (timers, listeners, conns, files): for leak checks. */
size_t sim_io_handles_open(const struct sim_io *s);
/* Port of a listener (after listening on port 0). */
uint16_t sim_io_listener_port(const struct io_listener *l);

#endif
