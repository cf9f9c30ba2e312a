/*
 * storage.h: durable state of one Raft group on one node, over io.h only.
 *
 * What is kept, per group, as flat files in one directory (no mkdir needed;
 * formats in docs/design/storage.md):
 *   <dir>/g<gid>-meta          two 512-byte slots, each a checksummed copy of
 *                              the hard state (term, vote, commit), the
 *                              current snapshot's id/index/term, the
 *                              configuration as of the snapshot and the first
 *                              live log segment; the valid slot with the
 *                              higher sequence number wins.
 *   <dir>/g<gid>-seg-<seq>     log segments: a header, then records (header
 *                              with two CRC-32Cs, then the entry bytes).
 *   <dir>/g<gid>-snap-<id>     snapshots: a header (index, term, conf, size,
 *                              data CRC), then the state machine's bytes.
 *
 * Usage, from the host that owns a struct raft:
 *
 *     storage_open(io, dir, gid, &cfg, ctx, open_cb, &s);
 *       open_cb(ctx, 0, &restore, snap_data, snap_len)  -> raft_create(...)
 *     after each raft_step() that asks for writes:
 *       storage_persist(s, &up, ctx, persist_cb)  (copies what it needs)
 *       persist_cb(ctx, 0, &p)  -> raft_step(RAFT_EV_PERSISTED with p)
 *     a locally taken snapshot:
 *       storage_snapshot_write(s, &meta, data, ctx, done_cb)
 *       done_cb(ctx, 0) -> raft_step(RAFT_EV_SNAPSHOT_TAKEN), whose update's
 *       compact_index then lets storage_persist drop old segments.
 *
 * Guarantees:
 *   - storage_persist() calls complete in the order they were made, each
 *     only once everything it asked for is durable (fsynced), so the
 *     completion may be reported to Raft as RAFT_EV_PERSISTED.  All calls
 *     made while a group commit is in flight share the next one (one fsync
 *     per touched file for the whole batch; see storage_stats.fsyncs).
 *   - storage_open() yields exactly what was durable: every persist whose
 *     completion was reported is there; an unreported one may be there in
 *     part (a prefix of its entries).  A torn last record of the last
 *     segment (a crash during an append) is dropped with a LOG_WARNING.  Any
 *     other damage (checksum mismatch, a gap in the indexes, a missing or
 *     truncated file) fails with CAIRN_ECORRUPT and storage_error() names
 *     the file and the byte offset.
 *   - After any I/O error (a failed write or fsync) the storage is failed
 *     for good: the failing call and every later one report the error.  The
 *     on-disk state is then unknown (a failed fsync may have dropped dirty
 *     pages), so the node must stop (crash) and recover by restarting.
 *
 * Callbacks never fire from inside the call that registered them.  One
 * struct storage per (directory, group); not thread-safe (one event loop).
 */
#ifndef CAIRN_NODE_STORAGE_H
#define CAIRN_NODE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "raft/raft.h"

struct storage;

/* --- limits (each bounds a file, a queue or a loop) --- */

/* Longest "<dir>/g<gid>-seg-<seq>" path; a longer dir: CAIRN_EINVAL. */
#define STORAGE_PATH_MAX 1024u
/* Default size at which the open segment is closed and a new one begun. */
#define STORAGE_SEGMENT_SIZE_DEFAULT (64ull * 1024 * 1024)
/* Largest segment file accepted at open (the size limit plus one batch of
 * entries of up to CAIRN_RAFT_ENTRY_SIZE_MAX); bigger: CAIRN_ECORRUPT. */
#define STORAGE_SEGMENT_FILE_MAX (4ull * 1024 * 1024 * 1024)
/* Live segments of one group; more at open: CAIRN_ECORRUPT; at runtime a
 * roll past it fails the persist with CAIRN_EFULL (compact more often). */
#define STORAGE_SEGMENTS_MAX 65536u
/* Default bytes per io write of a snapshot (and per read at open), so one
 * write never holds a huge buffer in the io layer. */
#define STORAGE_SNAPSHOT_CHUNK_DEFAULT (1024u * 1024)
/* Largest snapshot accepted (received in chunks or read at open). */
#define STORAGE_SNAPSHOT_SIZE_MAX (16ull * 1024 * 1024 * 1024)
/* Persist calls queued (running batch plus waiting); over it storage_persist
 * returns CAIRN_EFULL, which the host treats like an I/O error. */
#define STORAGE_PERSIST_QUEUE_MAX 65536u

struct storage_config {
    uint64_t segment_size_max;    /* roll the open segment past this */
    uint32_t snapshot_chunk_size; /* bytes per snapshot write or read */
};

void storage_config_default(struct storage_config *cfg);

struct storage_stats {
    uint64_t persist_calls;   /* storage_persist calls accepted */
    uint64_t batches;         /* group commits run */
    uint64_t fsyncs;          /* fsync calls issued, all files */
    uint64_t meta_writes;     /* meta slot writes */
    uint64_t entries_written;
    uint64_t bytes_written;   /* all files */
    uint64_t segments_created;
    uint64_t segments_deleted;
    uint64_t snapshots_written; /* local writes plus installs */
    uint64_t torn_tails;      /* torn tails dropped at open */
};

/* ---- open ---- */

/* status 0: rs describes the durable state.  rs and its entries stay valid
 * until storage_restore_release() or storage_close() (raft_create copies
 * what it needs); snapshot_data is storage_snapshot_bytes() at that moment
 * (see there for how long it lives).  A brand-new group gives term 0, no
 * entries and snapshot.last_index 0 with the configuration given to
 * storage_bootstrap() (empty if never bootstrapped): the host then fills in
 * the founding voters and calls storage_bootstrap() so later restarts see
 * them.  status < 0: rs and the data are NULL; storage_error() says why
 * (file and byte offset for CAIRN_ECORRUPT, also logged as a warning).  The
 * storage must then be closed; the daemon should refuse to start. */
