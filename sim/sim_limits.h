/*
 * sim_limits.h: the named maxima of the simulator, each with why it is what
 * it is and what happens when it is reached.  They bound the simulator's own
 * structures; the node's limits live in src/core/limits.h.
 */
#ifndef CAIRN_SIM_SIM_LIMITS_H
#define CAIRN_SIM_SIM_LIMITS_H

/* Hosts in one world (nodes plus client hosts).  A host id is a uint16_t and
 * per-pair link state is a dense matrix, so keep it small.  Over it:
 * sim_net_new() refuses with CAIRN_EINVAL. */
#define SIM_HOSTS_MAX 32

/* Events pending in the world's queue at once.  A run that schedules more is
 * treated as a runaway model bug: the schedule call asserts. */
#define SIM_EVENTS_MAX (1u << 22)

/* Entries kept in the trace ring for failure reports (the last N events). */
#define SIM_TRACE_RING_DEFAULT 4096
#define SIM_TRACE_RING_MAX (1u << 20)

/* Largest segment the network carries in one delivery; writes are cut into
 * segments of at most this size (and smaller ones when splitting is on). */
#define SIM_NET_SEGMENT_MAX (64u * 1024)

/* Bytes one direction of a connection keeps in flight, like a socket's send
 * buffer plus the receiver's window.  Past it, writes wait in the sender's
 * pending queue (io_conn_write_pending() > 0), which is the backpressure
 * the node sees. */
#define SIM_NET_WINDOW_BYTES (256u * 1024)

/* Bytes one endpoint may hold queued for sending beyond the window before
 * io_conn_write() fails with CAIRN_EFULL (a peer that never reads). */
#define SIM_NET_PENDING_MAX (64u * 1024 * 1024)

/* Listeners per host. Over it: io_listen() returns CAIRN_EFULL. */
#define SIM_NET_LISTENERS_MAX 16

/* Files (inodes) one simulated disk holds.  Over it: open with CREATE
 * completes with CAIRN_EFULL, as a full inode table would. */
#define SIM_DISK_FILES_MAX 256

/* Longest file name the disk accepts; longer: CAIRN_EINVAL. */
#define SIM_DISK_NAME_MAX 255

/* Unsynced operations remembered per file for crash replay.  Past it, the
 * file's oldest unsynced write is made durable early (as a disk's writeback
 * would), so memory stays bounded. */
#define SIM_DISK_UNSYNCED_OPS_MAX 4096

/* The crash model tears writes at this granularity. */
#define SIM_DISK_SECTOR_SIZE 512

/* --- linearizability checker --- */

/* Operations in one checked history; more: CAIRN_ETOOBIG. */
#define LIN_OPS_MAX 100000

/* Longest value (and key) the checker models; longer: CAIRN_ETOOBIG. */
#define LIN_VALUE_LEN_MAX 4096

/* Distinct states interned per key and memo entries per search are bounded
 * by the step budget the caller passes; this caps that budget. */
#define LIN_STEP_BUDGET_MAX 100000000ull

#endif
