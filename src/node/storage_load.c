/*
 * storage_load.c: storage_open's loading chain: meta slots, the current
 * snapshot, the live segments, then a pure parse into a struct raft_restore.
 *
 * Files are read whole, in chunks of cfg.snapshot_chunk_size, until a read
 * returns 0 bytes (io.h has no stat), each bounded by its size limit.
 * Segments are found by probing seq = meta.first_seg, +1, ... until one is
 * missing; the seq after that must be missing too (a hole in the sequence
 * is reported, not silently skipped).
 *
 * Recovery rules (docs/design/storage.md, "Recovery"):
 *   - meta: the valid slot with the higher sequence number wins; no valid
 *     slot in a file shorter than two slots means the first initialisation
 *     was torn (start fresh); in a full-size file any damaged slot is
 *     corruption (a slot is one sector, written whole or not at all);
 *   - a segment is parsed up to its successor's prev_end (exactly), the
 *     last one up to its end; only the last may end in an incomplete
 *     record (dropped with a warning) or have an incomplete header (the
 *     whole file is ignored and its seq reused);
 *   - a segment whose first_index is inside the log built so far
 *     overrides the entries from that index on (a durable truncation); one
 *     that starts past the log's end + 1 is a gap: corruption;
 *   - entries covered by the snapshot are skipped.
 */
#include "node/storage_int.h"

#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

enum load_phase {
    LD_META = 1,
    LD_SNAP,
    LD_SEG,
    LD_GAP,
    LD_INIT_WRITE,
    LD_INIT_SYNC,
};

struct load_file {
    uint64_t seq;
    uint8_t *buf;
    size_t len;
};

/* Where each restored entry came from, to name it if it is refused. */
struct entry_at {
    uint64_t seq;
    uint64_t offset;
};

struct storage_load {
    uint8_t phase;
    bool fresh;
    bool absent; /* the file just opened does not exist */
    struct io_file *file;
    char path[STORAGE_PATH_MAX];
    struct buf data;
    size_t data_max;
    uint64_t seq; /* segment being probed */
    struct load_file *files;
    size_t n_files;
    size_t cap_files;
    struct raft_entry *entries;
    struct entry_at *at; /* parallel to entries */
    size_t n_entries;
    size_t cap_entries;
    uint64_t seq_parsing;
    uint64_t log_last; /* last index of the log parsed so far, any index */
    struct raft_restore rs;
    uint8_t init[STORAGE_META_FILE_SIZE];
};

static void load_step(struct storage *s);

void storage_load_free(struct storage *s)
{
    struct storage_load *l = s->load;
    if (l == NULL)
        return;
    if (l->file != NULL)
        io_file_close(l->file);
    buf_free(&l->data);
    for (size_t i = 0; i < l->n_files; i++)
        cairn_free(l->files[i].buf);
    cairn_free(l->files);
    cairn_free(l->entries);
    cairn_free(l->at);
    cairn_free(l);
    s->load = NULL;
}

void storage_restore_release(struct storage *s)
{
    if (s->state != STORAGE_LOADING)
        storage_load_free(s);
}

/* Ends loading: reports to the open callback. */
static void load_done(struct storage *s, int status)
{
    struct storage_load *l = s->load;
    if (l->file != NULL)
        io_file_close(l->file);
    l->file = NULL;
    if (status == 0) {
        s->state = STORAGE_READY;
    } else if (s->failed == 0) {
        storage_fail(s, status, "open failed");
    }
    if (s->closed)
        return;
    size_t len = 0;
    const void *snap = status == 0 ? storage_snapshot_bytes(s, &len) : NULL;
    s->in_cb++;
    s->open_cb(s->open_ctx, status, status == 0 ? &l->rs : NULL, snap, len);
    s->in_cb--;
}

static void load_corrupt(struct storage *s, const char *fmt_path,
                         uint64_t off, const char *why)
{
    storage_fail(s, CAIRN_ECORRUPT,
                 "%s: %s at byte offset %" PRIu64
                 " (refusing to start; restore or remove the group's files)",
                 fmt_path, why, off);
    load_done(s, CAIRN_ECORRUPT);
}

