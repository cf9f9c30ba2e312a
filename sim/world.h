/*
 * world.h: the simulated world: one clock, one event queue, one random
 * generator, one trace.
 *
 * Everything that happens in a simulation is an event on this world's queue,
 * fired in order of (time, sequence number).  The sequence number is taken
 * when an event is scheduled, so events at the same microsecond fire in the
 * order they were scheduled: never by pointer value, never by hash seed.  A
 * run is therefore a pure function of its seed and configuration, and the
 * trace hash (chained over every fired event's kind, time, node and the bytes
 * it delivered) proves it: two runs of one seed must end with the same hash.
 *
 * Events are intrusive: an owner embeds a struct sim_event and gets it back
 * with container_of in the fire function, so scheduling allocates nothing
 * (the heap array grows by doubling, amortised).  An event is in the queue at
 * most once; sim_world_schedule() on a queued event moves it (and gives it a
 * new sequence number), sim_world_cancel() removes it.
 *
 * A node may be paused (a stop-the-world GC, SIGSTOP, a stalled VM): events
 * addressed to it that come due during the pause are moved, in their order,
 * to the end of the pause.
 *
 * Allocation: the simulator's own structures use sim_xmalloc() and friends,
 * which crash on failure and mark themselves so that an allocation fault hook
 * installed for the node can let them through (sim_alloc_internal()).
 */
#ifndef CAIRN_SIM_WORLD_H
#define CAIRN_SIM_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

#define SIM_NODE_NONE 0xffffu

#define sim_container_of(ptr, type, member)                                   \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* What an event is, for the trace.  Models pick the kind when they schedule. */
enum sim_event_kind {
    SIM_EV_NONE = 0,
    SIM_EV_TIMER,        /* a node's timer fired */
    SIM_EV_NET_SYN,      /* a connection attempt reached its target host */
    SIM_EV_NET_CONNECT,  /* a connect completed (ok or error) at the caller */
    SIM_EV_NET_DATA,     /* a segment of a stream arrived */
    SIM_EV_NET_FLUSH,    /* buffered bytes handed to a reader that resumed */
    SIM_EV_NET_BREAK,    /* a connection broke (reset, timeout) */
    SIM_EV_DISK,         /* a disk operation completed */
    SIM_EV_FAULT,        /* a scheduled fault (partition, crash, ...) */
    SIM_EV_USER,         /* anything a runner or workload schedules */
    SIM_EV_KIND_COUNT
};

const char *sim_event_kind_name(unsigned kind);

struct sim_event;
typedef void (*sim_event_fn)(struct sim_event *ev);

struct sim_event {
    uint64_t at_us;       /* when it fires (valid while queued) */
    uint64_t seq;         /* tie-breaker, from the world's counter */
    uint32_t heap_index;  /* position in the heap, or SIM_EVENT_IDLE */
    uint16_t kind;        /* enum sim_event_kind */
    uint16_t node;        /* node it is addressed to, or SIM_NODE_NONE */
    sim_event_fn fire;
};
#define SIM_EVENT_IDLE UINT32_MAX

/* One line of the trace: what fired, when, where, and a digest of the bytes
 * it delivered. */
struct sim_trace_entry {
    uint64_t at_us;
    uint64_t seq;
    uint64_t arg;        /* model-specific detail (conn id, op, ...) */
    uint64_t bytes_hash; /* chained hash of the bytes delivered, 0 if none */
    uint32_t bytes_len;  /* bytes delivered during the event */
    uint16_t kind;
    uint16_t node;
};

/* Called for every fired event (the full-trace writer in report.c). */
typedef void (*sim_trace_sink_fn)(void *ctx, const struct sim_trace_entry *e);

struct sim_world;

/* Creates a world at time 0 seeded with seed.  ring_len entries of trace are
 * kept (0: SIM_TRACE_RING_DEFAULT).  Crashes on allocation failure. */
struct sim_world *sim_world_new(uint64_t seed, uint32_t ring_len);
/* Frees the world.  Every event must have been cancelled or fired, i.e. the
 * models built on it freed first. */
void sim_world_free(struct sim_world *w);

uint64_t sim_world_now_us(const struct sim_world *w);
uint64_t sim_world_seed(const struct sim_world *w);
/* The one generator every model and fault schedule draws from. */
struct cairn_rng *sim_world_rng(struct sim_world *w);

/* Initialises an idle event. */
void sim_event_init(struct sim_event *ev, unsigned kind, unsigned node,
                    sim_event_fn fire);
