/*
 * kv_int.h: private layout of the cache engine, shared by the files of src/kv only.
 *
 * Entry (one allocation per key, tuned for many small keys):
 *
 *   struct kv_entry { next; klen; meta }        16 bytes
 *   [expire_ms int64][xidx uint32]              12 bytes, only if KV_META_TTL
 *   key bytes                                   klen
 *   value:  INT  int64                          8 bytes
 *           EMB  uint32 vlen, bytes             4 + vlen
 *           RAW  struct kv_raw *                8 bytes (buffer owned)
 *
 * Values after the key are unaligned: they are read with memcpy.  A 16-byte
 * key with a 16-byte value takes 52 bytes (a 64-byte malloc chunk) plus one
 * table slot.
 *
 * Table (struct kv_dict): chained hashing with intrusive next pointers, two
 * power-of-two slot arrays during incremental rehashing (t[0] old, t[1] new;
 * buckets of t[0] below rehash_idx are empty).  Expiry index (struct kv_db
 * .expires): a dense array of the entries that have a TTL; each such entry
 * stores its index there (xidx), so add and remove are O(1) and active expiry
 * and volatile-* sampling never scan keys without a TTL.
 *
 * Invariants (checked by kv_check(), ASSERT_SLOW in tests):
 *   - every entry is in exactly one bucket, the one its hash selects in its
 *     table; t[0].used + t[1].used == dbsize;
 *   - an entry has KV_META_TTL iff it is in expires, at index xidx;
 *   - mem_used == the sum of usable sizes of all allocations the kv owns;
 *   - with no snapshot running, every entry's KV_META_SNAP bit equals
 *     kv->snap_mark (snapshot.c).
 */
#ifndef CAIRN_KV_KV_INT_H
#define CAIRN_KV_KV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/assert.h"
#include "core/limits.h"
#include "core/rng.h"
#include "kv/kv.h"

/* meta: bits 0..23 LRU clock or LFU (ldt << 8 | counter), 24..27 type,
 * 28..29 encoding, 30 has TTL, 31 snapshot mark (snapshot.c). */
#define KV_META_LRU_MASK 0xFFFFFFu
#define KV_META_TYPE_SHIFT 24
#define KV_META_ENC_SHIFT 28
#define KV_META_TTL (1u << 30)
#define KV_META_SNAP (1u << 31)

#define KV_TTL_BLOCK 12 /* int64 expire_ms + uint32 xidx */
#define KV_EMBSTR_LEN_MAX 44 /* Redis reports "embstr" up to this length */
#define KV_EMB_LEN_MAX 4096  /* longer values get their own buffer */

struct kv_entry {
    struct kv_entry *next;
    uint32_t klen;
    uint32_t meta;
    char data[];
};

struct kv_raw {
    size_t len;
    size_t cap;
    char data[];
};

struct kv_table {
    struct kv_entry **slots;
    uint64_t size; /* 0 or a power of two */
    uint64_t used;
};

struct kv_db {
    struct kv_table t[2];
    int64_t rehash_idx; /* -1 when not rehashing */
    struct kv_entry **expires;
    uint32_t expires_count;
    uint32_t expires_cap;
    uint32_t expire_cursor; /* active expiry position in expires */
};

#define KV_POOL_SIZE 16

struct kv_pool_slot {
    struct kv_entry *e;
    uint64_t idle; /* larger: better candidate */
    int db;
};

struct kv {
    struct kv_config cfg;
    struct kv_db dbs[CAIRN_DB_COUNT];
    struct cairn_rng rng;
    size_t mem_used;
    struct kv_stats stats;
    struct kv_pool_slot pool[KV_POOL_SIZE]; /* sorted by idle, ascending */
    int pool_len;
    int expire_db_next;
    int evict_db_next;
    /* Snapshot in progress (snapshot.c) or NULL.  Entries whose
     * KV_META_SNAP bit differs from snap_mark are "pending": present when
     * the snapshot began and not yet serialized.  With no snapshot running
     * every entry's bit equals snap_mark (kv_check). */
    struct kv_snap_writer *snap;
    uint32_t snap_mark; /* 0 or KV_META_SNAP */
};

