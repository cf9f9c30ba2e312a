/*
 * snapshot.c: incremental, fork-free snapshots of the cache and their
 * streaming, validating loader.
 *
 * Format (all integers little-endian; varints are LEB128, minimal length):
 *
 *   header  "CAIRNSNP" | u32 version | u32 db_count | u64 key_count | u64 tag
 *   record  u8 kind | u8 db | varint klen | key | value | [i64 expire_ms]
 *           kind: bits 0-3 type (0: string), bits 4-5 value format
 *           (0: int64 as zigzag varint, 1: varint length + bytes), bit 6 an
 *           expire time follows, bit 7 zero
 *   trailer u8 0xFF | u32 CRC-32C of every byte before it
 *
 * Exactly key_count records follow the header, in no defined order.
 *
 * Writer mechanism (copy before write): each entry has a mark bit
 * (KV_META_SNAP).  Begin flips kv->snap_mark, which makes every existing
 * entry "pending"; entries created later are born with the new mark and are
 * skipped.  The writer walks each database with the SCAN cursor, which visits
 * every entry present for the whole walk at least once whatever rehashing
 * and resizes happen between steps; it serializes pending entries and marks
 * them.  Every path that is about to change or free an entry calls
 * snap_before_write() first (kv_int.h), which serializes a pending entry's
 * old value into the writer's queue.  So each entry present at begin is
 * serialized exactly once, with its value at begin: the mark prevents
 * duplicates, SCAN plus the hook prevent misses.  Checked at the end:
 * records written == key_count (ASSERT).  SWAPDB exchanges the writer's
 * per-database walk state with the contents, so records keep the database
 * number they had at begin.
 *
 * Costs: a mark test on every write while a snapshot runs; the writer's queue
 * holds the old values of entries written before the walk reached them (at
 * worst the whole state, as fork's copy-on-write would), and FLUSHDB
 * serializes the pending part of that database at once.  Abort is O(keys).
 *
 * Loader: parses one item (header, record, trailer) at a time straight from
 * the fed bytes; an item split across feeds is collected in a carry buffer
 * that only grows with bytes received.  Every field is validated; the CRC is
 * compared at the end, and until then everything goes into a fresh kv that
 * the caller installs only on success.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "kv/kv_int.h"
#include "kv/snapshot.h"

/* SCAN steps per kv_snapshot_next call: tables are at least 1/8 full (they
 * shrink below that), so this bounds the time spent on empty buckets. */
#define SNAP_SCAN_STEPS_MAX 16384
/* Bytes moved into the loader's carry buffer beyond the known need, so an
 * item whose length fields are split is completed in one or two rounds. */
#define SNAP_CARRY_STEP 64
#define SNAP_PREFETCH_AHEAD 8
#define SNAP_TRAILER_SIZE 5
#define SNAP_VARINT_LEN_MAX 10

#define REC_TYPE_MASK 0x0Fu
#define REC_FMT_SHIFT 4
#define REC_FMT_INT 0u
#define REC_FMT_STR 1u
#define REC_EXPIRE 0x40u
#define REC_RESERVED 0x80u
#define REC_END 0xFFu

/* ---- little-endian and varint primitives ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a minimal LEB128 varint at *pos.  0, CAIRN_EAGAIN (input ends
 * inside it) or CAIRN_ECORRUPT (overlong, over 64 bits, not minimal). */
static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < SNAP_VARINT_LEN_MAX; i++) {
        if (*pos + i >= n)
            return CAIRN_EAGAIN;
        uint8_t b = p[*pos + i];
        if (i == SNAP_VARINT_LEN_MAX - 1 && b > 1)
            return CAIRN_ECORRUPT;
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            if (b == 0 && i > 0)
                return CAIRN_ECORRUPT;
            *pos += i + 1;
            *out = v;
            return 0;
        }
    }
    return CAIRN_ECORRUPT;
}