static void load_io_error(struct storage *s, int status, const char *what)
{
    storage_fail(s, status, "%s %s failed", what, s->load->path);
    load_done(s, status);
}

/* ---- reading a whole file ---- */

static void read_cb(void *ctx, int status, size_t n);

static void read_more(struct storage *s)
{
    struct storage_load *l = s->load;
    size_t chunk = l->phase == LD_META ? STORAGE_META_FILE_SIZE
                                       : s->cfg.snapshot_chunk_size;
    if (buf_reserve(&l->data, chunk) != 0) {
        load_io_error(s, CAIRN_ENOMEM, "reading");
        return;
    }
    int rc = io_file_read(l->file, l->data.len, l->data.data + l->data.len,
                          chunk, s, read_cb);
    if (rc != 0) {
        load_io_error(s, rc, "read of");
        return;
    }
    s->io_pending++;
}

static void read_cb(void *ctx, int status, size_t n)
{
    struct storage *s = ctx;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    if (s->closed) {
        storage_maybe_free(s);
        return;
    }
    struct storage_load *l = s->load;
    if (status != 0) {
        load_io_error(s, status, "read of");
    } else if (n == 0 || (l->phase == LD_META && l->data.len + n >=
                                                     STORAGE_META_FILE_SIZE)) {
        l->data.len += n;
        if (l->phase == LD_META)
            s->meta_file = l->file; /* kept for the slot writes */
        else
            io_file_close(l->file);
        l->file = NULL;
        l->absent = false;
        load_step(s);
    } else if (l->data.len + n > l->data_max) {
        load_corrupt(s, l->path, l->data_max, "file larger than allowed");
    } else {
        l->data.len += n;
        read_more(s);
    }
    storage_maybe_free(s);
}

static void open_cb(void *ctx, struct io_file *f, int status)
{
    struct storage *s = ctx;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    if (s->closed) {
        if (f != NULL)
            io_file_close(f);
        storage_maybe_free(s);
        return;
    }
    struct storage_load *l = s->load;
    if (status == CAIRN_ENOTFOUND) {
        l->absent = true;
        load_step(s); /* the phase handles absence */
    } else if (status != 0) {
        load_io_error(s, status, "open of");
    } else {
        l->file = f;
        buf_clear(&l->data);
        if (l->phase == LD_GAP) {
            io_file_close(f);
            l->file = NULL;
            load_corrupt(s, l->path, 0,
                         "segment exists after a missing segment");
        } else {
            read_more(s);
        }
    }
    storage_maybe_free(s);
}

static void open_file(struct storage *s, const char *kind, uint64_t n,
                      int flags)
{
    struct storage_load *l = s->load;
    int rc = storage_path(s, l->path, sizeof(l->path), kind, n);
    ASSERT(rc == 0);
    rc = io_file_open(s->io, l->path, flags, s, open_cb);
    if (rc != 0) {
        load_io_error(s, rc, "open of");
        return;
    }
    s->io_pending++;
}

/* ---- meta ---- */