static inline bool sim_event_queued(const struct sim_event *ev)
{
    return ev->heap_index != SIM_EVENT_IDLE;
}

/* Queues ev to fire at at_us (>= now).  A queued event is moved. */
void sim_world_schedule(struct sim_world *w, struct sim_event *ev,
                        uint64_t at_us);
/* Same, after delay_us from now. */
void sim_world_schedule_in(struct sim_world *w, struct sim_event *ev,
                           uint64_t delay_us);
/* Removes ev if queued; no-op otherwise. */
void sim_world_cancel(struct sim_world *w, struct sim_event *ev);

size_t sim_world_pending(const struct sim_world *w);
/* Time of the next event, or UINT64_MAX when the queue is empty. */
uint64_t sim_world_next_us(const struct sim_world *w);

/* Fires the next event (advancing time to it).  Returns false when the queue
 * is empty. */
bool sim_world_step(struct sim_world *w);
/* Calls fn(ctx, node of the event) after every fired event (a pause's
 * postponement is not a firing), outside the firing: it may read any
 * node's state but must not schedule into the past.  NULL clears it. */
typedef void (*sim_after_event_fn)(void *ctx, unsigned node);
void sim_world_after_event(struct sim_world *w, sim_after_event_fn fn,
                           void *ctx);
/* Makes sim_world_run_until return after the event firing now (or the next
 * one), for good: a run that found a violation stops where it was. */
void sim_world_stop(struct sim_world *w);
/* Fires every event due at or before until_us, then sets the time to
 * until_us.  Stops early, returning CAIRN_EBUSY, after max_events events (a
 * livelock guard; 0 means no limit).  Returns 0 otherwise. */
int sim_world_run_until(struct sim_world *w, uint64_t until_us,
                        uint64_t max_events);
uint64_t sim_world_events_fired(const struct sim_world *w);
/* Whole-heap check (O(n)): heap order and back-pointers. */
bool sim_world_check(const struct sim_world *w);

/* Pauses a node until until_us: its events wait for the end of the pause. */
void sim_world_node_pause(struct sim_world *w, unsigned node,
                          uint64_t until_us);
uint64_t sim_world_node_paused_until(const struct sim_world *w,
                                     unsigned node);

/* --- trace --- */

/* Mixes bytes delivered by the event now firing into its trace entry. */
void sim_world_trace_bytes(struct sim_world *w, const void *data, size_t len);
/* Sets the model-specific detail of the event now firing. */
void sim_world_trace_arg(struct sim_world *w, uint64_t arg);
/* Records a step that is not an event (a fault the runner applied, say) as
 * its own trace entry. */
void sim_world_trace_note(struct sim_world *w, unsigned kind, unsigned node,
                          uint64_t arg);
uint64_t sim_world_trace_hash(const struct sim_world *w);
/* Entries in the ring, oldest first: index 0 .. count-1.  Returns false when
 * index is out of range. */
size_t sim_world_trace_count(const struct sim_world *w);
bool sim_world_trace_get(const struct sim_world *w, size_t index,
                         struct sim_trace_entry *out);
void sim_world_trace_set_sink(struct sim_world *w, sim_trace_sink_fn sink,
                              void *ctx);

/* The world whose event fired last (NULL before any), and the node the
 * event now firing is addressed to (SIM_NODE_NONE if none or not firing):
 * for tagging the nodes' log lines, never for the models. */
struct sim_world *sim_world_active(void);
unsigned sim_world_firing_node(const struct sim_world *w);

/* --- the simulator's own allocations --- */

void *sim_xmalloc(size_t size);
void *sim_xcalloc(size_t count, size_t size);
void *sim_xrealloc(void *ptr, size_t size);
/* True while the simulator allocates for itself: a fault hook installed for
 * the node must return false then. */
bool sim_alloc_internal(void);

/* A growable byte vector for the simulator's own data (disk contents, bytes
 * in flight).  Grows with sim_xrealloc, so it never fails. */
struct sim_bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
};
void sim_bytes_reserve(struct sim_bytes *b, size_t cap);
void sim_bytes_append(struct sim_bytes *b, const void *data, size_t len);
/* Writes data at offset, zero-filling any gap past the current end. */
void sim_bytes_write_at(struct sim_bytes *b, size_t offset, const void *data,
                        size_t len);
void sim_bytes_resize(struct sim_bytes *b, size_t len);
void sim_bytes_consume(struct sim_bytes *b, size_t n);
void sim_bytes_copy(struct sim_bytes *dst, const struct sim_bytes *src);
void sim_bytes_free(struct sim_bytes *b);

#endif