static uint64_t zigzag(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0 - (u >> 63));
}

static int64_t unzigzag(uint64_t z)
{
    return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}

/* ---- writer ---- */

struct snap_slot {
    uint64_t cursor; /* SCAN cursor of this table */
    int db;          /* database number the contents had at begin */
    bool done;
};

struct kv_snap_writer {
    struct kv *kv; /* NULL once the kv was freed */
    struct snap_slot slots[CAIRN_DB_COUNT];
    struct buf pending; /* encoded bytes not handed out yet */
    size_t pending_pos;
    uint32_t crc; /* over every byte queued before the CRC itself */
    uint64_t tag;
    uint64_t keys_total;
    uint64_t keys_written;
    uint64_t bytes_out;
    int scan_slot; /* the slot kv_scan is walking, for scan_visit */
    int pf_slot;   /* prefetch cursor (a hint only) */
    uint64_t pf_mask;
    uint64_t pf_cursor;
    int pf_left;
    bool trailer_queued;
    bool finished;
    int err;
};

static void entry_mark_done(const struct kv *kv, struct kv_entry *e)
{
    e->meta = (e->meta & ~KV_META_SNAP) | kv->snap_mark;
}

/* Appends e's record (as database db) to the queue.  0 or CAIRN_ENOMEM. */
static int encode_entry(struct kv_snap_writer *w, int db,
                        const struct kv_entry *e)
{
    ASSERT(kv_entry_type(e) == KV_TYPE_STRING); /* other types: new formats */
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    char tmp[24];
    size_t vlen = 0;
    const char *v = NULL;
    uint64_t zz = 0;
    bool is_int = entry_enc(e) == KV_ENC_INT;
    if (is_int) {
        int64_t iv;
        memcpy(&iv, entry_val(e), sizeof(iv));
        zz = zigzag(iv);
    } else {
        v = entry_str(e, tmp, &vlen);
    }
    bool ttl = entry_has_ttl(e);
    size_t size = 2 + varint_len(e->klen) + e->klen +
                  (is_int ? varint_len(zz) : varint_len(vlen) + vlen) +
                  (ttl ? 8 : 0);
    if (buf_reserve(&w->pending, size) != 0)
        return CAIRN_ENOMEM;
    uint8_t *start = (uint8_t *)w->pending.data + w->pending.len;
    uint8_t *p = start;
    *p++ = (uint8_t)((uint32_t)KV_TYPE_STRING |
                     (is_int ? REC_FMT_INT : REC_FMT_STR) << REC_FMT_SHIFT |
                     (ttl ? REC_EXPIRE : 0));
    *p++ = (uint8_t)db;
    p += put_varint(p, e->klen);
    memcpy(p, entry_key(e), e->klen);
    p += e->klen;
    if (is_int) {
        p += put_varint(p, zz);
    } else {
        p += put_varint(p, vlen);
        if (vlen > 0)
            memcpy(p, v, vlen);
        p += vlen;
    }
    if (ttl) {
        put_u64(p, (uint64_t)entry_expire(e));
        p += 8;
    }
    ASSERT((size_t)(p - start) == size);
    w->crc = cairn_crc32c(w->crc, start, size);
    w->pending.len += size;
    return 0;
}

/* Serializes pending entry e of table slot `slot` and marks it done.  A
 * failure voids the snapshot (the mark is set anyway so later writes do not
 * come back here; kv_snapshot_end fixes the rest). */
static void emit(struct kv_snap_writer *w, int slot, struct kv_entry *e)
{
    ASSERT(entry_snap_pending(w->kv, e));
    if (w->err == 0) {
        int rc = encode_entry(w, w->slots[slot].db, e);
        if (rc != 0)
            w->err = rc;
        else
            w->keys_written++;
    }
    entry_mark_done(w->kv, e);
}

