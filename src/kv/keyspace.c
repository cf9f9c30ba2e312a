/*
 * keyspace.c: whole-key and whole-database operations (rename, copy, random
 * key, flush, swap, idle rehashing), the state digest and the invariant
 * checker.
 *
 * The digest is a sum of per-key hashes, so it does not depend on table
 * layout, insertion order or the hash seed; it covers db number, key, value
 * bytes (not their encoding) and expire time, which is what replicas must
 * agree on.  kv_check() recomputes every structural invariant listed in
 * kv_int.h from scratch; tests call it after each operation.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "kv/kv_int.h"

#define RANDOMKEY_TRIES 100

/* Removes dst (live or expired) from db if present. */
static void drop_key(struct kv *kv, struct kv_db *db, const void *key,
                     size_t klen)
{
    int table;
    struct kv_entry **ref = dict_find_ref(kv, db, key, klen,
                                          dict_hash(kv, key, klen), &table);
    if (ref != NULL)
        kv_entry_remove(kv, db, ref, table);
}

/* Finds a live key for writing (deleting it if expired); NULL if absent. */
static struct kv_entry *live_entry(struct kv *kv, int dbi, const void *key,
                                   size_t klen, int64_t now_ms)
{
    return kv_lookup_write(kv, dbi, key, klen, now_ms);
}

static int prepare_target(struct kv *kv, struct kv_db *ddb,
                          const struct kv_entry *s)
{
    if (dict_reserve(kv, ddb) != 0)
        return CAIRN_ENOMEM;
    if (entry_has_ttl(s) && xvec_reserve(kv, ddb) != 0)
        return CAIRN_ENOMEM;
    return 0;
}

int kv_rename(struct kv *kv, int src_db, const void *src, size_t src_len,
              int dst_db, const void *dst, size_t dst_len, int64_t now_ms)
{
    struct kv_db *sdb = kv_db_get(kv, src_db), *ddb = kv_db_get(kv, dst_db);
    struct kv_entry *s = live_entry(kv, src_db, src, src_len, now_ms);
    if (s == NULL)
        return CAIRN_ENOTFOUND;
    if (src_db == dst_db && src_len == dst_len &&
        memcmp(src, dst, src_len) == 0)
        return 0;
    if (prepare_target(kv, ddb, s) != 0)
        return CAIRN_ENOMEM;
    struct kv_entry *e = entry_clone(kv, s, dst, dst_len, entry_expire(s),
                                     true);
    if (e == NULL)
        return CAIRN_ENOMEM;
    drop_key(kv, ddb, dst, dst_len);
    /* Unlink the source without freeing the value buffer e now owns. */
    int table;
    struct kv_entry **ref = dict_find_ref(kv, sdb, src, src_len,
                                          dict_hash(kv, src, src_len), &table);
    ASSERT(ref != NULL && *ref == s);
    if (entry_has_ttl(s))
        xvec_remove(kv, sdb, s);
    pool_forget(kv, s);
    dict_unlink(kv, sdb, ref, table);
    entry_free(kv, s, false);
    int rc = dict_insert(kv, ddb, e, dict_hash(kv, dst, dst_len));
    ASSERT(rc == 0); /* dict_reserve made the table */
    if (entry_has_ttl(e))
        xvec_add(ddb, e);
    return 0;
}

int kv_copy(struct kv *kv, int src_db, const void *src, size_t src_len,
            int dst_db, const void *dst, size_t dst_len, bool replace,
            int64_t now_ms)
{
    struct kv_db *ddb = kv_db_get(kv, dst_db);
    struct kv_entry *s = live_entry(kv, src_db, src, src_len, now_ms);
    if (s == NULL)
        return CAIRN_ENOTFOUND;
    struct kv_entry *d = live_entry(kv, dst_db, dst, dst_len, now_ms);
    if (d == s)
        return CAIRN_EEXIST; /* same key in the same db */
    if (d != NULL && !replace)
        return CAIRN_EEXIST;
    if (prepare_target(kv, ddb, s) != 0)
        return CAIRN_ENOMEM;
    struct kv_entry *e = entry_clone(kv, s, dst, dst_len, entry_expire(s),
                                     false);
    if (e == NULL)
        return CAIRN_ENOMEM;
    /* Everything that can fail is done: now replace. */
    drop_key(kv, ddb, dst, dst_len);
    int rc = dict_insert(kv, ddb, e, dict_hash(kv, dst, dst_len));
    ASSERT(rc == 0);
    if (entry_has_ttl(e))
        xvec_add(ddb, e);
    return 0;
}

struct kv_entry *kv_random_key(struct kv *kv, int dbi, int64_t now_ms)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    for (int i = 0; i < RANDOMKEY_TRIES; i++) {
        struct kv_entry *e = dict_random(kv, db);
        if (e == NULL)
            return NULL;
        if (!entry_expired(e, now_ms))
            return e;
        if (kv->cfg.lazy_expire_on_read) {
            int table;
            struct kv_entry **ref = dict_find_ref(
                kv, db, entry_key(e), e->klen,
                dict_hash(kv, entry_key(e), e->klen), &table);
            ASSERT(ref != NULL && *ref == e);
            kv_entry_remove(kv, db, ref, table);
            kv->stats.expired_keys++;
        }
    }
    return NULL;
}