static int meta_pick(struct storage *s)
{
    struct storage_load *l = s->load;
    const uint8_t *d = (const uint8_t *)l->data.data;
    size_t len = l->data.len;
    struct storage_meta m[2];
    int rc[2];
    for (int i = 0; i < 2; i++) {
        size_t off = (size_t)i * STORAGE_META_SLOT_SIZE;
        rc[i] = len >= off + STORAGE_META_SLOT_SIZE
                    ? storage_meta_decode(d + off, STORAGE_META_SLOT_SIZE,
                                          s->group_id, &m[i])
                    : CAIRN_ECORRUPT;
    }
    if (rc[0] != 0 && rc[1] != 0) {
        if (rc[0] == CAIRN_EVERSION || rc[1] == CAIRN_EVERSION) {
            storage_fail(s, CAIRN_EVERSION, "%s: unsupported format version",
                         l->path);
            load_done(s, CAIRN_EVERSION);
            return CAIRN_EVERSION;
        }
        if (len >= STORAGE_META_FILE_SIZE) {
            load_corrupt(s, l->path, 0, "no valid meta slot");
            return CAIRN_ECORRUPT;
        }
        if (len > 0)
            LOG_WARNING("storage: %s: torn initialisation, starting fresh",
                        l->path);
        l->fresh = true;
        memset(&s->meta, 0, sizeof(s->meta));
        s->meta.first_seg = 1;
        return 0;
    }
    /* Both slots exist once the first meta was written whole, and a slot
     * is one aligned sector written whole or not at all, so a damaged slot
     * in a full-size file is bit rot, not a crash: it may be the newer one
     * (an acknowledged term and vote), and falling back to the other would
     * roll them back. */
    if (len >= STORAGE_META_FILE_SIZE && (rc[0] != 0 || rc[1] != 0)) {
        load_corrupt(s, l->path, rc[0] != 0 ? 0 : STORAGE_META_SLOT_SIZE,
                     "meta slot damaged (checksum or format mismatch)");
        return CAIRN_ECORRUPT;
    }
    int pick = rc[0] != 0 ? 1 : rc[1] != 0 ? 0 : m[1].seq > m[0].seq;
    s->meta = m[pick];
    return 0;
}

static void after_meta(struct storage *s)
{
    struct storage_load *l = s->load;
    if (meta_pick(s) != 0)
        return;
    s->durable = s->meta;
    s->meta_seq_written = s->meta.seq;
    s->next_snap_id = s->meta.snap_id + 1;
    if (s->meta.snap_id != 0) {
        l->phase = LD_SNAP;
        l->data_max = STORAGE_SNAP_HEADER_SIZE + STORAGE_SNAPSHOT_SIZE_MAX;
        open_file(s, "snap", s->meta.snap_id, IO_OPEN_READ);
        return;
    }
    l->phase = LD_SEG;
    l->seq = s->meta.first_seg;
    l->data_max = STORAGE_SEGMENT_FILE_MAX;
    open_file(s, "seg", l->seq, IO_OPEN_READ);
}

/* ---- snapshot ---- */

static void after_snap(struct storage *s)
{
    struct storage_load *l = s->load;
    if (l->absent) {
        load_corrupt(s, l->path, 0, "snapshot named by the meta file is missing");
        return;
    }
    const uint8_t *d = (const uint8_t *)l->data.data;
    struct storage_snap_header h;
    int rc = storage_snap_header_decode(d, l->data.len, &h);
    const char *why = NULL;
    if (rc != 0)
        why = "snapshot header invalid";
    else if (h.group_id != s->group_id || h.id != s->meta.snap_id ||
             h.last_index != s->meta.snap_index ||
             h.last_term != s->meta.snap_term)
        why = "snapshot header does not match the meta file";
    else if (l->data.len - STORAGE_SNAP_HEADER_SIZE != h.size)
        why = "snapshot size differs from its header";
    else if (cairn_crc32c(0, d + STORAGE_SNAP_HEADER_SIZE, (size_t)h.size) !=
             h.data_crc)
        why = "snapshot data checksum mismatch";
    if (why != NULL) {
        load_corrupt(s, l->path, 0, why);
        return;
    }
    struct storage_blob *b = storage_blob_adopt(
        l->data.data, d + STORAGE_SNAP_HEADER_SIZE, (size_t)h.size);
    buf_init(&l->data, 0); /* the blob owns (or freed) the bytes */
    if (b == NULL) {
        load_io_error(s, CAIRN_ENOMEM, "loading");
        return;
    }
    s->view = b;
    l->phase = LD_SEG;
    l->seq = s->meta.first_seg;
    l->data_max = STORAGE_SEGMENT_FILE_MAX;
    open_file(s, "seg", l->seq, IO_OPEN_READ);
}

/* ---- segments ---- */