void snap_preimage(struct kv *kv, struct kv_db *db, struct kv_entry *e)
{
    ASSERT(kv->snap != NULL);
    ASSERT(db >= kv->dbs && db < kv->dbs + CAIRN_DB_COUNT);
    emit(kv->snap, (int)(db - kv->dbs), e);
}

void snap_flush_db(struct kv *kv, struct kv_db *db)
{
    ASSERT(kv->snap != NULL);
    for (int t = 0; t < 2; t++) {
        for (uint64_t b = 0; b < db->t[t].size; b++) {
            for (struct kv_entry *e = db->t[t].slots[b]; e != NULL;
                 e = e->next) {
                if (entry_snap_pending(kv, e))
                    snap_preimage(kv, db, e);
            }
        }
    }
}

void snap_swap_db(struct kv *kv, int db1, int db2)
{
    struct kv_snap_writer *w = kv->snap;
    ASSERT(w != NULL);
    struct snap_slot tmp = w->slots[db1];
    w->slots[db1] = w->slots[db2];
    w->slots[db2] = tmp;
}

/* Voids the running snapshot: the writer reports err from now on and no
 * longer refers to kv.  The caller replaces or frees every entry of kv, so
 * the marks left behind do not matter. */
static void snap_void(struct kv *kv, int err)
{
    struct kv_snap_writer *w = kv->snap;
    ASSERT(w != NULL && w->kv == kv);
    w->err = err;
    w->kv = NULL;
    kv->snap = NULL;
}

void snap_detach(struct kv *kv)
{
    snap_void(kv, CAIRN_ESHUTDOWN);
}

static void put_header(struct kv_snap_writer *w)
{
    uint8_t *p = (uint8_t *)w->pending.data;
    memcpy(p, KV_SNAPSHOT_MAGIC, 8);
    put_u32(p + 8, KV_SNAPSHOT_VERSION);
    put_u32(p + 12, CAIRN_DB_COUNT);
    put_u64(p + 16, w->keys_total);
    put_u64(p + 24, w->tag);
    w->crc = cairn_crc32c(0, p, KV_SNAPSHOT_HEADER_SIZE);
    w->pending.len = KV_SNAPSHOT_HEADER_SIZE;
}

int kv_snapshot_begin(struct kv *kv, uint64_t tag,
                      struct kv_snap_writer **out)
{
    if (kv->snap != NULL)
        return CAIRN_EBUSY;
    struct kv_snap_writer *w = cairn_calloc(1, sizeof(*w));
    if (w == NULL)
        return CAIRN_ENOMEM;
    buf_init(&w->pending, 0);
    if (buf_reserve(&w->pending, KV_SNAPSHOT_HEADER_SIZE) != 0) {
        cairn_free(w);
        return CAIRN_ENOMEM;
    }
    w->kv = kv;
    w->tag = tag;
    for (int i = 0; i < CAIRN_DB_COUNT; i++) {
        w->slots[i].db = i;
        w->keys_total += kv_dbsize(kv, i);
    }
    put_header(w);
    /* From here every existing entry is pending and new ones are not. */
    kv->snap_mark ^= KV_META_SNAP;
    kv->snap = w;
    *out = w;
    return 0;
}

static void scan_visit(void *ctx, const struct kv_entry *ce)
{
    struct kv_snap_writer *w = ctx;
    /* The writer was given the kv mutably; kv_scan hands out const pointers
     * because it promises not to move entries, and only the mark changes. */
    struct kv_entry *e = (struct kv_entry *)ce;
    if (entry_snap_pending(w->kv, e))
        emit(w, w->scan_slot, e);
}

static uint64_t rev_bits(uint64_t v)
{
    v = ((v >> 1) & UINT64_C(0x5555555555555555)) |
        ((v & UINT64_C(0x5555555555555555)) << 1);
    v = ((v >> 2) & UINT64_C(0x3333333333333333)) |
        ((v & UINT64_C(0x3333333333333333)) << 2);
    v = ((v >> 4) & UINT64_C(0x0F0F0F0F0F0F0F0F)) |
        ((v & UINT64_C(0x0F0F0F0F0F0F0F0F)) << 4);
    return __builtin_bswap64(v);
}

