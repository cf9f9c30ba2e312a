/*
 * storage.c: durable Raft state of one group: persists, group commit,
 * truncation, installs, compaction, lifetime.  Loading at open is in
 * storage_load.c, local snapshot writes in storage_snap.c, the formats in
 * storage_format.c; the design (and the durability argument) in
 * docs/design/storage.md.
 *
 * Shape: storage_persist() applies an update to a LOGICAL state at once
 * (what the disk will hold once every queued write is durable) and records
 * the writes it implies in the accumulating batch `next`.  One batch runs at
 * a time (`cur`), as a serial chain of io operations:
 *     [install: open, header, data chunks, fsync, close]
 *     [meta slot: write, fsync]
 *     [per touched segment, in creation order: open if new, write, fsync,
 *      close if the segment was closed]
 * then every job of the batch completes in order, and files made obsolete
 * by the batch are unlinked.  Calls made while a batch runs wait in `next`
 * and share its successor's fsyncs: that is the group commit.
 *
 * Invariants (ASSERTed where named):
 *   - jobs complete in the order they were queued (one FIFO per batch,
 *     batches run one at a time: batch_finish);
 *   - a segment file is created only after every earlier segment's writes
 *     are fsynced (units run in order; a closed segment's unit ends with
 *     its fsync before the next unit opens the new file), so at load only
 *     the last segment may hold a torn record;
 *   - the meta slot that makes a snapshot current is written only after the
 *     snapshot file is fsynced, and segments created after an install only
 *     after that meta slot is fsynced;
 *   - files are unlinked only after the meta slot that stops referencing
 *     them is durable;
 *   - appended entries extend the logical log by exactly one index
 *     (append_entry), truncation never reaches the snapshot (do_truncate).
 */
#include "node/storage_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

enum phase {
    PH_INSTALL_OPEN = 1,
    PH_INSTALL_DATA,
    PH_INSTALL_HEADER,
    PH_INSTALL_SYNC,
    PH_META_WRITE,
    PH_META_SYNC,
    PH_UNIT_OPEN,
    PH_UNIT_WRITE,
    PH_UNIT_SYNC,
    PH_UNIT_CLOSE,
    PH_FINISH,
};

static void batch_run(struct storage *s);
static void batch_timer_cb(void *ctx);

void storage_config_default(struct storage_config *cfg)
{
    cfg->segment_size_max = STORAGE_SEGMENT_SIZE_DEFAULT;
    cfg->snapshot_chunk_size = STORAGE_SNAPSHOT_CHUNK_DEFAULT;
}

/* ---- small helpers ---- */

int storage_path(const struct storage *s, char *out, size_t cap,
                 const char *kind, uint64_t n)
{
    int w = n == 0 ? snprintf(out, cap, "%s%s", s->prefix, kind)
                   : snprintf(out, cap, "%s%s-%020" PRIu64, s->prefix, kind, n);
    return w < 0 || (size_t)w >= cap ? CAIRN_EINVAL : 0;
}

void storage_fail(struct storage *s, int status, const char *fmt, ...)
{
    ASSERT(status < 0);
    if (s->failed != 0)
        return; /* keep the first reason */
    s->failed = status;
    s->state = STORAGE_FAILED;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    cairn_log(CAIRN_LOG_WARNING, "storage: group %" PRIu64 ": %s (%s)",
              s->group_id, s->err, cairn_errname(status));
}

void storage_blob_unref(struct storage_blob *b)
{
    if (b == NULL)
        return;
    ASSERT(b->refs > 0);
    if (--b->refs == 0) {
        cairn_free(b->base);
        cairn_free(b);
    }
}

struct storage_blob *storage_blob_adopt(void *base, const uint8_t *data,
                                        size_t len)
{
    struct storage_blob *b = cairn_malloc(sizeof(*b));
    if (b == NULL) {
        cairn_free(base);
        return NULL;
    }
    b->refs = 1;
    b->len = len;
    b->data = data;
    b->base = base;
    return b;
}

int storage_runs_push(struct storage *s, uint64_t index, uint64_t term)
{
    if (s->n_runs > 0 && s->runs[s->n_runs - 1].term == term)
        return 0;
    ASSERT(s->n_runs == 0 || s->runs[s->n_runs - 1].index < index);
    if (s->n_runs == s->cap_runs) {
        size_t cap = s->cap_runs == 0 ? 16 : s->cap_runs * 2;
        void *p = cairn_realloc(s->runs, cap * sizeof(*s->runs));
        if (p == NULL)
            return CAIRN_ENOMEM;
        s->runs = p;
        s->cap_runs = cap;
    }
    s->runs[s->n_runs].index = index;
    s->runs[s->n_runs].term = term;
    s->n_runs++;
    return 0;
}