static void after_seg(struct storage *s)
{
    struct storage_load *l = s->load;
    if (l->absent) {
        l->phase = LD_GAP;
        open_file(s, "seg", l->seq + 1, IO_OPEN_READ);
        return;
    }
    if (l->n_files >= STORAGE_SEGMENTS_MAX) {
        load_corrupt(s, l->path, 0, "too many segments");
        return;
    }
    if (l->n_files == l->cap_files) {
        size_t cap = l->cap_files == 0 ? 8 : l->cap_files * 2;
        void *p = cairn_realloc(l->files, cap * sizeof(*l->files));
        if (p == NULL) {
            load_io_error(s, CAIRN_ENOMEM, "loading");
            return;
        }
        l->files = p;
        l->cap_files = cap;
    }
    /* Take the bytes over; data starts afresh for the next file. */
    struct load_file *f = &l->files[l->n_files++];
    f->seq = l->seq;
    f->buf = (uint8_t *)l->data.data;
    f->len = l->data.len;
    buf_init(&l->data, 0);
    l->seq++;
    open_file(s, "seg", l->seq, IO_OPEN_READ);
}

static int collect(void *ctx, const struct raft_entry *e, uint64_t offset)
{
    struct storage *s = ctx;
    struct storage_load *l = s->load;
    l->log_last = e->index;
    if (e->index <= s->meta.snap_index)
        return 0; /* covered by the snapshot */
    /* Terms across segments are checked once every override is applied
     * (check_terms): a tail a later segment overrides may legitimately
     * carry older terms than the entries that replace it. */
    if (l->n_entries == l->cap_entries) {
        size_t cap = l->cap_entries == 0 ? 64 : l->cap_entries * 2;
        void *p = cairn_realloc(l->entries, cap * sizeof(*l->entries));
        if (p == NULL)
            return CAIRN_ENOMEM;
        l->entries = p;
        p = cairn_realloc(l->at, cap * sizeof(*l->at));
        if (p == NULL)
            return CAIRN_ENOMEM;
        l->at = p;
        l->cap_entries = cap;
    }
    l->at[l->n_entries].seq = l->seq_parsing;
    l->at[l->n_entries].offset = offset;
    l->entries[l->n_entries++] = *e;
    return 0;
}

/* The restored log's terms never go back, from the snapshot's on. */
static int check_terms(struct storage *s)
{
    struct storage_load *l = s->load;
    uint64_t term = s->meta.snap_term;
    for (size_t i = 0; i < l->n_entries; i++) {
        if (l->entries[i].term < term) {
            char path[STORAGE_PATH_MAX];
            (void)storage_path(s, path, sizeof(path), "seg", l->at[i].seq);
            load_corrupt(s, path, l->at[i].offset, "log term goes back");
            return CAIRN_ECORRUPT;
        }
        term = l->entries[i].term;
    }
    return 0;
}

/* Applies segment i's first_index to what was parsed before it. */
static int seg_override(struct storage *s, uint64_t first_index, bool first)
{
    struct storage_load *l = s->load;
    uint64_t base = first ? s->meta.snap_index : l->log_last;
    if (first_index > base + 1)
        return CAIRN_ECORRUPT;
    while (l->n_entries > 0 &&
           l->entries[l->n_entries - 1].index >= first_index)
        l->n_entries--;
    for (size_t i = 0; i < s->n_segs; i++)
        if (s->segs[i].last_index >= first_index)
            s->segs[i].last_index =
                CAIRN_MAX(first_index, s->segs[i].first_index) - 1;
    l->log_last = first_index - 1;
    return 0;
}