/* The walk's order jumps across the slot array (reverse-binary cursor), so
 * nearly every bucket and entry is a cache miss.  Keeps a cursor running
 * SNAP_PREFETCH_AHEAD buckets ahead and prefetches its chain head: only a
 * hint, no effect on what is written. */
static void prefetch_ahead(struct kv_snap_writer *w, int s)
{
    const struct kv_db *db = &w->kv->dbs[s];
    if (db->rehash_idx >= 0 || db->t[0].size == 0)
        return;
    uint64_t m = db->t[0].size - 1;
    if (w->pf_slot != s || w->pf_mask != m || w->pf_left == 0) {
        w->pf_slot = s;
        w->pf_mask = m;
        w->pf_cursor = w->slots[s].cursor;
        w->pf_left = 0;
    }
    while (w->pf_left < SNAP_PREFETCH_AHEAD) {
        w->pf_cursor = rev_bits(rev_bits(w->pf_cursor | ~m) + 1);
        w->pf_left++;
        if (w->pf_cursor == 0)
            break;
        const struct kv_entry *e = db->t[0].slots[w->pf_cursor & m];
        if (e != NULL)
            __builtin_prefetch(e);
    }
    w->pf_left--;
}

/* Walks the tables until want bytes are queued, the step budget is used or
 * every table is done.  Returns true when every table is done. */
static bool scan_some(struct kv_snap_writer *w, size_t want, size_t *steps)
{
    int s = 0;
    while (w->err == 0 && *steps < SNAP_SCAN_STEPS_MAX &&
           w->pending.len - w->pending_pos < want) {
        while (s < CAIRN_DB_COUNT && w->slots[s].done)
            s++;
        if (s == CAIRN_DB_COUNT)
            return true;
        w->scan_slot = s;
        prefetch_ahead(w, s);
        uint64_t next = kv_scan(w->kv, s, w->slots[s].cursor, scan_visit, w);
        (*steps)++;
        w->slots[s].cursor = next;
        w->slots[s].done = next == 0;
    }
    return false;
}

static int queue_trailer(struct kv_snap_writer *w)
{
    /* Exactly once: the marks forbid duplicates, so equal counts mean no
     * entry present at begin was missed. */
    ASSERT(w->keys_written == w->keys_total);
    if (buf_reserve(&w->pending, SNAP_TRAILER_SIZE) != 0)
        return CAIRN_ENOMEM;
    uint8_t *p = (uint8_t *)w->pending.data + w->pending.len;
    p[0] = REC_END;
    w->crc = cairn_crc32c(w->crc, p, 1);
    put_u32(p + 1, w->crc);
    w->pending.len += SNAP_TRAILER_SIZE;
    w->trailer_queued = true;
    return 0;
}

/* Moves up to room queued bytes to out; returns the count or an error. */
static int drain(struct kv_snap_writer *w, struct buf *out, size_t room,
                 size_t *moved)
{
    size_t n = CAIRN_MIN(room, w->pending.len - w->pending_pos);
    int rc = buf_append(out, w->pending.data + w->pending_pos, n);
    if (rc != 0)
        return rc;
    w->pending_pos += n;
    w->bytes_out += n;
    *moved = n;
    if (w->pending_pos == w->pending.len) {
        w->pending.len = 0;
        w->pending_pos = 0;
        buf_shrink(&w->pending, 1u << 20);
    }
    return 0;
}

