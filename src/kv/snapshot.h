/*
 * snapshot.h: state-machine snapshots of the cache, for Raft (a leader sends
 * one to a slow follower; storage writes one to disk before compacting).
 *
 * Writer: kv_snapshot_begin() fixes the point in time (the caller passes the
 * applied index as tag); kv_snapshot_next() then produces the bytes in
 * bounded chunks across many event-loop turns while the kv keeps applying
 * writes in between.  The bytes always describe the state at begin: a write
 * to an entry not yet serialized first serializes its old value (copy before
 * write), and keys created after begin are skipped.  No fork, no pause.
 *
 * Loader: a streaming parser that builds a FRESH kv from chunks as they
 * arrive (InstallSnapshot) and validates every field; the live kv is only
 * touched by kv_snapshot_install() once the whole input, checksum included,
 * was accepted.  Errors: CAIRN_ECORRUPT (format, checksum, duplicates,
 * truncation), CAIRN_EVERSION, CAIRN_ETOOBIG (a length over this node's
 * limits), CAIRN_ENOMEM.
 *
 * Determinism: two replicas with the same state produce snapshots that load
 * to the same state (equal kv_digest), but not necessarily the same bytes:
 * records follow the table order, which depends on the hash seed and the
 * history of the tables.  Format and mechanism: docs/design/kv.md,
 * "Snapshots".
 */
#ifndef CAIRN_KV_SNAPSHOT_H
#define CAIRN_KV_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "kv/kv.h"

#define KV_SNAPSHOT_MAGIC "CAIRNSNP"
#define KV_SNAPSHOT_VERSION 1
#define KV_SNAPSHOT_HEADER_SIZE 32

struct kv_snap_writer;
struct kv_snap_loader;

/* Starts a snapshot of kv's current state; tag (e.g. the applied index) is
 * stored in the header and returned by the loader.  At most one snapshot per
 * kv runs at a time.  Returns 0, CAIRN_EBUSY (one is running) or
 * CAIRN_ENOMEM. */
int kv_snapshot_begin(struct kv *kv, uint64_t tag,
                      struct kv_snap_writer **out);

/* Appends at most bytes_max (> 0) more bytes of the snapshot to out and
 * does work proportional to that (plus a bounded number of empty buckets).
 * Returns 1 if more remains, 0 when the last byte was appended, or a
 * negative error (CAIRN_ENOMEM, out's CAIRN_EFULL, CAIRN_ESHUTDOWN if the kv
 * was freed, CAIRN_ESTALE if another snapshot was installed); after an error the snapshot is void and only
 * kv_snapshot_end() may be called. */
int kv_snapshot_next(struct kv_snap_writer *w, struct buf *out,
                     size_t bytes_max);

/* Bytes produced so far and keys in the snapshot (fixed at begin). */
uint64_t kv_snapshot_bytes(const struct kv_snap_writer *w);
uint64_t kv_snapshot_keys(const struct kv_snap_writer *w);

/* Frees the writer.  Ending an unfinished snapshot (abort) walks every entry
 * once to clear its mark: O(keys), a few ms per million keys. */
void kv_snapshot_end(struct kv_snap_writer *w);

/* A loader building a new kv with cfg (normally the live kv's config: the
 * hash seed must match for kv_snapshot_install).  now_ms initializes access
 * metadata only.  Returns 0 or CAIRN_ENOMEM. */
int kv_snapshot_loader_new(const struct kv_config *cfg, int64_t now_ms,
                           struct kv_snap_loader **out);

/* Feeds the next len bytes.  Returns 0 (more expected), 1 (the snapshot is
 * complete and its checksum matched) or a negative error, which stays: later
 * calls return it again.  Memory held grows with the bytes fed, never with
 * lengths the input merely declares. */
int kv_snapshot_loader_feed(struct kv_snap_loader *l, const void *data,
                            size_t len);

/* After feed returned 1: hands over the loaded kv (the caller frees or
 * installs it) and the header's tag.  CAIRN_ECORRUPT if the input ended
 * early, or the error feed reported. */
int kv_snapshot_loader_finish(struct kv_snap_loader *l, struct kv **out,
                              uint64_t *tag);
void kv_snapshot_loader_free(struct kv_snap_loader *l);

/* Replaces kv's contents by loaded's and frees loaded (and the old
 * contents: O(old keys)).  Both must share the hash seed; loaded must have
 * no snapshot running.  A snapshot running on kv is voided: its next call
 * returns CAIRN_ESTALE (a follower installing a leader's snapshot while
 * writing its own).  Configuration and statistics of kv stay. */
void kv_snapshot_install(struct kv *kv, struct kv *loaded);

/* One-shot: loads data into a fresh kv with kv's config and installs it.
 * On error kv is unchanged. */
int kv_snapshot_load(struct kv *kv, const void *data, size_t len,
                     int64_t now_ms, uint64_t *tag);

#endif