/* Parses segment i (header already valid) up to end. */
static int parse_one(struct storage *s, size_t i, uint64_t end, bool last,
                     const struct storage_seg_header *h)
{
    struct storage_load *l = s->load;
    struct load_file *f = &l->files[i];
    char path[STORAGE_PATH_MAX];
    (void)storage_path(s, path, sizeof(path), "seg", f->seq);
    if (seg_override(s, h->first_index, i == 0) != 0) {
        load_corrupt(s, path, 0, "gap in log indexes before this segment");
        return CAIRN_ECORRUPT;
    }
    struct storage_scan sc;
    l->seq_parsing = f->seq;
    int rc = storage_seg_scan(f->buf, end, h->first_index, last, collect, s,
                              &sc);
    if (rc == CAIRN_ENOMEM) {
        load_io_error(s, rc, "parsing");
        return rc;
    }
    if (rc != 0) {
        load_corrupt(s, path, sc.bad_offset, sc.why);
        return CAIRN_ECORRUPT;
    }
    if (sc.torn) {
        LOG_WARNING("storage: %s: torn record at byte offset %" PRIu64
                    " dropped (a crash during an append)", path, sc.end);
        s->stats.torn_tails++;
    }
    struct storage_seg g = {.seq = f->seq, .first_index = h->first_index,
                            .last_index = sc.last_index, .end = sc.end};
    rc = storage_segs_push(s, &g);
    if (rc != 0)
        load_io_error(s, rc, "parsing");
    return rc;
}

static int parse_headers(struct storage *s, struct storage_seg_header *hs,
                         size_t *n_valid)
{
    struct storage_load *l = s->load;
    *n_valid = l->n_files;
    for (size_t i = 0; i < l->n_files; i++) {
        struct load_file *f = &l->files[i];
        char path[STORAGE_PATH_MAX];
        (void)storage_path(s, path, sizeof(path), "seg", f->seq);
        int rc = storage_seg_header_decode(f->buf, f->len, &hs[i]);
        if (rc != 0 && i + 1 == l->n_files &&
            f->len < STORAGE_SEG_HEADER_SIZE) {
            LOG_WARNING("storage: %s: torn segment header, file ignored",
                        path);
            s->stats.torn_tails++;
            *n_valid = i;
            return 0;
        }
        if (rc == 0 && (hs[i].group_id != s->group_id || hs[i].seq != f->seq))
            rc = CAIRN_ECORRUPT;
        if (rc != 0) {
            load_corrupt(s, path, 0, "segment header invalid");
            return CAIRN_ECORRUPT;
        }
    }
    return 0;
}

static int parse_all(struct storage *s)
{
    struct storage_load *l = s->load;
    struct storage_seg_header *hs =
        cairn_calloc(l->n_files + 1, sizeof(*hs));
    if (hs == NULL) {
        load_io_error(s, CAIRN_ENOMEM, "parsing");
        return CAIRN_ENOMEM;
    }
    size_t n;
    int rc = parse_headers(s, hs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool last = i + 1 == n;
        uint64_t end = last ? l->files[i].len : hs[i + 1].prev_end;
        if (end > l->files[i].len || end < STORAGE_SEG_HEADER_SIZE) {
            char path[STORAGE_PATH_MAX];
            (void)storage_path(s, path, sizeof(path), "seg", l->files[i].seq);
            load_corrupt(s, path, l->files[i].len,
                         "segment ends before its successor says");
            rc = CAIRN_ECORRUPT;
            break;
        }
        rc = parse_one(s, i, end, last, &hs[i]);
    }
    /* A torn-header last file is rewritten under the same seq. */
    s->next_seq = n < l->n_files ? l->files[n].seq
                  : n > 0        ? l->files[n - 1].seq + 1
                                 : s->meta.first_seg;
    cairn_free(hs);
    return rc;
}