/* ---- entry layout (entry.c) ---- */

static inline bool entry_has_ttl(const struct kv_entry *e)
{
    return (e->meta & KV_META_TTL) != 0;
}
static inline enum kv_encoding entry_enc(const struct kv_entry *e)
{
    return (enum kv_encoding)((e->meta >> KV_META_ENC_SHIFT) & 3u);
}
static inline char *entry_key(const struct kv_entry *e)
{
    return (char *)e->data + (entry_has_ttl(e) ? KV_TTL_BLOCK : 0);
}
static inline char *entry_val(const struct kv_entry *e)
{
    return entry_key(e) + e->klen;
}
static inline int64_t entry_expire(const struct kv_entry *e)
{
    int64_t v;
    if (!entry_has_ttl(e))
        return KV_NO_EXPIRE;
    memcpy(&v, e->data, sizeof(v));
    return v;
}
static inline void entry_expire_put(struct kv_entry *e, int64_t ms)
{
    ASSERT(entry_has_ttl(e));
    memcpy(e->data, &ms, sizeof(ms));
}
static inline uint32_t entry_xidx(const struct kv_entry *e)
{
    uint32_t v;
    ASSERT(entry_has_ttl(e));
    memcpy(&v, e->data + 8, sizeof(v));
    return v;
}
static inline void entry_xidx_put(struct kv_entry *e, uint32_t i)
{
    ASSERT(entry_has_ttl(e));
    memcpy(e->data + 8, &i, sizeof(i));
}
static inline uint32_t entry_lru(const struct kv_entry *e)
{
    return e->meta & KV_META_LRU_MASK;
}
static inline void entry_lru_put(struct kv_entry *e, uint32_t v)
{
    e->meta = (e->meta & ~KV_META_LRU_MASK) | (v & KV_META_LRU_MASK);
}
/* An entry is expired when now is past its expire time (Redis: now > when). */
static inline bool entry_expired(const struct kv_entry *e, int64_t now_ms)
{
    return entry_has_ttl(e) && now_ms > entry_expire(e);
}

/* Allocates an entry holding a string value, int-encoded if canonical (and
 * allow_int).  Returns NULL on allocation failure. */
struct kv_entry *entry_new_str(struct kv *kv, const void *key, size_t klen,
                               const void *val, size_t vlen, bool allow_int,
                               int64_t expire_ms);
struct kv_entry *entry_new_int(struct kv *kv, const void *key, size_t klen,
                               int64_t v, int64_t expire_ms);
/* Takes ownership of raw (freed on failure too). */
struct kv_entry *entry_new_raw(struct kv *kv, const void *key, size_t klen,
                               struct kv_raw *raw, int64_t expire_ms);
/* A copy of e under a new key with expire_ms; the value buffer is shared
 * (moved) if move_raw, else duplicated. */
struct kv_entry *entry_clone(struct kv *kv, const struct kv_entry *e,
                             const void *key, size_t klen, int64_t expire_ms,
                             bool move_raw);
/* Frees e (and its value buffer unless the value moved elsewhere). */
void entry_free(struct kv *kv, struct kv_entry *e, bool free_raw);
struct kv_raw *entry_raw(const struct kv_entry *e);
struct kv_raw *raw_new(struct kv *kv, size_t cap);
/* Grows raw to hold at least need bytes (greedy).  NULL on failure (raw
 * unchanged). */
struct kv_raw *raw_grow(struct kv *kv, struct kv_raw *raw, size_t need);
size_t entry_alloc_bytes(const struct kv_entry *e);
/* Writes the string value's bytes to out/len (int: into tmp). */
const char *entry_str(const struct kv_entry *e, char *tmp, size_t *len);
/* Bytes of key plus value inside the entry (after the TTL block). */
size_t entry_body_size(const struct kv_entry *e);

/* ---- table (dict.c) ---- */

uint64_t dict_hash(const struct kv *kv, const void *key, size_t klen);
/* Finds the link that points at key's entry (and its table in *table); NULL
 * if absent.  Performs one rehash step first, so a ref is valid only until
 * the next dict call. */
