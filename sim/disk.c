/*
 * disk.c: the simulated disk; see disk.h for the durability model.
 *
 * Each inode keeps its synced bytes, its current bytes and the list of
 * unsynced operations between them, so a crash can replay any prefix of
 * that list.  Names live in two small tables: the current namespace and the
 * one last committed by an fsync.  Tables are arrays searched linearly: a
 * node has a handful of files (log segments, snapshots, metadata).
 */
#include "disk.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "io/io.h"
#include "sim_limits.h"

enum uop_kind { UOP_WRITE, UOP_TRUNCATE };

struct uop {
    uint8_t kind;
    uint64_t offset; /* write position, or the new size of a truncate */
    uint32_t len;
    uint8_t *data;
};

struct inode {
    bool used;
    uint32_t gen;
    uint32_t open_count;
    struct sim_bytes cur;
    struct sim_bytes synced;
    struct uop *ops;
    uint32_t ops_len;
    uint32_t ops_cap;
};

struct name_entry {
    bool used;
    uint32_t inode;
    char name[SIM_DISK_NAME_MAX + 1];
};

struct sim_disk {
    struct cairn_rng *rng;
    struct sim_disk_config cfg;
    struct sim_disk_stats stats;
    int fail_next[SIM_DISK_OP_COUNT];
    struct inode inodes[SIM_DISK_FILES_MAX];
    struct name_entry names[SIM_DISK_FILES_MAX];
    struct name_entry durable[SIM_DISK_FILES_MAX];
    bool names_touched; /* names changed since they last equalled durable */
};

void sim_disk_config_default(struct sim_disk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->latency_min_us = 20;
    cfg->latency_tail_us = 80;
    cfg->fsync_extra_us = 500;
    cfg->crash_tears = true;
}

struct sim_disk *sim_disk_new(struct cairn_rng *rng,
                              const struct sim_disk_config *cfg)
{
    struct sim_disk *d = sim_xcalloc(1, sizeof(*d));
    d->rng = rng;
    d->cfg = *cfg;
    return d;
}

static void uops_clear(struct inode *ino)
{
    for (uint32_t i = 0; i < ino->ops_len; i++)
        cairn_free(ino->ops[i].data);
    ino->ops_len = 0;
}

static void inode_release(struct inode *ino)
{
    uops_clear(ino);
    cairn_free(ino->ops);
    sim_bytes_free(&ino->cur);
    sim_bytes_free(&ino->synced);
    uint32_t gen = ino->gen;
    memset(ino, 0, sizeof(*ino));
    ino->gen = gen + 1;
}

void sim_disk_free(struct sim_disk *d)
{
    if (d == NULL)
        return;
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        if (d->inodes[i].used)
            inode_release(&d->inodes[i]);
    cairn_free(d);
}

void sim_disk_stats_get(const struct sim_disk *d, struct sim_disk_stats *out)
{
    *out = d->stats;
}

uint64_t sim_disk_latency_us(struct sim_disk *d, enum sim_disk_op op)
{
    uint64_t t = d->cfg.latency_min_us;
    if (d->cfg.latency_tail_us > 0)
        t += cairn_rng_below(d->rng, d->cfg.latency_tail_us + 1);
    if (op == SIM_DISK_OP_FSYNC)
        t += d->cfg.fsync_extra_us;
    return t;
}

/* An injected failure for this operation, or 0. */
static int fault(struct sim_disk *d, enum sim_disk_op op, uint32_t ppm)
{
    int code = d->fail_next[op];
    if (code != 0) {
        d->fail_next[op] = 0;
    } else if (ppm > 0 && cairn_rng_chance(d->rng, ppm, 1000000)) {
        code = CAIRN_EIO;
    }
    if (code != 0)
        d->stats.faults_injected++;
    return code;
}

void sim_disk_fail_next(struct sim_disk *d, enum sim_disk_op op, int code)
{
    ASSERT(op < SIM_DISK_OP_COUNT);
    ASSERT(code < 0);
    d->fail_next[op] = code;
}

/* ---- names ---- */