static int build_restore(struct storage *s)
{
    struct storage_load *l = s->load;
    if (l->fresh && l->n_files > 0) {
        load_corrupt(s, l->path, 0,
                     "log segments exist but the meta file has no state");
        return CAIRN_ECORRUPT;
    }
    if (parse_all(s) != 0 || check_terms(s) != 0)
        return -1;
    s->last_index = s->meta.snap_index;
    s->last_term = s->meta.snap_term;
    for (size_t i = 0; i < l->n_entries; i++) {
        const struct raft_entry *e = &l->entries[i];
        if (storage_runs_push(s, e->index, e->term) != 0) {
            load_io_error(s, CAIRN_ENOMEM, "parsing");
            return CAIRN_ENOMEM;
        }
        s->last_index = e->index;
        s->last_term = e->term;
    }
    struct raft_restore *rs = &l->rs;
    rs->hard_state.term = s->meta.term;
    rs->hard_state.vote = s->meta.vote;
    rs->hard_state.commit_index = s->meta.commit;
    rs->snapshot.last_index = s->meta.snap_index;
    rs->snapshot.last_term = s->meta.snap_term;
    rs->snapshot.conf = s->meta.conf;
    rs->snapshot.size = s->view != NULL ? s->view->len : 0;
    rs->entries = l->entries;
    rs->n_entries = l->n_entries;
    return 0;
}

/* ---- the chain ---- */

static void init_cb(void *ctx, int status, size_t n)
{
    struct storage *s = ctx;
    ASSERT(s->io_pending > 0);
    s->io_pending--;
    (void)n;
    if (s->closed) {
        storage_maybe_free(s);
        return;
    }
    if (status != 0) {
        load_io_error(s, status, s->load->phase == LD_INIT_WRITE
                                     ? "initial write of" : "fsync of");
    } else if (s->load->phase == LD_INIT_WRITE) {
        s->load->phase = LD_INIT_SYNC;
        load_step(s);
    } else {
        load_done(s, 0);
    }
    storage_maybe_free(s);
}

/* The first meta: both slots valid (seq 0 in slot 0, seq 1 in slot 1, as
 * every later seq k goes to slot k % 2), so that later a file of full size
 * with no valid slot can only be corruption. */
static void init_meta(struct storage *s)
{
    struct storage_load *l = s->load;
    (void)storage_path(s, l->path, sizeof(l->path), "meta", 0);
    struct storage_meta m = s->meta;
    m.seq = 0;
    storage_meta_encode(s->group_id, &m, l->init);
    m.seq = 1;
    storage_meta_encode(s->group_id, &m, l->init + STORAGE_META_SLOT_SIZE);
    s->meta.seq = 1;
    s->meta_seq_written = 1;
    s->durable = s->meta;
    l->phase = LD_INIT_WRITE;
    int rc = io_file_write(s->meta_file, 0, l->init, sizeof(l->init), s,
                           init_cb);
    if (rc != 0) {
        load_io_error(s, rc, "initial write of");
        return;
    }
    s->stats.meta_writes++;
    s->stats.bytes_written += sizeof(l->init);
    s->io_pending++;
}

static void load_step(struct storage *s)
{
    struct storage_load *l = s->load;
    int rc;
    switch (l->phase) {
    case LD_META: after_meta(s); return;
    case LD_SNAP: after_snap(s); return;
    case LD_SEG: after_seg(s); return;
    case LD_GAP:
        if (build_restore(s) != 0)
            return;
        if (l->fresh)
            init_meta(s);
        else
            load_done(s, 0);
        return;
    case LD_INIT_SYNC:
        rc = io_file_fsync(s->meta_file, s, init_cb);
        if (rc != 0) {
            load_io_error(s, rc, "fsync of");
            return;
        }
        s->stats.fsyncs++;
        s->io_pending++;
        return;
    default: UNREACHABLE();
    }
}

int storage_load_start(struct storage *s)
{
    struct storage_load *l = cairn_calloc(1, sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    buf_init(&l->data, 0);
    s->load = l;
    l->phase = LD_META;
    l->data_max = STORAGE_META_FILE_SIZE;
    int rc = storage_path(s, l->path, sizeof(l->path), "meta", 0);
    ASSERT(rc == 0);
    rc = io_file_open(s->io, l->path,
                      IO_OPEN_READ | IO_OPEN_WRITE | IO_OPEN_CREATE, s,
                      open_cb);
    if (rc != 0)
        return rc;
    s->io_pending++;
    return 0;
}