struct kv_entry **dict_find_ref(struct kv *kv, struct kv_db *db,
                                const void *key, size_t klen, uint64_t h,
                                int *table);
struct kv_entry *dict_find_const(const struct kv *kv, const struct kv_db *db,
                                 const void *key, size_t klen, uint64_t h);
/* Inserts e (its key must be absent) and grows the table if needed.
 * CAIRN_ENOMEM only when the db has no table yet and none can be made. */
int dict_insert(struct kv *kv, struct kv_db *db, struct kv_entry *e,
                 uint64_t h);
/* Unlinks the entry *ref points at; may shrink the table. */
/* Makes sure the db has a table, so the next dict_insert cannot fail. */
int dict_reserve(struct kv *kv, struct kv_db *db);
void dict_unlink(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                 int table);
void dict_rehash_step(struct kv *kv, struct kv_db *db, size_t buckets);
uint64_t dict_size(const struct kv_db *db);
void dict_release(struct kv *kv, struct kv_db *db);
/* Picks up to n entries from a random region of the table. */
size_t dict_sample(struct kv *kv, struct kv_db *db, struct kv_entry **out,
                   size_t n);
struct kv_entry *dict_random(struct kv *kv, struct kv_db *db);
size_t dict_slots_bytes(const struct kv_db *db);

/* ---- expiry index (expire.c) ---- */

/* Ensures room for one more entry (0 or CAIRN_ENOMEM); xvec_add then
 * cannot fail. */
int xvec_reserve(struct kv *kv, struct kv_db *db);
void xvec_add(struct kv_db *db, struct kv_entry *e);
void xvec_remove(struct kv *kv, struct kv_db *db, struct kv_entry *e);
void xvec_replace(struct kv_db *db, struct kv_entry *old,
                  struct kv_entry *e);
void xvec_release(struct kv *kv, struct kv_db *db);

/* ---- access metadata and eviction (evict.c) ---- */

void access_init(struct kv *kv, struct kv_entry *e, int64_t now_ms);
void access_touch(struct kv *kv, struct kv_entry *e, int64_t now_ms);
void pool_forget(struct kv *kv, const struct kv_entry *e);
void pool_replace(struct kv *kv, const struct kv_entry *old,
                  struct kv_entry *e);
void pool_clear(struct kv *kv);
/* Idle score of e for the current policy (larger: evict sooner). */
uint64_t evict_idle_score(const struct kv *kv, const struct kv_entry *e,
                          int64_t now_ms);
bool policy_uses_lfu(enum kv_policy p);

/* ---- snapshot hooks (snapshot.c) ---- */

/* Serializes e's current value into the running snapshot (copy before
 * write) and marks it done.  Called only for a pending entry. */
void snap_preimage(struct kv *kv, struct kv_db *db, struct kv_entry *e);
/* Before db's entries are all freed (FLUSHDB): saves the pending ones. */
void snap_flush_db(struct kv *kv, struct kv_db *db);
/* After two databases exchanged contents (SWAPDB). */
void snap_swap_db(struct kv *kv, int db1, int db2);
/* kv_free with a snapshot running: the writer fails with CAIRN_ESHUTDOWN. */
void snap_detach(struct kv *kv);

static inline bool entry_snap_pending(const struct kv *kv,
                                      const struct kv_entry *e)
{
    return kv->snap != NULL && (e->meta & KV_META_SNAP) != kv->snap_mark;
}
/* Every path that is about to change or free an entry calls this first. */
static inline void snap_before_write(struct kv *kv, struct kv_db *db,
                                     struct kv_entry *e)
{
    if (entry_snap_pending(kv, e))
        snap_preimage(kv, db, e);
}

/* ---- core (kv.c) ---- */

struct kv_db *kv_db_get(struct kv *kv, int db);
/* Removes and frees the entry at *ref (counts nothing). */
void kv_entry_remove(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                     int table);
/* Replaces the entry at *ref by e (same key), fixing the expiry index and the
 * eviction pool, and frees the old one (its raw buffer too if free_raw). */
void kv_entry_swap(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                   struct kv_entry *e, bool free_raw);
/* Checks every invariant above; returns true if they hold (tests). */
bool kv_check(const struct kv *kv);

#endif
