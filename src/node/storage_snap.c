/*
 * storage_snap.c: snapshots taken by the local state machine, the
 * founding configuration and the rejoin mark.
 *
 * A local snapshot is written on its own chain of io operations, beside
 * the persist batches: create snap-<id>, data in chunks of
 * cfg.snapshot_chunk_size (one write in flight, the CRC computed chunk by
 * chunk so a large snapshot never stalls the loop), then the header with
 * that CRC, fsync, close.  Only then is
 * its meta switch queued as a job behind the persists already queued, so
 * it completes in order with them and the meta slot naming the file is
 * written only after the file is durable.  If an installed snapshot became
 * current meanwhile, the job reports CAIRN_ESTALE and the file is dropped.
 *
 * Invariants: one local snapshot write at a time (snapw.active); the meta
 * never names a snapshot file that is not fsynced; an I/O error here fails
 * the whole storage, like any other (storage.h).
 */
#include "node/storage_int.h"

#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"

/* ---- local snapshot write ---- */

enum snapw_phase {
    SW_OPEN = 1,
    SW_DATA,
    SW_HEADER,
    SW_SYNC,
};

static void snapw_step(struct storage *s);

/* Ends the snapshot write chain with status (reported to its caller). */
static void snapw_end(struct storage *s, int status)
{
    struct storage_snapw *w = &s->snapw;
    if (w->file != NULL)
        io_file_close(w->file);
    w->file = NULL;
    w->active = false;
    if (s->closed)
        return;
    s->in_cb++;
    w->cb(w->ctx, status);
    s->in_cb--;
}

/* The snapshot file is durable: queue the meta switch behind the persists
 * already queued, so it completes in order with them. */
static void snapw_commit(struct storage *s)
{
    struct storage_snapw *w = &s->snapw;
    io_file_close(w->file);
    w->file = NULL;
    struct storage_job *j = cairn_calloc(1, sizeof(*j));
    int rc = j == NULL ? CAIRN_ENOMEM : 0;
    if (rc == 0 && w->meta.last_index <= s->meta.snap_index) {
        j->status = CAIRN_ESTALE; /* an install overtook it */
        rc = storage_unlink_add(s, "snap", w->id);
    } else if (rc == 0) {
        s->meta.snap_id = w->id;
        s->meta.snap_index = w->meta.last_index;
        s->meta.snap_term = w->meta.last_term;
        s->meta.conf = w->meta.conf;
        s->next.meta_dirty = true;
        storage_blob_unref(s->view); /* older than this snapshot */
        s->view = NULL;
        s->stats.snapshots_written++;
    }
    if (rc != 0) {
        cairn_free(j);
        storage_fail(s, rc, "snapshot: cannot queue its commit");
        snapw_end(s, rc);
        storage_jobs_fail(s);
        return;
    }
    j->kind = STORAGE_JOB_DONE;
    j->ctx = w->ctx;
    j->done_cb = w->cb;
    w->active = false;
    storage_job_push(s, j);
    storage_batch_start(s);
}

static void snapw_open_cb(void *ctx, struct io_file *f, int status)
{
    struct storage *s = ctx;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    s->snapw.inflight = false;
    s->snapw.file = f;
    if (s->closed || s->failed != 0 || status != 0) {
        if (status != 0 && !s->closed)
            storage_fail(s, status, "snapshot: cannot create its file");
        snapw_end(s, s->failed != 0 ? s->failed : CAIRN_ESHUTDOWN);
        if (!s->closed)
            storage_jobs_fail(s);
        storage_maybe_free(s);
        return;
    }
    s->snapw.phase = SW_DATA;
    snapw_step(s);
    storage_maybe_free(s);
}

static void snapw_op_cb(void *ctx, int status, size_t n)
{
    struct storage *s = ctx;
    struct storage_snapw *w = &s->snapw;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    w->inflight = false;
    if (status == 0 && w->phase != SW_SYNC && n != w->op_len)
        status = CAIRN_EIO;
    if (!s->closed && s->failed == 0 && status != 0)
        storage_fail(s, status, "snapshot %" PRIu64 ": %s failed",
                     w->id, w->phase == SW_SYNC ? "fsync" : "write");
    if (s->closed || s->failed != 0) {
        snapw_end(s, s->failed != 0 ? s->failed : CAIRN_ESHUTDOWN);
        if (!s->closed)
            storage_jobs_fail(s);
        storage_maybe_free(s);
        return;
    }
    if (w->phase == SW_DATA) {
        w->off += n;
    } else if (w->phase == SW_HEADER) {
        w->phase = SW_SYNC;
    } else {
        snapw_commit(s);
        storage_maybe_free(s);
        return;
    }
    snapw_step(s);
    storage_maybe_free(s);
}

