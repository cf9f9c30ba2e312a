/*
 * net.h: the simulated network: hosts, links and TCP-like connections.
 *
 * Hosts are numbered 0..host_count-1; host h has the address "10.0.0.<h+1>"
 * (and calls itself "127.0.0.1"/"localhost" too).  Every ordered pair of hosts
 * is a link with its own latency distribution and faults.
 *
 * Streams, not datagrams.  A connection is two ordered byte streams.  Bytes
 * written are cut into segments (randomly smaller ones when splitting is on,
 * which exercises the readers' incremental parsing); each segment gets an
 * arrival time of max(now + latency sample, previous segment's arrival), so a
 * stream never reorders.  The faults a stream can show are the ones TCP shows
 * to an application:
 *   - delay (latency tail) and stalls (a blocked or clogged link holds the
 *     head of the stream; everything behind it waits);
 *   - breaks: "loss" on a stream is the connection resetting (both ends get
 *     eof with CAIRN_EIO and unread bytes are discarded), drawn per segment
 *     with probability break_ppm, and a stream stalled for stall_break_us
 *     also breaks, as TCP's retransmission timeout would;
 *   - a peer host that crashed: its connections break for the survivors after
 *     stall_break_us (keepalive), without the crashed side hearing anything.
 * There is no datagram API in io.h, so there is no message duplication or
 * reordering inside a stream; reordering across connections comes from
 * their independent latencies, duplication from clients retrying after a
 * break (the workload's job).
 *
 * Partitions block links (one way or both).  A blocked link refuses new
 * connections (the SYN is retried until connect_timeout_us, then the connect
 * fails with CAIRN_EIO) and stalls existing streams; a partition applied with
 * reset=true also breaks the connections crossing it at once.
 *
 * Callbacks reach the endpoints only from world events, never from inside the
 * call that caused them.  Invariants (ASSERTed where named):
 *   - per direction, segment arrival times never decrease (dir_push);
 *   - bytes in flight per direction <= SIM_NET_WINDOW_BYTES (pump);
 *   - eof is delivered at most once and after every byte before it (flush);
 *   - no callback for an endpoint after io_conn_close() or a crash of its
 *     host (ep_callable).
 */
#ifndef CAIRN_SIM_NET_H
#define CAIRN_SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "world.h"

enum sim_latency_tail {
    SIM_TAIL_NONE = 0,
    SIM_TAIL_UNIFORM, /* extra uniform in [0, tail_us] */
    SIM_TAIL_EXP,     /* extra exponential with mean tail_us (capped 20x) */
};

struct sim_link_config {
    uint64_t latency_min_us;
    uint64_t latency_tail_us;
    enum sim_latency_tail tail;
    uint32_t break_ppm; /* per segment: chance the connection resets */
};

struct sim_net_config {
    struct sim_link_config link; /* every link starts with this */
    uint64_t stall_break_us;     /* a stream stalled this long breaks */
    uint64_t retry_us;           /* a stalled head or SYN is retried this often */
    uint64_t connect_timeout_us; /* a SYN unanswered this long fails */
    uint32_t split_ppm;          /* chance a segment is cut shorter */
};

void sim_net_config_default(struct sim_net_config *cfg);

struct sim_net_stats {
    uint64_t conns_opened;
    uint64_t conns_broken;
    uint64_t connects_refused;
    uint64_t connects_timed_out;
    uint64_t segments_delivered;
    uint64_t bytes_delivered;
};

struct sim_net;

/* Returns NULL with host_count out of 1..SIM_HOSTS_MAX. */
struct sim_net *sim_net_new(struct sim_world *w, unsigned host_count,
                            const struct sim_net_config *cfg);
/* Frees the net and every connection and listener left. */
void sim_net_free(struct sim_net *n);

unsigned sim_net_host_count(const struct sim_net *n);
/* Writes "10.0.0.<host+1>" into out. */
void sim_net_host_addr(unsigned host, char *out, size_t out_len);
/* The host that answers to addr as seen from host from, or -1. */
int sim_net_host_lookup(const struct sim_net *n, unsigned from,
                        const char *addr);
void sim_net_stats_get(const struct sim_net *n, struct sim_net_stats *out);
/* Connections not yet freed (both ends closed). */
size_t sim_net_conns_live(const struct sim_net *n);

/* ---- faults ---- */

void sim_net_link_set(struct sim_net *n, unsigned from, unsigned to,
                      const struct sim_link_config *cfg);
/* Blocks or unblocks one direction. */
void sim_net_block(struct sim_net *n, unsigned from, unsigned to, bool blocked);
/* Splits hosts into groups (group[h], host_count entries): links between
 * different groups are blocked both ways, links inside a group unblocked.
 * reset: also break the connections that cross the cut now. */
void sim_net_partition(struct sim_net *n, const uint8_t *group, bool reset);
/* Cuts host off from every other host (both ways). */
void sim_net_isolate(struct sim_net *n, unsigned host, bool reset);
/* Unblocks and unclogs every link. */
void sim_net_heal(struct sim_net *n);
/* The link from -> to delivers nothing until until_us, then resumes. */
void sim_net_clog(struct sim_net *n, unsigned from, unsigned to,
                  uint64_t until_us);
/* True when from -> to delivers now (not blocked, not clogged). */
bool sim_net_link_open(const struct sim_net *n, unsigned from, unsigned to);
/* Breaks every connection between a and b now (either direction). */
void sim_net_reset_between(struct sim_net *n, unsigned a, unsigned b);

/* ---- used by sim_io (one host's view) ---- */

/* Listens on (host, port) for io; addr must name host ("0.0.0.0" too). */
int sim_net_listen(struct sim_net *n, struct io *io, unsigned host,
                   const char *addr, uint16_t port, void *ctx,
                   io_accept_cb cb, struct io_listener **out);
uint16_t sim_net_listener_port(const struct io_listener *l);
void sim_net_listener_close(struct io_listener *l);
int sim_net_connect(struct sim_net *n, struct io *io, unsigned host,
                    const char *addr, uint16_t port, void *ctx,
                    io_connect_cb cb);
void sim_net_conn_start(struct io_conn *c, void *ctx,
                        const struct io_conn_handlers *h);
void sim_net_conn_read_pause(struct io_conn *c);
void sim_net_conn_read_resume(struct io_conn *c);
int sim_net_conn_write(struct io_conn *c, const void *data, size_t len);
size_t sim_net_conn_write_pending(struct io_conn *c);
int sim_net_conn_peer_name(struct io_conn *c, char *out, size_t out_len);
int sim_net_conn_local_name(struct io_conn *c, char *out, size_t out_len);
void sim_net_conn_close(struct io_conn *c);

/* Host power: a crashed host's listeners, connections and pending connects
 * die for io without callbacks (their memory stays until closed or
 * sim_net_io_release()); its peers' connections break after stall_break_us.
 * sim_net_host_up() marks it up again (a restart). */
void sim_net_host_crash(struct sim_net *n, unsigned host);
void sim_net_host_up(struct sim_net *n, unsigned host);
bool sim_net_host_is_up(const struct sim_net *n, unsigned host);
/* Releases every listener and connection end still held for io (after a
 * crash, or at teardown), without callbacks. */
void sim_net_io_release(struct sim_net *n, struct io *io);
/* Listeners and connection ends io has open (leak checks). */
size_t sim_net_io_handles(const struct sim_net *n, const struct io *io);

#endif