int kv_snapshot_next(struct kv_snap_writer *w, struct buf *out,
                     size_t bytes_max)
{
    ASSERT(bytes_max > 0);
    if (w->err != 0)
        return w->err;
    if (w->finished)
        return 0;
    size_t produced = 0, steps = 0;
    while (produced < bytes_max) {
        if (w->pending.len > w->pending_pos) {
            size_t moved;
            int rc = drain(w, out, bytes_max - produced, &moved);
            if (rc != 0)
                return w->err = rc;
            produced += moved;
            continue;
        }
        if (w->trailer_queued)
            break;
        if (!scan_some(w, bytes_max - produced, &steps)) {
            if (w->err != 0)
                return w->err;
            if (w->pending.len == w->pending_pos)
                return 1; /* step budget used on empty buckets */
            continue;
        }
        int rc = queue_trailer(w);
        if (rc != 0)
            return w->err = rc;
    }
    if (w->trailer_queued && w->pending.len == w->pending_pos) {
        w->finished = true;
        w->kv->snap = NULL;
        return 0;
    }
    return 1;
}

uint64_t kv_snapshot_bytes(const struct kv_snap_writer *w)
{
    return w->bytes_out;
}

uint64_t kv_snapshot_keys(const struct kv_snap_writer *w)
{
    return w->keys_total;
}

/* Aborting: entries the walk has not reached keep the old mark; reset them
 * so the invariant "no snapshot, every mark equal" holds again. */
static void clear_marks(struct kv *kv)
{
    for (int d = 0; d < CAIRN_DB_COUNT; d++) {
        struct kv_db *db = &kv->dbs[d];
        for (int t = 0; t < 2; t++) {
            for (uint64_t b = 0; b < db->t[t].size; b++) {
                for (struct kv_entry *e = db->t[t].slots[b]; e != NULL;
                     e = e->next)
                    entry_mark_done(kv, e);
            }
        }
    }
}

void kv_snapshot_end(struct kv_snap_writer *w)
{
    if (w == NULL)
        return;
    if (w->kv != NULL && !w->finished) {
        ASSERT(w->kv->snap == w);
        clear_marks(w->kv);
        w->kv->snap = NULL;
    }
    buf_free(&w->pending);
    cairn_free(w);
}

/* ---- loader ---- */

enum load_phase { LOAD_HEADER, LOAD_RECORDS, LOAD_DONE };

struct kv_snap_loader {
    struct kv *kv; /* being built; NULL once handed over */
    int64_t now_ms;
    struct buf carry; /* the start of an item split across feeds */
    uint32_t crc;     /* over every byte of the items parsed so far */
    uint64_t keys_total;
    uint64_t keys_loaded;
    uint64_t tag;
    uint32_t db_count;
    enum load_phase phase;
    int err;
};

/* One decoded record; key and val point into the input. */
struct snap_rec {
    int db;
    bool is_int;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
    int64_t ival;
    int64_t expire_ms;
};