void kv_flushdb(struct kv *kv, int dbi)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    if (kv->snap != NULL)
        snap_flush_db(kv, db);
    pool_clear(kv);
    dict_release(kv, db);
    xvec_release(kv, db);
}

void kv_flushall(struct kv *kv)
{
    for (int i = 0; i < CAIRN_DB_COUNT; i++)
        kv_flushdb(kv, i);
}

void kv_swapdb(struct kv *kv, int db1, int db2)
{
    struct kv_db *a = kv_db_get(kv, db1), *b = kv_db_get(kv, db2);
    struct kv_db tmp = *a;
    *a = *b;
    *b = tmp;
    pool_clear(kv);
    if (kv->snap != NULL)
        snap_swap_db(kv, db1, db2);
}

void kv_rehash_idle(struct kv *kv, size_t steps)
{
    for (int i = 0; i < CAIRN_DB_COUNT; i++)
        dict_rehash_step(kv, &kv->dbs[i], steps);
}

bool kv_rehashing(const struct kv *kv)
{
    for (int i = 0; i < CAIRN_DB_COUNT; i++) {
        if (kv->dbs[i].rehash_idx >= 0)
            return true;
    }
    return false;
}

/* ---- digest ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static uint64_t entry_digest(const struct kv_entry *e, int db)
{
    char tmp[24];
    size_t vlen;
    const char *v = entry_str(e, tmp, &vlen);
    uint64_t h = cairn_hash64(entry_key(e), e->klen, (uint64_t)db + 1);
    h = cairn_hash64(v, vlen, h ^ ((uint64_t)kv_entry_type(e) << 56));
    return mix64(h ^ mix64((uint64_t)entry_expire(e)));
}

static uint64_t digest_sum(const struct kv *kv, bool live_only,
                           int64_t now_ms)
{
    uint64_t sum = 0;
    for (int d = 0; d < CAIRN_DB_COUNT; d++) {
        const struct kv_db *db = &kv->dbs[d];
        for (int t = 0; t < 2; t++) {
            for (uint64_t b = 0; b < db->t[t].size; b++) {
                for (const struct kv_entry *e = db->t[t].slots[b]; e != NULL;
                     e = e->next) {
                    if (!live_only || !entry_expired(e, now_ms))
                        sum += entry_digest(e, d);
                }
            }
        }
    }
    return sum;
}

uint64_t kv_digest(const struct kv *kv)
{
    return digest_sum(kv, false, 0);
}

uint64_t kv_digest_live(const struct kv *kv, int64_t now_ms)
{
    return digest_sum(kv, true, now_ms);
}

/* ---- invariants ---- */

static bool check_table(const struct kv *kv, const struct kv_db *db, int t,
                        size_t *bytes, uint64_t *ttl_count)
{
    const struct kv_table *tab = &db->t[t];
    uint64_t used = 0;
    for (uint64_t b = 0; b < tab->size; b++) {
        if (t == 0 && db->rehash_idx >= 0 && b < (uint64_t)db->rehash_idx &&
            tab->slots[b] != NULL)
            return false;
        for (const struct kv_entry *e = tab->slots[b]; e != NULL;
             e = e->next) {
            if ((dict_hash(kv, entry_key(e), e->klen) & (tab->size - 1)) != b)
                return false;
            if (kv->snap == NULL && (e->meta & KV_META_SNAP) != kv->snap_mark)
                return false; /* a snapshot left an entry marked pending */
            if (entry_has_ttl(e)) {
                uint32_t i = entry_xidx(e);
                if (i >= db->expires_count || db->expires[i] != e)
                    return false;
                (*ttl_count)++;
            }
            *bytes += entry_alloc_bytes(e);
            used++;
        }
    }
    return used == tab->used;
}

bool kv_check(const struct kv *kv)
{
    size_t bytes = cairn_alloc_usable_size(kv);
    for (int d = 0; d < CAIRN_DB_COUNT; d++) {
        const struct kv_db *db = &kv->dbs[d];
        uint64_t ttl_count = 0;
        if (db->rehash_idx < 0 && db->t[1].size != 0)
            return false;
        for (int t = 0; t < 2; t++) {
            if (!check_table(kv, db, t, &bytes, &ttl_count))
                return false;
        }
        if (ttl_count != db->expires_count)
            return false;
        bytes += dict_slots_bytes(db) + cairn_alloc_usable_size(db->expires);
    }
    for (int i = 0; i < kv->pool_len; i++) {
        if (i > 0 && kv->pool[i - 1].idle > kv->pool[i].idle)
            return false;
    }
    return bytes == kv->mem_used;
}