int storage_segs_push(struct storage *s, const struct storage_seg *seg)
{
    if (s->n_segs >= STORAGE_SEGMENTS_MAX)
        return CAIRN_EFULL;
    ASSERT(s->n_segs == 0 || s->segs[s->n_segs - 1].seq < seg->seq);
    if (s->n_segs == s->cap_segs) {
        size_t cap = s->cap_segs == 0 ? 8 : s->cap_segs * 2;
        void *p = cairn_realloc(s->segs, cap * sizeof(*s->segs));
        if (p == NULL)
            return CAIRN_ENOMEM;
        s->segs = p;
        s->cap_segs = cap;
    }
    s->segs[s->n_segs++] = *seg;
    return 0;
}

/* Term of the entry at index in the logical log (index >= snapshot). */
static uint64_t term_at(const struct storage *s, uint64_t index)
{
    size_t lo = 0, hi = s->n_runs;
    while (lo < hi) { /* first run starting after index */
        size_t mid = lo + (hi - lo) / 2;
        if (s->runs[mid].index <= index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0)
        return s->runs[lo - 1].term;
    ASSERT(index == s->meta.snap_index);
    return s->meta.snap_term;
}

static void runs_truncate(struct storage *s, uint64_t from)
{
    while (s->n_runs > 0 && s->runs[s->n_runs - 1].index >= from)
        s->n_runs--;
}

/* ---- batch construction ---- */

static int batch_unlink_add(struct storage_batch *b, const char *path)
{
    if (b->n_unlinks == b->cap_unlinks) {
        size_t cap = b->cap_unlinks == 0 ? 8 : b->cap_unlinks * 2;
        void *p = cairn_realloc(b->unlinks, cap * sizeof(*b->unlinks));
        if (p == NULL)
            return CAIRN_ENOMEM;
        b->unlinks = p;
        b->cap_unlinks = cap;
    }
    char *dup = cairn_strndup(path, strlen(path));
    if (dup == NULL)
        return CAIRN_ENOMEM;
    b->unlinks[b->n_unlinks++] = dup;
    return 0;
}

static int unlink_add_to(struct storage *s, struct storage_batch *b,
                         const char *kind, uint64_t n)
{
    char path[STORAGE_PATH_MAX];
    int rc = storage_path(s, path, sizeof(path), kind, n);
    ASSERT(rc == 0); /* the prefix length was checked at open */
    return batch_unlink_add(b, path);
}

int storage_unlink_add(struct storage *s, const char *kind, uint64_t n)
{
    return unlink_add_to(s, &s->next, kind, n);
}

/* The unit of `next` for segment seq, appended if absent. */
static struct storage_unit *unit_get(struct storage *s, uint64_t seq,
                                     uint64_t offset, bool create)
{
    struct storage_batch *b = &s->next;
    if (!create && b->n_units > 0 && b->units[b->n_units - 1].seq == seq)
        return &b->units[b->n_units - 1];
    if (b->n_units == b->cap_units) {
        size_t cap = b->cap_units == 0 ? 4 : b->cap_units * 2;
        void *p = cairn_realloc(b->units, cap * sizeof(*b->units));
        if (p == NULL)
            return NULL;
        b->units = p;
        b->cap_units = cap;
    }
    struct storage_unit *u = &b->units[b->n_units++];
    memset(u, 0, sizeof(*u));
    u->seq = seq;
    u->create = create;
    u->offset = offset;
    buf_init(&u->data, 0);
    return u;
}

/* Ends appends to the open segment: its file is closed once its last
 * writes are fsynced. */
static int end_open_seg(struct storage *s)
{
    if (!s->seg_open)
        return 0;
    struct storage_seg *g = &s->segs[s->n_segs - 1];
    struct storage_unit *u = unit_get(s, g->seq, g->end, false);
    if (u == NULL)
        return CAIRN_ENOMEM;
    u->close_after = true;
    s->seg_open = false;
    return 0;
}

static int create_seg(struct storage *s, uint64_t first_index)
{
    ASSERT(!s->seg_open);
    struct storage_seg g = {.seq = s->next_seq, .first_index = first_index,
                            .last_index = first_index - 1,
                            .end = STORAGE_SEG_HEADER_SIZE};
    struct storage_seg_header h = {.group_id = s->group_id, .seq = g.seq,
                                   .first_index = first_index};
    if (s->n_segs > 0 && s->segs[s->n_segs - 1].seq + 1 == g.seq)
        h.prev_end = s->segs[s->n_segs - 1].end;
    int rc = storage_segs_push(s, &g);
    if (rc != 0)
        return rc;
    struct storage_unit *u = unit_get(s, g.seq, 0, true);
    if (u == NULL)
        return CAIRN_ENOMEM;
    uint8_t hdr[STORAGE_SEG_HEADER_SIZE];
    storage_seg_header_encode(&h, hdr);
    if (buf_append(&u->data, hdr, sizeof(hdr)) != 0)
        return CAIRN_ENOMEM;
    s->next_seq++;
    s->seg_open = true;
    s->stats.segments_created++;
    return 0;
}

static int append_entry(struct storage *s, const struct raft_entry *e)
{
    ASSERT(e->index == s->last_index + 1);
    ASSERT(e->term >= s->last_term);
    int rc;
    if (!s->seg_open && (rc = create_seg(s, e->index)) != 0)
        return rc;
    struct storage_seg *g = &s->segs[s->n_segs - 1];
    struct storage_unit *u = unit_get(s, g->seq, g->end, false);
    if (u == NULL)
        return CAIRN_ENOMEM;
    uint8_t hdr[STORAGE_REC_HEADER_SIZE];
    storage_rec_header_encode(e, hdr);
    if (buf_append(&u->data, hdr, sizeof(hdr)) != 0 ||
        (e->len > 0 && buf_append(&u->data, e->data, e->len) != 0))
        return CAIRN_ENOMEM;
    if ((rc = storage_runs_push(s, e->index, e->term)) != 0)
        return rc;
    g->end += STORAGE_REC_HEADER_SIZE + (uint64_t)e->len;
    g->last_index = e->index;
    s->last_index = e->index;
    s->last_term = e->term;
    s->stats.entries_written++;
    if (g->end >= s->cfg.segment_size_max)
        return end_open_seg(s);
    return 0;
}

/* Drops entries >= from: a new segment whose header says first_index =
 * from overrides them at load, so the truncation is durable even with no
 * entry after it. */
static int do_truncate(struct storage *s, uint64_t from)
{
    if (from > s->last_index)
        return 0;
    ASSERT(from > s->meta.snap_index);
    for (size_t i = s->n_segs; i-- > 0;) {
        struct storage_seg *g = &s->segs[i];
        if (g->last_index >= from)
            g->last_index = CAIRN_MAX(from, g->first_index) - 1;
    }
    int rc = end_open_seg(s);
    if (rc != 0)
        return rc;
    runs_truncate(s, from);
    s->last_index = from - 1;
    s->last_term = term_at(s, from - 1);
    return create_seg(s, from);
}

static struct storage_blob *blob_from_rx(struct storage *s)
{
    struct storage_blob *b = storage_blob_adopt(
        s->rx.data, (const uint8_t *)s->rx.data, s->rx.len);
    buf_init(&s->rx, 0); /* the blob owns (or freed) the bytes */
    return b;
}

/* A snapshot from the leader replaces the whole log (raft.h, update step
 * 1): written in this batch before the meta slot that makes it current. */
static int do_install(struct storage *s, const struct raft_snapshot_meta *m)
{
    struct storage_blob *b = blob_from_rx(s);
    if (b == NULL)
        return CAIRN_ENOMEM;
    int rc = end_open_seg(s);
    for (size_t i = 0; rc == 0 && i < s->n_segs; i++)
        rc = storage_unlink_add(s, "seg", s->segs[i].seq);
    if (rc != 0) {
        storage_blob_unref(b);
        return rc;
    }
    s->stats.segments_deleted += s->n_segs;
    s->n_segs = 0;
    s->n_runs = 0;
    struct storage_batch *nb = &s->next;
    storage_blob_unref(nb->install); /* an earlier install of this batch */
    nb->install = b;
    nb->install_id = s->next_snap_id++;
    /* The data CRC is computed chunk by chunk as the file is written, so a
     * large snapshot never stalls the loop in one call. */
    struct storage_snap_header h = {
        .group_id = s->group_id, .id = nb->install_id,
        .last_index = m->last_index, .last_term = m->last_term,
        .size = b->len, .conf = m->conf};
    nb->install_hdr = h;
    storage_blob_unref(s->view);
    b->refs++;
    s->view = b;
    s->meta.snap_id = nb->install_id;
    s->meta.snap_index = m->last_index;
    s->meta.snap_term = m->last_term;
    s->meta.conf = m->conf;
    s->meta.first_seg = s->next_seq;
    s->last_index = m->last_index;
    s->last_term = m->last_term;
    nb->meta_dirty = true;
    s->stats.snapshots_written++;
    return 0;
}

/* Deletes the longest prefix of closed segments whose live entries are
 * all <= upto (clamped to the snapshot, which covers them).  A segment
 * whose entries were all overridden by a truncation holds none and goes
 * too: left first in line it would start past the snapshot and read as a
 * gap.  The first segment kept then starts at or below snapshot + 1,
 * because live entries in seq order have increasing indexes and the ones
 * before it are all <= upto or covered by an installed snapshot. */
static int do_compact(struct storage *s, uint64_t upto)
{
    upto = CAIRN_MIN(upto, s->meta.snap_index);
    size_t limit = s->seg_open ? s->n_segs - 1 : s->n_segs;
    size_t k = 0;
    while (k < limit && (s->segs[k].last_index <= upto ||
                         s->segs[k].last_index < s->segs[k].first_index))
        k++;
    /* What the loader will require of the first segment it reads. */
    ASSERT(k == s->n_segs || s->segs[k].first_index <= s->meta.snap_index + 1);
    if (k == 0)
        return 0;
    for (size_t i = 0; i < k; i++) {
        int rc = storage_unlink_add(s, "seg", s->segs[i].seq);
        if (rc != 0)
            return rc;
    }
    memmove(s->segs, s->segs + k, (s->n_segs - k) * sizeof(*s->segs));
    s->n_segs -= k;
    s->stats.segments_deleted += k;
    s->meta.first_seg = s->n_segs > 0 ? s->segs[0].seq : s->next_seq;
    s->next.meta_dirty = true;
    while (s->n_runs >= 2 && s->runs[1].index <= upto) {
        memmove(s->runs, s->runs + 1, (s->n_runs - 1) * sizeof(*s->runs));
        s->n_runs--;
    }
    return 0;
}

/* Checks an update's snapshot parts before anything changes: a chunk must
 * continue (or restart, or resend the tail of) what was received, within
 * its announced size; an install must match the bytes received and be
 * newer than the current snapshot.  0 or CAIRN_EINVAL. */
static int snapshot_check(const struct storage *s, const struct raft_update *up)
{
    size_t rx_len = s->rx.len;
    const struct raft_snapshot_chunk *c = up->snapshot_chunk;
    if (c != NULL) {
        if (c->offset > rx_len || c->meta.size > STORAGE_SNAPSHOT_SIZE_MAX ||
            c->offset + c->len > c->meta.size || (c->len > 0 && c->data == NULL))
            return CAIRN_EINVAL;
        rx_len = (size_t)(c->offset + c->len);
    }
    const struct raft_snapshot_meta *m = up->snapshot_install;
    if (m != NULL && (m->size != rx_len || m->last_index <= s->meta.snap_index ||
                      m->last_term == 0))
        return CAIRN_EINVAL;
    return 0;
}

static int rx_chunk(struct storage *s, const struct raft_snapshot_chunk *c)
{
    s->rx.len = (size_t)c->offset; /* a resent chunk replaces the tail */
    return c->len > 0 ? buf_append(&s->rx, c->data, c->len) : 0;
}

/* Applies up to the logical state.  The checks come first (CAIRN_EINVAL
 * changes nothing); an error after them fails the storage, since the
 * logical state may be half-updated. */
static int apply_update(struct storage *s, const struct raft_update *up)
{
    int rc = snapshot_check(s, up);
    if (rc != 0)
        return rc;
    if (up->snapshot_chunk != NULL && (rc = rx_chunk(s, up->snapshot_chunk)))
        return rc;
    if (up->snapshot_install != NULL &&
        (rc = do_install(s, up->snapshot_install)) != 0)
        return rc;
    if (up->truncate_from != 0 && (rc = do_truncate(s, up->truncate_from)))
        return rc;
    for (size_t i = 0; i < up->n_entries; i++)
        if ((rc = append_entry(s, &up->entries[i])) != 0)
            return rc;
    if (up->has_hard_state) {
        const struct raft_hard_state *hs = &up->hard_state;
        if (hs->term != s->meta.term || hs->vote != s->meta.vote)
            s->next.meta_dirty = true;
        s->meta.term = hs->term;
        s->meta.vote = hs->vote;
        s->meta.commit = hs->commit_index;
    }
    if (up->compact_index != 0)
        rc = do_compact(s, up->compact_index);
    return rc;
}

void storage_job_push(struct storage *s, struct storage_job *j)
{
    struct storage_batch *b = &s->next;
    if (b->jobs_tail != NULL)
        b->jobs_tail->next = j;
    else
        b->jobs_head = j;
    b->jobs_tail = j;
    b->n_jobs++;
    s->jobs_queued++;
}

int storage_usable(const struct storage *s)
{
    if (s->failed != 0)
        return s->failed;
    if (s->closed || s->state != STORAGE_READY)
        return CAIRN_ESHUTDOWN;
    if (s->jobs_queued >= STORAGE_PERSIST_QUEUE_MAX)
        return CAIRN_EFULL;
    return 0;
}

int storage_persist(struct storage *s, const struct raft_update *up,
                    void *ctx, storage_persist_cb cb)
{
    int rc = storage_usable(s);
    if (rc != 0)
        return rc;
    struct storage_job *j = cairn_calloc(1, sizeof(*j));
    if (j == NULL)
        return CAIRN_ENOMEM;
    rc = apply_update(s, up);
    if (rc == CAIRN_EINVAL) {
        cairn_free(j);
        return rc;
    }
    if (rc != 0) {
        cairn_free(j);
        storage_fail(s, rc, "persist: cannot queue writes");
        return rc;
    }
    j->kind = STORAGE_JOB_PERSIST;
    j->ctx = ctx;
    j->persist_cb = cb;
    j->result.hard_state.term = s->meta.term;
    j->result.hard_state.vote = s->meta.vote;
    j->result.last_index = s->last_index;
    j->result.last_term = s->last_term;
    storage_job_push(s, j);
    s->stats.persist_calls++;
    storage_batch_start(s);
    return 0;
}

/* ---- running a batch ---- */

static bool batch_empty(const struct storage_batch *b)
{
    return b->n_jobs == 0 && b->n_units == 0 && !b->meta_dirty &&
           b->install == NULL && b->n_unlinks == 0;
}

static void batch_free(struct storage_batch *b)
{
    for (size_t i = 0; i < b->n_units; i++)
        buf_free(&b->units[i].data);
    cairn_free(b->units);
    for (size_t i = 0; i < b->n_unlinks; i++)
        cairn_free(b->unlinks[i]);
    cairn_free(b->unlinks);
    storage_blob_unref(b->install);
    struct storage_job *j = b->jobs_head;
    while (j != NULL) {
        struct storage_job *n = j->next;
        cairn_free(j);
        j = n;
    }
    memset(b, 0, sizeof(*b));
}

/* Starts `next` as the running batch (from the timer: see below). */
static void batch_begin(struct storage *s)
{
    if (s->running || s->closed || s->failed != 0 || batch_empty(&s->next))
        return;
    s->cur = s->next;
    memset(&s->next, 0, sizeof(s->next));
    s->running = true;
    s->stats.batches++;
    if (s->cur.meta_dirty) {
        s->meta.seq = ++s->meta_seq_written;
        storage_meta_encode(s->group_id, &s->meta, s->cur.meta_image);
        s->cur_meta = s->meta;
    }
    s->step = s->cur.install != NULL ? PH_INSTALL_OPEN
              : s->cur.meta_dirty    ? PH_META_WRITE
                                     : PH_UNIT_OPEN;
    s->step_off = 0;
    s->unit_i = 0;
    s->batch_ops = 0;
    batch_run(s);
}

static void fire_jobs(struct storage *s, struct storage_job *j, int status)
{
    while (j != NULL) {
        struct storage_job *n = j->next;
        ASSERT(s->jobs_queued > 0);
        s->jobs_queued--;
        if (!s->closed) {
            int st = status != 0 ? status : j->status;
            s->in_cb++;
            if (j->kind == STORAGE_JOB_PERSIST) {
                struct storage_persisted p = j->result;
                p.hard_state.commit_index = s->durable.commit;
                j->persist_cb(j->ctx, st, status != 0 ? NULL : &p);
            } else {
                j->done_cb(j->ctx, st);
            }
            s->in_cb--;
        }
        cairn_free(j);
        j = n;
    }
}

static struct storage_job *batch_take_jobs(struct storage_batch *b)
{
    struct storage_job *j = b->jobs_head;
    b->jobs_head = b->jobs_tail = NULL;
    b->n_jobs = 0;
    return j;
}

/* Fails every queued job, in order, after the storage failed.  cur's
 * buffers are released only once its chain has no io operation left. */
void storage_jobs_fail(struct storage *s)
{
    ASSERT(s->failed != 0);
    struct storage_job *cj = batch_take_jobs(&s->cur);
    struct storage_job *nj = batch_take_jobs(&s->next);
    batch_free(&s->next);
    if (s->running && !s->batch_inflight) {
        if (s->timer_armed)
            io_timer_stop(s->timer);
        s->timer_armed = false;
        batch_free(&s->cur);
        s->running = false;
    }
    fire_jobs(s, cj, s->failed);
    fire_jobs(s, nj, s->failed);
}

static void unlink_cb(void *ctx, int status, size_t n)
{
    struct storage *s = ctx;
    (void)n;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    if (status != 0 && status != CAIRN_ENOTFOUND && !s->closed)
        LOG_WARNING("storage: group %" PRIu64 ": unlink failed: %s",
                    s->group_id, cairn_strerror(status));
    storage_maybe_free(s);
}

static void issue_unlinks(struct storage *s, struct storage_batch *b)
{
    for (size_t i = 0; i < b->n_unlinks; i++) {
        int rc = io_unlink(s->io, b->unlinks[i], s, unlink_cb);
        if (rc == 0)
            s->io_pending++;
        else
            LOG_WARNING("storage: cannot unlink %s: %s", b->unlinks[i],
                        cairn_strerror(rc));
    }
}

static void batch_finish(struct storage *s)
{
    ASSERT(s->running);
    ASSERT(!s->batch_inflight);
    if (s->cur.meta_dirty) {
        uint64_t old_snap = s->durable.snap_id;
        s->durable = s->cur_meta;
        if (old_snap != 0 && old_snap != s->durable.snap_id)
            (void)unlink_add_to(s, &s->cur, "snap", old_snap);
    }
    /* Everything the batch's meta slot no longer references goes now. */
    issue_unlinks(s, &s->cur);
    struct storage_job *j = batch_take_jobs(&s->cur);
    batch_free(&s->cur);
    s->running = false;
    fire_jobs(s, j, 0);
    storage_batch_start(s);
}

/* The one timer, armed with delay 0, does three jobs from the loop (never
 * inside a storage_* call): fail queued jobs after a submission error,
 * complete a batch that had nothing to write, and begin the next batch.
 * Beginning a batch a loop turn after the first call queued work is the
 * group commit: every call made during that turn (or while the previous
 * batch ran) shares the batch's fsyncs. */
static void batch_timer_cb(void *ctx)
{
    struct storage *s = ctx;
    s->timer_armed = false;
    if (s->failed != 0)
        storage_jobs_fail(s);
    else if (s->running)
        batch_finish(s);
    else
        batch_begin(s);
    storage_maybe_free(s);
}

void storage_batch_start(struct storage *s)
{
    if (s->running || s->closed || s->failed != 0 || s->timer_armed ||
        batch_empty(&s->next))
        return;
    s->timer_armed = true;
    io_timer_start(s->timer, 0);
}

/* A batch operation failed: the storage is failed for good. */
static void batch_fail(struct storage *s, int status, const char *what)
{
    char path[STORAGE_PATH_MAX];
    if (s->step <= PH_INSTALL_SYNC)
        (void)storage_path(s, path, sizeof(path), "snap", s->cur.install_id);
    else if (s->step <= PH_META_SYNC)
        (void)storage_path(s, path, sizeof(path), "meta", 0);
    else
        (void)storage_path(s, path, sizeof(path), "seg",
                           s->cur.units[s->unit_i].seq);
    storage_fail(s, status, "%s of %s failed; the node must stop", what,
                 path);
    storage_jobs_fail(s);
}

static void batch_open_cb(void *ctx, struct io_file *f, int status)
{
    struct storage *s = ctx;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    s->batch_inflight = false;
    if (f != NULL && (s->closed || s->failed != 0))
        io_file_close(f);
    if (s->closed || s->failed != 0) {
        if (s->failed != 0)
            storage_jobs_fail(s);
        storage_maybe_free(s);
        return;
    }
    if (status != 0) {
        batch_fail(s, status, "create");
        storage_maybe_free(s);
        return;
    }
    if (s->step == PH_INSTALL_OPEN) {
        s->step_file = f;
        s->step = PH_INSTALL_DATA;
        s->step_crc = 0;
    } else {
        ASSERT(s->step == PH_UNIT_OPEN);
        ASSERT(s->seg_file == NULL);
        s->seg_file = f;
        s->step = PH_UNIT_WRITE;
    }
    batch_run(s);
    storage_maybe_free(s);
}

static void step_done(struct storage *s, size_t n)
{
    switch (s->step) {
    case PH_INSTALL_DATA: s->step_off += n; break;
    case PH_INSTALL_HEADER: s->step = PH_INSTALL_SYNC; break;
    case PH_INSTALL_SYNC:
        io_file_close(s->step_file);
        s->step_file = NULL;
        s->step = PH_META_WRITE;
        break;
    case PH_META_WRITE: s->step = PH_META_SYNC; break;
    case PH_META_SYNC: s->step = PH_UNIT_OPEN; break;
    case PH_UNIT_WRITE: s->step = PH_UNIT_SYNC; break;
    case PH_UNIT_SYNC: s->step = PH_UNIT_CLOSE; break;
    default: UNREACHABLE();
    }
}

static void batch_op_cb(void *ctx, int status, size_t n)
{
    struct storage *s = ctx;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    s->batch_inflight = false;
    if (s->closed || s->failed != 0) {
        if (s->failed != 0)
            storage_jobs_fail(s);
        storage_maybe_free(s);
        return;
    }
    bool is_sync = s->step == PH_INSTALL_SYNC || s->step == PH_META_SYNC ||
                   s->step == PH_UNIT_SYNC;
    if (status == 0 && !is_sync && n != s->op_len)
        status = CAIRN_EIO; /* io.h completes whole writes or fails */
    if (status != 0) {
        batch_fail(s, status, is_sync ? "fsync" : "write");
        storage_maybe_free(s);
        return;
    }
    step_done(s, n);
    batch_run(s);
    storage_maybe_free(s);
}

static int issue_write(struct storage *s, struct io_file *f, uint64_t off,
                       const void *data, size_t len)
{
    s->op_len = len;
    int rc = io_file_write(f, off, data, len, s, batch_op_cb);
    if (rc == 0) {
        s->stats.bytes_written += len;
        s->io_pending++;
        s->batch_ops++;
        s->batch_inflight = true;
    }
    return rc;
}

static int issue_fsync(struct storage *s, struct io_file *f)
{
    int rc = io_file_fsync(f, s, batch_op_cb);
    if (rc == 0) {
        s->stats.fsyncs++;
        s->io_pending++;
        s->batch_ops++;
        s->batch_inflight = true;
    }
    return rc;
}

static int issue_open(struct storage *s, const char *kind, uint64_t n)
{
    char path[STORAGE_PATH_MAX];
    int rc = storage_path(s, path, sizeof(path), kind, n);
    ASSERT(rc == 0);
    rc = io_file_open(s->io, path,
                      IO_OPEN_WRITE | IO_OPEN_CREATE | IO_OPEN_TRUNCATE, s,
                      batch_open_cb);
    if (rc == 0) {
        s->io_pending++;
        s->batch_ops++;
        s->batch_inflight = true;
    }
    return rc;
}

/* Issues cur's next io operation, or finishes the batch.  Returns after one
 * operation is in flight. */
static int batch_issue(struct storage *s, bool *issued)
{
    struct storage_batch *b = &s->cur;
    struct storage_unit *u = s->unit_i < b->n_units ? &b->units[s->unit_i] : NULL;
    *issued = true;
    switch (s->step) {
    case PH_INSTALL_OPEN:
        return issue_open(s, "snap", b->install_id);
    case PH_INSTALL_DATA:
        if (s->step_off < b->install->len) {
            size_t len = (size_t)CAIRN_MIN(b->install->len - s->step_off,
                                           (uint64_t)s->cfg.snapshot_chunk_size);
            const uint8_t *p = b->install->data + s->step_off;
            s->step_crc = cairn_crc32c(s->step_crc, p, len);
            return issue_write(s, s->step_file,
                               STORAGE_SNAP_HEADER_SIZE + s->step_off, p, len);
        }
        /* The header goes last: its CRC covers all the data. */
        b->install_hdr.data_crc = s->step_crc;
        storage_snap_header_encode(&b->install_hdr, b->install_header);
        s->step = PH_INSTALL_HEADER;
        return issue_write(s, s->step_file, 0, b->install_header,
                           STORAGE_SNAP_HEADER_SIZE);
    case PH_INSTALL_SYNC:
        return issue_fsync(s, s->step_file);
    case PH_META_WRITE:
        if (!b->meta_dirty) {
            s->step = PH_UNIT_OPEN;
            break;
        }
        s->stats.meta_writes++;
        return issue_write(s, s->meta_file,
                           (s->cur_meta.seq % 2) * STORAGE_META_SLOT_SIZE,
                           b->meta_image, STORAGE_META_SLOT_SIZE);
    case PH_META_SYNC:
        return issue_fsync(s, s->meta_file);
    case PH_UNIT_OPEN:
        if (u == NULL) {
            s->step = PH_FINISH;
            break;
        }
        if (u->create)
            return issue_open(s, "seg", u->seq);
        s->step = PH_UNIT_WRITE;
        break;
    case PH_UNIT_WRITE:
        ASSERT(s->seg_file != NULL);
        if (u->data.len > 0)
            return issue_write(s, s->seg_file, u->offset, u->data.data,
                               u->data.len);
        s->step = PH_UNIT_CLOSE;
        break;
    case PH_UNIT_SYNC:
        return issue_fsync(s, s->seg_file);
    case PH_UNIT_CLOSE:
        if (u->close_after) {
            io_file_close(s->seg_file);
            s->seg_file = NULL;
        }
        s->unit_i++;
        s->step = PH_UNIT_OPEN;
        break;
    default:
        UNREACHABLE();
    }
    *issued = false;
    return 0;
}

static void batch_run(struct storage *s)
{
    ASSERT(s->running);
    ASSERT(!s->batch_inflight);
    /* Each pass issues one operation or advances one step; a batch has at
     * most 4 + 5 * units steps plus its snapshot chunks. */
    for (;;) {
        if (s->step == PH_FINISH) {
            if (s->batch_ops == 0) {
                /* Nothing was written: complete from the loop, never
                 * inside the storage_persist() that queued the job. */
                s->timer_armed = true;
                io_timer_start(s->timer, 0);
                return;
            }
            batch_finish(s);
            return;
        }
        bool issued;
        int rc = batch_issue(s, &issued);
        if (rc != 0) {
            /* Possibly inside storage_persist(): report from the loop. */
            storage_fail(s, rc, "cannot submit a write; the node must stop");
            s->timer_armed = true;
            io_timer_start(s->timer, 0);
            return;
        }
        if (issued)
            return;
    }
}

const void *storage_snapshot_bytes(const struct storage *s, size_t *len)
{
    *len = s->view != NULL ? s->view->len : 0;
    return s->view != NULL ? s->view->data : NULL;
}

void storage_snapshot_bytes_drop(struct storage *s)
{
    storage_blob_unref(s->view);
    s->view = NULL;
}

const char *storage_error(const struct storage *s)
{
    return s->err;
}

void storage_stats_get(const struct storage *s, struct storage_stats *out)
{
    *out = s->stats;
}

uint64_t storage_last_index(const struct storage *s)
{
    return s->last_index;
}

uint64_t storage_snapshot_index(const struct storage *s)
{
    return s->meta.snap_index;
}

static void free_all(struct storage *s)
{
    storage_load_free(s);
    if (s->meta_file != NULL)
        io_file_close(s->meta_file);
    if (s->seg_file != NULL)
        io_file_close(s->seg_file);
    if (s->step_file != NULL)
        io_file_close(s->step_file);
    if (s->snapw.file != NULL)
        io_file_close(s->snapw.file);
    if (s->timer != NULL)
        io_timer_free(s->timer);
    struct storage_job *cj = batch_take_jobs(&s->cur);
    struct storage_job *nj = batch_take_jobs(&s->next);
    fire_jobs(s, cj, CAIRN_ESHUTDOWN); /* closed: frees, no callback */
    fire_jobs(s, nj, CAIRN_ESHUTDOWN);
    batch_free(&s->cur);
    batch_free(&s->next);
    buf_free(&s->rx);
    storage_blob_unref(s->view);
    cairn_free(s->segs);
    cairn_free(s->runs);
    cairn_free(s->prefix);
    cairn_free(s);
}

void storage_maybe_free(struct storage *s)
{
    if (s->closed && s->io_pending == 0 && s->in_cb == 0)
        free_all(s);
}

void storage_close(struct storage *s)
{
    if (s->closed)
        return;
    s->closed = true;
    if (s->timer_armed)
        io_timer_stop(s->timer);
    s->timer_armed = false;
    storage_maybe_free(s);
}

void storage_abandon(struct storage *s)
{
    s->closed = true;
    s->io_pending = 0;
    if (s->in_cb == 0)
        free_all(s);
}

int storage_open(struct io *io, const char *dir, uint64_t group_id,
                 const struct storage_config *cfg, void *ctx,
                 storage_open_cb cb, struct storage **out)
{
    *out = NULL;
    struct storage_config c;
    if (cfg == NULL)
        storage_config_default(&c);
    else
        c = *cfg;
    if (c.segment_size_max < 2 * STORAGE_SEG_HEADER_SIZE ||
        c.snapshot_chunk_size == 0)
        return CAIRN_EINVAL;
    /* Longest name: prefix + "snap-" + 20 digits. */
    size_t dir_len = strlen(dir);
    if (dir_len == 0 || dir_len + 64 > STORAGE_PATH_MAX)
        return CAIRN_EINVAL;
    struct storage *s = cairn_calloc(1, sizeof(*s));
    if (s == NULL)
        return CAIRN_ENOMEM;
    s->prefix = cairn_malloc(dir_len + 32);
    s->timer = io_timer_new(io, s, batch_timer_cb);
    if (s->prefix == NULL || s->timer == NULL) {
        if (s->timer != NULL)
            io_timer_free(s->timer);
        cairn_free(s->prefix);
        cairn_free(s);
        return CAIRN_ENOMEM;
    }
    snprintf(s->prefix, dir_len + 32, "%s/g%" PRIu64 "-", dir, group_id);
    s->io = io;
    s->group_id = group_id;
    s->cfg = c;
    s->state = STORAGE_LOADING;
    s->open_ctx = ctx;
    s->open_cb = cb;
    buf_init(&s->rx, 0);
    int rc = storage_load_start(s);
    if (rc != 0) {
        storage_abandon(s);
        return rc;
    }
    *out = s;
    return 0;
}