static struct name_entry *name_find(struct name_entry *table, const char *name)
{
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        if (table[i].used && strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static struct name_entry *name_slot(struct name_entry *table)
{
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        if (!table[i].used)
            return &table[i];
    return NULL;
}

static bool name_valid(const char *name)
{
    size_t len = strnlen(name, SIM_DISK_NAME_MAX + 1);
    return len > 0 && len <= SIM_DISK_NAME_MAX;
}

static bool inode_named(const struct sim_disk *d, uint32_t ino)
{
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++) {
        if (d->names[i].used && d->names[i].inode == ino)
            return true;
        if (d->durable[i].used && d->durable[i].inode == ino)
            return true;
    }
    return false;
}

/* Frees ino when no name (current or durable) and no handle reaches it. */
static void inode_collect(struct sim_disk *d, uint32_t ino)
{
    struct inode *in = &d->inodes[ino];
    if (in->used && in->open_count == 0 && !inode_named(d, ino))
        inode_release(in);
}

/* ---- data ---- */

static void apply_uop(struct sim_bytes *b, const struct uop *op, size_t len)
{
    if (op->kind == UOP_TRUNCATE)
        sim_bytes_resize(b, op->offset);
    else
        sim_bytes_write_at(b, op->offset, op->data, len);
}

static void uop_push(struct inode *in, uint8_t kind, uint64_t offset,
                     const void *data, size_t len)
{
    if (in->ops_len == SIM_DISK_UNSYNCED_OPS_MAX) {
        /* Writeback: the oldest unsynced op reaches the platter early. */
        apply_uop(&in->synced, &in->ops[0], in->ops[0].len);
        cairn_free(in->ops[0].data);
        memmove(&in->ops[0], &in->ops[1], (in->ops_len - 1) * sizeof(*in->ops));
        in->ops_len--;
    }
    if (in->ops_len == in->ops_cap) {
        in->ops_cap = in->ops_cap == 0 ? 16 : in->ops_cap * 2;
        in->ops = sim_xrealloc(in->ops, in->ops_cap * sizeof(*in->ops));
    }
    struct uop *op = &in->ops[in->ops_len++];
    op->kind = kind;
    op->offset = offset;
    op->len = (uint32_t)len;
    op->data = NULL;
    if (len > 0) {
        op->data = sim_xmalloc(len);
        memcpy(op->data, data, len);
    }
}

static struct inode *inode_of(struct sim_disk *d, struct sim_disk_handle h)
{
    ASSERT(h.inode < SIM_DISK_FILES_MAX);
    struct inode *in = &d->inodes[h.inode];
    ASSERT(in->used);
    ASSERT(in->gen == h.gen);
    ASSERT(in->open_count > 0);
    return in;
}

int sim_disk_open(struct sim_disk *d, const char *name, int flags,
                  struct sim_disk_handle *out)
{
    if (!name_valid(name))
        return CAIRN_EINVAL;
    int rc = fault(d, SIM_DISK_OP_OPEN, 0);
    if (rc != 0)
        return rc;
    struct name_entry *e = name_find(d->names, name);
    if (e == NULL) {
        if (!(flags & IO_OPEN_CREATE))
            return CAIRN_ENOTFOUND;
        e = name_slot(d->names);
        uint32_t ino = 0;
        while (ino < SIM_DISK_FILES_MAX && d->inodes[ino].used)
            ino++;
        if (e == NULL || ino == SIM_DISK_FILES_MAX)
            return CAIRN_EFULL;
        d->inodes[ino].used = true;
        e->used = true;
        e->inode = ino;
        memcpy(e->name, name, strlen(name) + 1);
        d->names_touched = true;
    }
    struct inode *in = &d->inodes[e->inode];
    if ((flags & IO_OPEN_TRUNCATE) && (flags & IO_OPEN_WRITE) &&
        in->cur.len > 0) {
        sim_bytes_resize(&in->cur, 0);
        uop_push(in, UOP_TRUNCATE, 0, NULL, 0);
    }
    in->open_count++;
    *out = (struct sim_disk_handle){.inode = e->inode, .gen = in->gen};
    return 0;
}

void sim_disk_close(struct sim_disk *d, struct sim_disk_handle h)
{
    struct inode *in = inode_of(d, h);
    in->open_count--;
    inode_collect(d, h.inode);
}

int sim_disk_read(struct sim_disk *d, struct sim_disk_handle h,
                  uint64_t offset, void *buf, size_t len, size_t *n)
{
    struct inode *in = inode_of(d, h);
    *n = 0;
    int rc = fault(d, SIM_DISK_OP_READ, d->cfg.read_fail_ppm);
    if (rc != 0)
        return rc;
    if (offset >= in->cur.len)
        return 0;
    size_t avail = in->cur.len - (size_t)offset;
    *n = len < avail ? len : avail;
    memcpy(buf, in->cur.data + offset, *n);
    return 0;
}

static uint64_t bytes_used(const struct sim_disk *d)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        if (d->inodes[i].used)
            total += d->inodes[i].cur.len;
    return total;
}