typedef void (*storage_open_cb)(void *ctx, int status,
                                const struct raft_restore *rs,
                                const void *snapshot_data,
                                size_t snapshot_len);

/* Starts loading group_id's files under dir (which must exist).  Returns 0
 * and *out (not usable for writes until open_cb reported 0), or
 * CAIRN_EINVAL (path too long, bad cfg), CAIRN_ENOMEM.  cfg may be NULL for
 * the defaults.  dir and cfg are copied. */
int storage_open(struct io *io, const char *dir, uint64_t group_id,
                 const struct storage_config *cfg, void *ctx,
                 storage_open_cb cb, struct storage **out);

/* Frees what the open callback's rs pointed to (the entries). */
void storage_restore_release(struct storage *s);

/* Human-readable reason of the last failure ("" if none); valid until the
 * next call on s. */
const char *storage_error(const struct storage *s);

/* ---- writes ---- */

/* What a completed persist made durable: feed it to RAFT_EV_PERSISTED.
 * hard_state's term and vote are on disk; commit_index is the last one
 * written (it is advisory and written only along with other metadata).
 * last_index/last_term: the durable log end (after a snapshot install
 * with no entries after it: the snapshot's index and term). */
struct storage_persisted {
    struct raft_hard_state hard_state;
    uint64_t last_index;
    uint64_t last_term;
};

/* p is NULL when status < 0 (the storage failed: stop the node). */
typedef void (*storage_persist_cb)(void *ctx, int status,
                                   const struct storage_persisted *p);
typedef void (*storage_done_cb)(void *ctx, int status);

/* Queues the durable writes of one update, in raft.h's order: received
 * snapshot chunk (kept in memory), snapshot install, truncation from
 * truncate_from, entries, hard state, then compaction up to compact_index
 * (never past the durable snapshot).  Copies everything it needs from up
 * before returning.  cb(ctx, 0, p) fires once all of it is durable, after
 * every earlier persist's callback.  An update with nothing to write still
 * completes in order.  Returns 0, or CAIRN_EIO / the sticky error of a
 * failed storage, CAIRN_ENOMEM, CAIRN_EFULL (queue limit), CAIRN_EINVAL (a
 * snapshot chunk with a gap, an install whose size differs from the bytes
 * received); on error nothing was queued and cb never fires. */
int storage_persist(struct storage *s, const struct raft_update *up,
                    void *ctx, storage_persist_cb cb);

/* After storage_persist() queued an install, and until the next install,
 * storage_snapshot_write() or storage_snapshot_bytes_drop(): the bytes of
 * the snapshot that storage holds (the received one, or the one loaded at
 * open), so the host can load its state machine.  NULL if none held. */
const void *storage_snapshot_bytes(const struct storage *s, size_t *len);
void storage_snapshot_bytes_drop(struct storage *s);

/* Writes a locally taken snapshot: a new file (header, then data in chunks
 * of cfg.snapshot_chunk_size), fsynced, then made current by a meta write
 * queued behind earlier persists; the previous snapshot file is deleted
 * afterwards.  meta and data (meta->size bytes) are borrowed until cb.
 * cb(ctx, 0) once current; CAIRN_ESTALE if a newer snapshot became current
 * meanwhile (the file is dropped).  Returns 0, CAIRN_EBUSY (one snapshot
 * write at a time), CAIRN_EINVAL (index beyond the log, or not newer than
 * the current snapshot), CAIRN_ENOMEM, or a failed storage's error. */
int storage_snapshot_write(struct storage *s,
                           const struct raft_snapshot_meta *meta,
                           const void *data, void *ctx, storage_done_cb cb);

/* Records the founding configuration of a brand-new group (snapshot index
 * 0), so later restarts restore it.  Ordered with persists.  Returns 0 or
 * CAIRN_EINVAL (a snapshot exists already), CAIRN_ENOMEM, failed error. */
int storage_bootstrap(struct storage *s, const struct raft_conf *conf,
                      void *ctx, storage_done_cb cb);

/* Records that this node, restarted without state, was re-admitted by the
 * leader as a learner at index (0: it is a voter again, the mark is
 * cleared), in the meta file, ordered with persists; cb once durable.  A
 * restart with a mark must not take the configurations in its files for
 * its own until it applies one made after index: those up to index can
 * list the lost incarnation as a voter.  Returns 0, CAIRN_ENOMEM or the
 * failed error. */
int storage_rejoin_set(struct storage *s, uint64_t index, void *ctx,
                       storage_done_cb cb);
/* The durable rejoin mark after a successful open (0: none). */
uint64_t storage_rejoin_index(const struct storage *s);

/* ---- lifetime and introspection ---- */

/* Stops: no callback fires afterwards (it may be called from inside one of
 * our callbacks).  Pending writes may or may not reach the disk (as in a
 * crash).  Memory is released once the io has no operation of ours left
 * that could call back; until then a snapshot passed to
 * storage_snapshot_write() must stay valid (io_uv writes from it).  Use
 * storage_abandon() when the io itself died (a simulated crash) and will
 * never call back. */
void storage_close(struct storage *s);
void storage_abandon(struct storage *s);

void storage_stats_get(const struct storage *s, struct storage_stats *out);

/* Logical state (what the queued persists will make durable). */
uint64_t storage_last_index(const struct storage *s);
uint64_t storage_snapshot_index(const struct storage *s);

#endif