static int snapw_issue(struct storage *s)
{
    struct storage_snapw *w = &s->snapw;
    if (w->phase == SW_DATA && w->off < w->meta.size) {
        w->op_len = (size_t)CAIRN_MIN(w->meta.size - w->off,
                                      (uint64_t)s->cfg.snapshot_chunk_size);
        w->crc = cairn_crc32c(w->crc, w->data + w->off, w->op_len);
        return io_file_write(w->file, STORAGE_SNAP_HEADER_SIZE + w->off,
                             w->data + w->off, w->op_len, s, snapw_op_cb);
    }
    if (w->phase == SW_DATA) {
        /* The header goes last: its CRC covers all the data. */
        struct storage_snap_header h = {
            .group_id = s->group_id, .id = w->id,
            .last_index = w->meta.last_index, .last_term = w->meta.last_term,
            .size = w->meta.size, .data_crc = w->crc, .conf = w->meta.conf};
        storage_snap_header_encode(&h, w->header);
        w->phase = SW_HEADER;
        w->op_len = STORAGE_SNAP_HEADER_SIZE;
        return io_file_write(w->file, 0, w->header, w->op_len, s,
                             snapw_op_cb);
    }
    ASSERT(w->phase == SW_SYNC);
    int rc = io_file_fsync(w->file, s, snapw_op_cb);
    if (rc == 0)
        s->stats.fsyncs++;
    return rc;
}

static void snapw_step(struct storage *s)
{
    struct storage_snapw *w = &s->snapw;
    int rc = snapw_issue(s);
    if (rc != 0) {
        storage_fail(s, rc, "snapshot %" PRIu64 ": cannot submit a write",
                     w->id);
        snapw_end(s, rc);
        storage_jobs_fail(s);
        return;
    }
    if (w->phase != SW_SYNC)
        s->stats.bytes_written += w->op_len;
    s->io_pending++;
    w->inflight = true;
}

int storage_snapshot_write(struct storage *s,
                           const struct raft_snapshot_meta *meta,
                           const void *data, void *ctx, storage_done_cb cb)
{
    int rc = storage_usable(s);
    if (rc != 0)
        return rc;
    if (s->snapw.active)
        return CAIRN_EBUSY;
    if (meta->last_index == 0 || meta->last_term == 0 ||
        meta->last_index > s->last_index ||
        meta->last_index <= s->meta.snap_index ||
        meta->size > STORAGE_SNAPSHOT_SIZE_MAX ||
        (meta->size > 0 && data == NULL))
        return CAIRN_EINVAL;
    struct storage_snapw *w = &s->snapw;
    memset(w, 0, sizeof(*w));
    w->meta = *meta;
    w->data = data;
    w->id = s->next_snap_id;
    w->ctx = ctx;
    w->cb = cb;
    char path[STORAGE_PATH_MAX];
    rc = storage_path(s, path, sizeof(path), "snap", w->id);
    ASSERT(rc == 0);
    rc = io_file_open(s->io, path,
                      IO_OPEN_WRITE | IO_OPEN_CREATE | IO_OPEN_TRUNCATE, s,
                      snapw_open_cb);
    if (rc != 0)
        return rc;
    s->next_snap_id++;
    s->io_pending++;
    w->active = true;
    w->inflight = true;
    w->phase = SW_OPEN;
    return 0;
}


/* Queues a meta rewrite (the caller changed s->meta) whose completion
 * calls cb; the meta slot is written with the next batch. */
static int meta_job(struct storage *s, void *ctx, storage_done_cb cb)
{
    struct storage_job *j = cairn_calloc(1, sizeof(*j));
    if (j == NULL)
        return CAIRN_ENOMEM;
    s->next.meta_dirty = true;
    j->kind = STORAGE_JOB_DONE;
    j->ctx = ctx;
    j->done_cb = cb;
    storage_job_push(s, j);
    storage_batch_start(s);
    return 0;
}

int storage_bootstrap(struct storage *s, const struct raft_conf *conf,
                      void *ctx, storage_done_cb cb)
{
    int rc = storage_usable(s);
    if (rc != 0)
        return rc;
    if (s->meta.snap_index != 0)
        return CAIRN_EINVAL;
    struct raft_conf old = s->meta.conf;
    s->meta.conf = *conf;
    rc = meta_job(s, ctx, cb);
    if (rc != 0)
        s->meta.conf = old;
    return rc;
}

int storage_rejoin_set(struct storage *s, uint64_t index, void *ctx,
                       storage_done_cb cb)
{
    int rc = storage_usable(s);
    if (rc != 0)
        return rc;
    uint64_t old = s->meta.rejoin;
    s->meta.rejoin = index;
    rc = meta_job(s, ctx, cb);
    if (rc != 0)
        s->meta.rejoin = old;
    return rc;
}

uint64_t storage_rejoin_index(const struct storage *s)
{
    return s->durable.rejoin;
}