int sim_disk_write(struct sim_disk *d, struct sim_disk_handle h,
                   uint64_t offset, const void *data, size_t len)
{
    struct inode *in = inode_of(d, h);
    int rc = fault(d, SIM_DISK_OP_WRITE, d->cfg.write_fail_ppm);
    if (rc != 0)
        return rc;
    if (offset > UINT32_MAX || len > UINT32_MAX)
        return CAIRN_ERANGE;
    uint64_t end = offset + len;
    if (d->cfg.capacity_bytes != 0 && end > in->cur.len &&
        bytes_used(d) + (end - in->cur.len) > d->cfg.capacity_bytes)
        return CAIRN_EFULL;
    sim_bytes_write_at(&in->cur, offset, data, len);
    uop_push(in, UOP_WRITE, offset, data, len);
    d->stats.writes++;
    return 0;
}

int sim_disk_fsync(struct sim_disk *d, struct sim_disk_handle h)
{
    struct inode *in = inode_of(d, h);
    int rc = fault(d, SIM_DISK_OP_FSYNC, d->cfg.fsync_fail_ppm);
    if (rc != 0)
        return rc;
    /* synced + the unsynced ops == cur (sim_disk_check): applying just the
     * ops costs what was written, not the file's size. */
    for (uint32_t i = 0; i < in->ops_len; i++)
        apply_uop(&in->synced, &in->ops[i], in->ops[i].len);
    ASSERT_SLOW(in->synced.len == in->cur.len &&
                (in->cur.len == 0 ||
                 memcmp(in->synced.data, in->cur.data, in->cur.len) == 0));
    uops_clear(in);
    /* The journal commit makes every earlier name change durable.  The
     * tables are compared only after a change (64 KiB each). */
    if (d->names_touched &&
        memcmp(d->durable, d->names, sizeof(d->names)) != 0) {
        memcpy(d->durable, d->names, sizeof(d->names));
        for (uint32_t i = 0; i < SIM_DISK_FILES_MAX; i++)
            inode_collect(d, i);
    }
    d->names_touched = false;
    d->stats.fsyncs++;
    return 0;
}

int sim_disk_rename(struct sim_disk *d, const char *from, const char *to)
{
    if (!name_valid(from) || !name_valid(to))
        return CAIRN_EINVAL;
    int rc = fault(d, SIM_DISK_OP_RENAME, 0);
    if (rc != 0)
        return rc;
    struct name_entry *src = name_find(d->names, from);
    if (src == NULL)
        return CAIRN_ENOTFOUND;
    if (strcmp(from, to) == 0)
        return 0;
    d->names_touched = true;
    struct name_entry *dst = name_find(d->names, to);
    if (dst != NULL) {
        uint32_t old = dst->inode;
        dst->inode = src->inode;
        src->used = false;
        inode_collect(d, old);
        return 0;
    }
    memcpy(src->name, to, strlen(to) + 1);
    return 0;
}

int sim_disk_unlink(struct sim_disk *d, const char *name)
{
    if (!name_valid(name))
        return CAIRN_EINVAL;
    int rc = fault(d, SIM_DISK_OP_UNLINK, 0);
    if (rc != 0)
        return rc;
    struct name_entry *e = name_find(d->names, name);
    if (e == NULL)
        return CAIRN_ENOTFOUND;
    e->used = false;
    d->names_touched = true;
    inode_collect(d, e->inode);
    return 0;
}

/* ---- crash ---- */

/* Bytes of op that land when it is torn: a prefix of its sectors. */
static size_t torn_len(struct sim_disk *d, const struct uop *op)
{
    uint64_t first = op->offset / SIM_DISK_SECTOR_SIZE;
    uint64_t last = (op->offset + op->len - 1) / SIM_DISK_SECTOR_SIZE;
    uint64_t pieces = last - first + 1;
    uint64_t k = cairn_rng_below(d->rng, pieces);
    if (k == 0)
        return 0;
    uint64_t cut = (first + k) * SIM_DISK_SECTOR_SIZE;
    ASSERT(cut > op->offset);
    ASSERT(cut < op->offset + op->len);
    return (size_t)(cut - op->offset);
}

static void inode_crash(struct sim_disk *d, struct inode *in)
{
    uint32_t keep = (uint32_t)cairn_rng_below(d->rng, in->ops_len + 1);
    for (uint32_t i = 0; i < keep; i++)
        apply_uop(&in->synced, &in->ops[i], in->ops[i].len);
    if (keep < in->ops_len && d->cfg.crash_tears &&
        in->ops[keep].kind == UOP_WRITE && in->ops[keep].len > 0) {
        size_t part = torn_len(d, &in->ops[keep]);
        if (part > 0) {
            apply_uop(&in->synced, &in->ops[keep], part);
            d->stats.writes_torn++;
        }
    }
    d->stats.writes_lost += in->ops_len - keep;
    uops_clear(in);
    sim_bytes_copy(&in->cur, &in->synced);
    in->open_count = 0;
    in->gen++; /* every handle from before the crash is now invalid */
}