int kv_snapshot_loader_new(const struct kv_config *cfg, int64_t now_ms,
                           struct kv_snap_loader **out)
{
    struct kv_snap_loader *l = cairn_calloc(1, sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    l->kv = kv_new(cfg);
    if (l->kv == NULL) {
        cairn_free(l);
        return CAIRN_ENOMEM;
    }
    l->now_ms = now_ms;
    buf_init(&l->carry, 0);
    l->phase = LOAD_HEADER;
    *out = l;
    return 0;
}

static int parse_header(struct kv_snap_loader *l, const uint8_t *p, size_t n,
                        size_t *used, size_t *need)
{
    *need = KV_SNAPSHOT_HEADER_SIZE;
    if (n < 8 && memcmp(p, KV_SNAPSHOT_MAGIC, n) != 0)
        return CAIRN_ECORRUPT; /* reject garbage before it all arrives */
    if (n < KV_SNAPSHOT_HEADER_SIZE)
        return CAIRN_EAGAIN;
    if (memcmp(p, KV_SNAPSHOT_MAGIC, 8) != 0)
        return CAIRN_ECORRUPT;
    if (get_u32(p + 8) != KV_SNAPSHOT_VERSION)
        return CAIRN_EVERSION;
    uint32_t dbs = get_u32(p + 12);
    if (dbs == 0)
        return CAIRN_ECORRUPT;
    if (dbs > CAIRN_DB_COUNT)
        return CAIRN_ETOOBIG; /* written by a node with more databases */
    l->db_count = dbs;
    l->keys_total = get_u64(p + 16);
    l->tag = get_u64(p + 24);
    l->crc = cairn_crc32c(0, p, KV_SNAPSHOT_HEADER_SIZE);
    l->phase = LOAD_RECORDS;
    *used = KV_SNAPSHOT_HEADER_SIZE;
    return 0;
}

static int parse_trailer(struct kv_snap_loader *l, const uint8_t *p,
                         size_t n, size_t *used, size_t *need)
{
    if (p[0] != REC_END)
        return CAIRN_ECORRUPT; /* more records than the header counted */
    *need = SNAP_TRAILER_SIZE;
    if (n < SNAP_TRAILER_SIZE)
        return CAIRN_EAGAIN;
    uint32_t crc = cairn_crc32c(l->crc, p, 1);
    if (get_u32(p + 1) != crc)
        return CAIRN_ECORRUPT;
    l->phase = LOAD_DONE;
    *used = SNAP_TRAILER_SIZE;
    return 0;
}

/* Reads a length field and checks it against limit; on EAGAIN *need says
 * how many bytes to wait for. */
static int get_len(const uint8_t *p, size_t n, size_t *pos, uint64_t limit,
                   size_t *len, size_t *need)
{
    uint64_t v;
    int rc = get_varint(p, n, pos, &v);
    if (rc == CAIRN_EAGAIN)
        *need = n + 1;
    if (rc != 0)
        return rc;
    if (v > limit || v > UINT32_MAX)
        return CAIRN_ETOOBIG;
    *len = (size_t)v;
    if (n - *pos < *len) {
        *need = *pos + *len + 1;
        return CAIRN_EAGAIN;
    }
    return 0;
}

/* Decodes the value and expire time of a record whose kind byte is kind. */
static int parse_value(const struct kv_snap_loader *l, const uint8_t *p,
                       size_t n, size_t *pos, uint8_t kind,
                       struct snap_rec *r, size_t *need)
{
    int rc;
    r->is_int = ((kind >> REC_FMT_SHIFT) & 3u) == REC_FMT_INT;
    if (r->is_int) {
        uint64_t z;
        rc = get_varint(p, n, pos, &z);
        if (rc == CAIRN_EAGAIN)
            *need = n + 1;
        if (rc != 0)
            return rc;
        r->ival = unzigzag(z);
    } else {
        rc = get_len(p, n, pos, l->kv->cfg.string_len_max, &r->vlen, need);
        if (rc != 0)
            return rc;
        r->val = p + *pos;
        *pos += r->vlen;
    }
    r->expire_ms = KV_NO_EXPIRE;
    if (kind & REC_EXPIRE) {
        if (n - *pos < 8) {
            *need = *pos + 8;
            return CAIRN_EAGAIN;
        }
        r->expire_ms = (int64_t)get_u64(p + *pos);
        if (r->expire_ms == KV_NO_EXPIRE)
            return CAIRN_ECORRUPT;
        *pos += 8;
    }
    return 0;
}

static int parse_record(struct kv_snap_loader *l, const uint8_t *p, size_t n,
                        struct snap_rec *r, size_t *used, size_t *need)
{
    uint8_t kind = p[0];
    if ((kind & REC_RESERVED) != 0 || (kind & REC_TYPE_MASK) != KV_TYPE_STRING)
        return CAIRN_ECORRUPT;
    uint32_t fmt = (kind >> REC_FMT_SHIFT) & 3u;
    if (fmt != REC_FMT_INT && fmt != REC_FMT_STR)
        return CAIRN_ECORRUPT;
    if (n < 2) {
        *need = 2;
        return CAIRN_EAGAIN;
    }
    if (p[1] >= l->db_count)
        return CAIRN_ECORRUPT;
    r->db = p[1];
    size_t pos = 2;
    int rc = get_len(p, n, &pos, l->kv->cfg.string_len_max, &r->klen, need);
    if (rc != 0)
        return rc;
    r->key = p + pos;
    pos += r->klen;
    rc = parse_value(l, p, n, &pos, kind, r, need);
    if (rc != 0)
        return rc;
    *used = pos;
    return 0;
}

/* Adds a decoded record to the kv being built: CAIRN_ECORRUPT for a key
 * already there, CAIRN_ENOMEM. */
static int apply_record(struct kv_snap_loader *l, const struct snap_rec *r)
{
    struct kv *kv = l->kv;
    struct kv_db *db = kv_db_get(kv, r->db);
    /* Inserts alone never rehash; do the step a key operation would. */
    dict_rehash_step(kv, db, 1);
    uint64_t h = dict_hash(kv, r->key, r->klen);
    if (dict_find_const(kv, db, r->key, r->klen, h) != NULL)
        return CAIRN_ECORRUPT;
    if (dict_reserve(kv, db) != 0)
        return CAIRN_ENOMEM;
    if (r->expire_ms != KV_NO_EXPIRE && xvec_reserve(kv, db) != 0)
        return CAIRN_ENOMEM;
    struct kv_entry *e =
        r->is_int ? entry_new_int(kv, r->key, r->klen, r->ival, r->expire_ms)
                  : entry_new_str(kv, r->key, r->klen, r->val, r->vlen, false,
                                  r->expire_ms);
    if (e == NULL)
        return CAIRN_ENOMEM;
    access_init(kv, e, l->now_ms);
    int rc = dict_insert(kv, db, e, h);
    ASSERT(rc == 0); /* dict_reserve made the table */
    if (r->expire_ms != KV_NO_EXPIRE)
        xvec_add(db, e);
    ASSERT(kv_entry_expire(e) == r->expire_ms);
    return 0;
}

/* Parses and applies one item from p (n > 0).  0 with *used set,
 * CAIRN_EAGAIN with *need (> n) set, or an error. */
static int parse_item(struct kv_snap_loader *l, const uint8_t *p, size_t n,
                      size_t *used, size_t *need)
{
    ASSERT(n > 0);
    if (l->phase == LOAD_HEADER)
        return parse_header(l, p, n, used, need);
    if (l->phase == LOAD_DONE)
        return CAIRN_ECORRUPT; /* bytes after the trailer */
    if (l->keys_loaded == l->keys_total)
        return parse_trailer(l, p, n, used, need);
    struct snap_rec r;
    int rc = parse_record(l, p, n, &r, used, need);
    if (rc != 0)
        return rc;
    rc = apply_record(l, &r);
    if (rc != 0)
        return rc;
    l->crc = cairn_crc32c(l->crc, p, *used);
    l->keys_loaded++;
    return 0;
}

static int loader_fail(struct kv_snap_loader *l, int rc)
{
    ASSERT(rc < 0 && rc != CAIRN_EAGAIN);
    l->err = rc;
    return rc;
}

/* Completes the item that began in an earlier feed, taking bytes from *p.
 * Returns 0 when the carry is empty or all input is used, or an error. */
static int feed_carry(struct kv_snap_loader *l, const uint8_t **p, size_t *n)
{
    while (l->carry.len > 0) {
        size_t used = 0, need = 0;
        int rc = parse_item(l, (const uint8_t *)l->carry.data, l->carry.len,
                            &used, &need);
        if (rc == CAIRN_EAGAIN) {
            ASSERT(need > l->carry.len);
            if (*n == 0)
                return 0;
            size_t take = CAIRN_MIN(
                *n, CAIRN_MAX(need - l->carry.len, SNAP_CARRY_STEP));
            if (buf_append(&l->carry, *p, take) != 0)
                return CAIRN_ENOMEM;
            *p += take;
            *n -= take;
            continue;
        }
        if (rc != 0)
            return rc;
        ASSERT(used > 0 && used <= l->carry.len);
        buf_consume(&l->carry, used);
    }
    return 0;
}

int kv_snapshot_loader_feed(struct kv_snap_loader *l, const void *data,
                            size_t len)
{
    if (l->err != 0)
        return l->err;
    const uint8_t *p = data;
    size_t n = len;
    int rc = feed_carry(l, &p, &n);
    if (rc != 0)
        return loader_fail(l, rc);
    while (n > 0) {
        size_t used = 0, need = 0;
        rc = parse_item(l, p, n, &used, &need);
        if (rc == CAIRN_EAGAIN) {
            if (buf_append(&l->carry, p, n) != 0)
                return loader_fail(l, CAIRN_ENOMEM);
            break;
        }
        if (rc != 0)
            return loader_fail(l, rc);
        ASSERT(used > 0 && used <= n);
        p += used;
        n -= used;
    }
    return l->phase == LOAD_DONE ? 1 : 0;
}

int kv_snapshot_loader_finish(struct kv_snap_loader *l, struct kv **out,
                              uint64_t *tag)
{
    if (l->err != 0)
        return l->err;
    if (l->phase != LOAD_DONE || l->kv == NULL)
        return CAIRN_ECORRUPT; /* truncated */
    ASSERT(l->keys_loaded == l->keys_total);
    ASSERT(l->carry.len == 0);
    *out = l->kv;
    l->kv = NULL;
    if (tag != NULL)
        *tag = l->tag;
    return 0;
}

void kv_snapshot_loader_free(struct kv_snap_loader *l)
{
    if (l == NULL)
        return;
    kv_free(l->kv);
    buf_free(&l->carry);
    cairn_free(l);
}

void kv_snapshot_install(struct kv *kv, struct kv *loaded)
{
    ASSERT(kv != loaded);
    ASSERT(loaded->snap == NULL);
    if (kv->snap != NULL)
        snap_void(kv, CAIRN_ESTALE);
    ASSERT(kv->cfg.hash_seed == loaded->cfg.hash_seed);
    /* Each counts its own struct in mem_used (whose usable sizes may
     * differ); only the contents' share moves. */
    size_t own_kv = cairn_alloc_usable_size(kv);
    size_t own_loaded = cairn_alloc_usable_size(loaded);
    ASSERT(kv->mem_used >= own_kv);
    ASSERT(loaded->mem_used >= own_loaded);
    pool_clear(kv);
    pool_clear(loaded);
    for (int i = 0; i < CAIRN_DB_COUNT; i++) {
        struct kv_db tmp = kv->dbs[i];
        kv->dbs[i] = loaded->dbs[i];
        loaded->dbs[i] = tmp;
    }
    size_t contents_kv = kv->mem_used - own_kv;
    kv->mem_used = own_kv + (loaded->mem_used - own_loaded);
    loaded->mem_used = own_loaded + contents_kv;
    uint32_t mark = kv->snap_mark;
    kv->snap_mark = loaded->snap_mark;
    loaded->snap_mark = mark;
    kv_free(loaded);
}

int kv_snapshot_load(struct kv *kv, const void *data, size_t len,
                     int64_t now_ms, uint64_t *tag)
{
    struct kv_snap_loader *l;
    int rc = kv_snapshot_loader_new(&kv->cfg, now_ms, &l);
    if (rc != 0)
        return rc;
    rc = kv_snapshot_loader_feed(l, data, len);
    struct kv *fresh = NULL;
    if (rc >= 0)
        rc = kv_snapshot_loader_finish(l, &fresh, tag);
    kv_snapshot_loader_free(l);
    if (rc != 0)
        return rc;
    kv_snapshot_install(kv, fresh);
    return 0;
}