void sim_disk_crash(struct sim_disk *d)
{
    d->stats.crashes++;
    memcpy(d->names, d->durable, sizeof(d->names));
    d->names_touched = false;
    for (uint32_t i = 0; i < SIM_DISK_FILES_MAX; i++) {
        struct inode *in = &d->inodes[i];
        if (!in->used)
            continue;
        if (inode_named(d, i))
            inode_crash(d, in);
        else
            inode_release(in);
    }
    memset(d->fail_next, 0, sizeof(d->fail_next));
}

void sim_disk_wipe(struct sim_disk *d)
{
    ASSERT(sim_disk_handles_open(d) == 0);
    d->stats.wipes++;
    memset(d->names, 0, sizeof(d->names));
    memset(d->durable, 0, sizeof(d->durable));
    for (uint32_t i = 0; i < SIM_DISK_FILES_MAX; i++)
        if (d->inodes[i].used)
            inode_release(&d->inodes[i]); /* bumps gen: old handles die */
    memset(d->fail_next, 0, sizeof(d->fail_next));
}

void sim_disk_fail_clear(struct sim_disk *d)
{
    memset(d->fail_next, 0, sizeof(d->fail_next));
}

/* ---- faults and inspection ---- */

/* Recomputes cur from synced and the unsynced ops. */
static void inode_replay(struct inode *in, struct sim_bytes *out)
{
    sim_bytes_copy(out, &in->synced);
    for (uint32_t i = 0; i < in->ops_len; i++)
        apply_uop(out, &in->ops[i], in->ops[i].len);
}

int sim_disk_corrupt(struct sim_disk *d, const char *name, uint64_t offset,
                     unsigned bit)
{
    ASSERT(bit < 8);
    struct name_entry *e = name_find(d->names, name);
    if (e == NULL)
        return CAIRN_ENOTFOUND;
    struct inode *in = &d->inodes[e->inode];
    if (offset >= in->synced.len)
        return CAIRN_ERANGE;
    in->synced.data[offset] ^= (uint8_t)(1u << bit);
    inode_replay(in, &in->cur);
    d->stats.faults_injected++;
    return 0;
}

int sim_disk_corrupt_random(struct sim_disk *d, char *name_out,
                            size_t name_out_len)
{
    unsigned candidates = 0;
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        candidates += d->names[i].used &&
                      d->inodes[d->names[i].inode].synced.len > 0;
    if (candidates == 0)
        return CAIRN_ENOTFOUND;
    uint64_t pick = cairn_rng_below(d->rng, candidates);
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++) {
        const struct name_entry *e = &d->names[i];
        if (!e->used || d->inodes[e->inode].synced.len == 0)
            continue;
        if (pick-- > 0)
            continue;
        size_t len = d->inodes[e->inode].synced.len;
        uint64_t off = cairn_rng_below(d->rng, len);
        unsigned bit = (unsigned)cairn_rng_below(d->rng, 8);
        if (name_out != NULL && name_out_len > 0) {
            strncpy(name_out, e->name, name_out_len - 1);
            name_out[name_out_len - 1] = '\0';
        }
        return sim_disk_corrupt(d, e->name, off, bit);
    }
    UNREACHABLE();
}

bool sim_disk_exists(const struct sim_disk *d, const char *name)
{
    return name_find((struct name_entry *)d->names, name) != NULL;
}

const uint8_t *sim_disk_contents(const struct sim_disk *d, const char *name,
                                 size_t *len)
{
    const struct name_entry *e = name_find((struct name_entry *)d->names, name);
    if (e == NULL)
        return NULL;
    *len = d->inodes[e->inode].cur.len;
    return d->inodes[e->inode].cur.data;
}

size_t sim_disk_file_count(const struct sim_disk *d)
{
    size_t n = 0;
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        n += d->names[i].used;
    return n;
}

size_t sim_disk_handles_open(const struct sim_disk *d)
{
    size_t n = 0;
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++)
        n += d->inodes[i].used ? d->inodes[i].open_count : 0;
    return n;
}

bool sim_disk_check(const struct sim_disk *d)
{
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX; i++) {
        if (d->names[i].used && !d->inodes[d->names[i].inode].used)
            return false;
        if (d->durable[i].used && !d->inodes[d->durable[i].inode].used)
            return false;
    }
    bool ok = true;
    struct sim_bytes tmp = {0};
    for (unsigned i = 0; i < SIM_DISK_FILES_MAX && ok; i++) {
        struct inode *in = (struct inode *)&d->inodes[i];
        if (!in->used)
            continue;
        inode_replay(in, &tmp);
        ok = tmp.len == in->cur.len &&
             (tmp.len == 0 || memcmp(tmp.data, in->cur.data, tmp.len) == 0);
    }
    sim_bytes_free(&tmp);
    return ok;
}
