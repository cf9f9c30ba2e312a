/*
 * kv.c: the databases and every operation on keys.
 *
 * Each mutation follows one pattern so that a failure leaves the state
 * unchanged: (1) find the live entry (a write lookup deletes an expired one),
 * (2) reserve whatever can fail (expiry index room, the first table, the new
 * entry), (3) only then link, swap or unlink.  Steps after (2) cannot fail.
 *
 * Expired keys: write paths delete them (deterministic: a function of the
 * key's expire time and the command's now_ms).  Read paths hide them and
 * delete them only when cfg.lazy_expire_on_read is set.
 *
 * Usage profile: millions of small keys, GET/SET dominated; a GET is one
 * hash, one bucket walk and one memcmp.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "kv/kv_int.h"

void kv_config_default(struct kv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->policy = KV_POLICY_NOEVICTION;
    cfg->maxmemory_samples = CAIRN_EVICT_SAMPLES_DEFAULT;
    cfg->lazy_expire_on_read = true;
    cfg->lfu_log_factor = 10;
    cfg->lfu_decay_time = 1;
    cfg->string_len_max = CAIRN_STRING_LEN_MAX;
}

static void config_apply(struct kv *kv, const struct kv_config *cfg)
{
    uint64_t seed = kv->cfg.hash_seed;
    enum kv_policy before = kv->cfg.policy;
    kv->cfg = *cfg;
    kv->cfg.hash_seed = seed;
    if (kv->cfg.maxmemory_samples <= 0)
        kv->cfg.maxmemory_samples = CAIRN_EVICT_SAMPLES_DEFAULT;
    if (kv->cfg.string_len_max == 0)
        kv->cfg.string_len_max = CAIRN_STRING_LEN_MAX;
    if (kv->cfg.lfu_log_factor < 0)
        kv->cfg.lfu_log_factor = 0;
    if (kv->cfg.lfu_decay_time < 0)
        kv->cfg.lfu_decay_time = 0;
    /* Pooled scores (and, for volatile-*, the TTL filter) belong to the
     * policy that computed them. */
    if (before != kv->cfg.policy)
        pool_clear(kv);
}

struct kv *kv_new(const struct kv_config *cfg)
{
    struct kv *kv = cairn_calloc(1, sizeof(*kv));
    if (kv == NULL)
        return NULL;
    kv->mem_used = cairn_alloc_usable_size(kv);
    kv->cfg.hash_seed = cfg->hash_seed;
    config_apply(kv, cfg);
    /* A different stream from the hash seed itself. */
    cairn_rng_seed(&kv->rng, cfg->hash_seed ^ UINT64_C(0x6b76206576696374));
    for (int i = 0; i < CAIRN_DB_COUNT; i++)
        kv->dbs[i].rehash_idx = -1;
    return kv;
}

void kv_free(struct kv *kv)
{
    if (kv == NULL)
        return;
    if (kv->snap != NULL)
        snap_detach(kv);
    kv_flushall(kv);
    cairn_free(kv);
}

void kv_config_update(struct kv *kv, const struct kv_config *cfg)
{
    config_apply(kv, cfg);
}

const struct kv_config *kv_config_get(const struct kv *kv)
{
    return &kv->cfg;
}

struct kv_db *kv_db_get(struct kv *kv, int db)
{
    ASSERT(db >= 0);
    ASSERT(db < CAIRN_DB_COUNT);
    return &kv->dbs[db];
}

uint64_t kv_dbsize(const struct kv *kv, int db)
{
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    return dict_size(&kv->dbs[db]);
}

size_t kv_memory_used(const struct kv *kv)
{
    return kv->mem_used;
}

void kv_stats_get(const struct kv *kv, struct kv_stats *out)
{
    *out = kv->stats;
}

void kv_stats_reset(struct kv *kv)
{
    memset(&kv->stats, 0, sizeof(kv->stats));
}

/* ---- entry plumbing ---- */

void kv_entry_remove(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                     int table)
{
    struct kv_entry *e = *ref;
    snap_before_write(kv, db, e);
    if (entry_has_ttl(e))
        xvec_remove(kv, db, e);
    pool_forget(kv, e);
    dict_unlink(kv, db, ref, table);
    entry_free(kv, e, true);
}

void kv_entry_swap(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                   struct kv_entry *e, bool free_raw)
{
    struct kv_entry *old = *ref;
    ASSERT(old != e);
    ASSERT(old->klen == e->klen);
    snap_before_write(kv, db, old);
    e->next = old->next;
    *ref = e;
    if (entry_has_ttl(old) && entry_has_ttl(e))
        xvec_replace(db, old, e);
    else if (entry_has_ttl(old))
        xvec_remove(kv, db, old);
    else if (entry_has_ttl(e))
        xvec_add(db, e);
    pool_replace(kv, old, e);
    entry_free(kv, old, free_raw);
}

/* Finds key for writing: an expired entry is deleted (and counted).  On a
 * live hit ref and table locate it until the next dict call. */
static struct kv_entry *find_live_write(struct kv *kv, struct kv_db *db,
                                        const void *key, size_t klen,
                                        uint64_t h, int64_t now_ms,
                                        struct kv_entry ***ref, int *table)
{
    struct kv_entry **r = dict_find_ref(kv, db, key, klen, h, table);
    if (r == NULL)
        return NULL;
    if (entry_expired(*r, now_ms)) {
        kv_entry_remove(kv, db, r, *table);
        kv->stats.expired_keys++;
        return NULL;
    }
    /* Every write path finds its entry here before changing it in place or
     * replacing it, so this is where a running snapshot copies it first. */
    snap_before_write(kv, db, *r);
    *ref = r;
    return *r;
}

/* Links a new entry for an absent key; the expiry index room (if e has a
 * TTL) must be reserved.  On failure e is freed and CAIRN_ENOMEM returned. */
static int link_new(struct kv *kv, struct kv_db *db, struct kv_entry *e,
                    uint64_t h)
{
    if (dict_insert(kv, db, e, h) != 0) {
        entry_free(kv, e, true);
        return CAIRN_ENOMEM;
    }
    if (entry_has_ttl(e))
        xvec_add(db, e);
    return 0;
}

/* Puts e in place of old (at ref) or links it as new.  e's TTL room must be
 * reserved when old lacked a TTL. */
static int store(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                 struct kv_entry *e, uint64_t h)
{
    if (ref != NULL) {
        kv_entry_swap(kv, db, ref, e, true);
        return 0;
    }
    return link_new(kv, db, e, h);
}

/* ---- lookups ---- */

struct kv_entry *kv_lookup_read(struct kv *kv, int dbi, const void *key,
                                size_t klen, int64_t now_ms, unsigned flags)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    int table;
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = dict_find_ref(kv, db, key, klen, h, &table);
    struct kv_entry *e = ref != NULL ? *ref : NULL;
    if (e != NULL && entry_expired(e, now_ms)) {
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 8
        /* MUTANT 8 (simulator suite): every replica deletes expired keys
         * on its own when a read meets them, not only through the log. */
        flags |= KV_LOOKUP_EXPIRE;
#endif
        if (kv->cfg.lazy_expire_on_read || (flags & KV_LOOKUP_EXPIRE)) {
            kv_entry_remove(kv, db, ref, table);
            kv->stats.expired_keys++;
        }
        e = NULL;
    }
    if (!(flags & KV_LOOKUP_NOSTATS)) {
        if (e != NULL)
            kv->stats.keyspace_hits++;
        else
            kv->stats.keyspace_misses++;
    }
    if (e != NULL && !(flags & KV_LOOKUP_NOTOUCH))
        access_touch(kv, e, now_ms);
    return e;
}

struct kv_entry *kv_lookup_write(struct kv *kv, int dbi, const void *key,
                                 size_t klen, int64_t now_ms)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    struct kv_entry **ref;
    int table;
    struct kv_entry *e = find_live_write(kv, db, key, klen,
                                         dict_hash(kv, key, klen), now_ms,
                                         &ref, &table);
    if (e != NULL)
        access_touch(kv, e, now_ms);
    return e;
}

bool kv_exists(const struct kv *kv, int dbi, const void *key, size_t klen,
               int64_t now_ms)
{
    ASSERT(dbi >= 0 && dbi < CAIRN_DB_COUNT);
    const struct kv_entry *e = dict_find_const(kv, &kv->dbs[dbi], key, klen,
                                               dict_hash(kv, key, klen));
    return e != NULL && !entry_expired(e, now_ms);
}

/* ---- string writes ---- */

/* Overwrites an EMB or INT value in place when the new value has the same
 * shape and the TTL block does not change.  Returns true if done. */
static bool set_in_place(struct kv_entry *old, const void *val, size_t vlen,
                         int64_t expire_ms, bool allow_int)
{
    if ((expire_ms != KV_NO_EXPIRE) != entry_has_ttl(old))
        return false;
    int64_t iv;
    bool is_int = allow_int && vlen <= 20 &&
                  cairn_str_to_i64(val, vlen, &iv) == 0;
    if (is_int && entry_enc(old) == KV_ENC_INT) {
        memcpy(entry_val(old), &iv, sizeof(iv));
    } else if (!is_int && entry_enc(old) == KV_ENC_EMB) {
        uint32_t l;
        memcpy(&l, entry_val(old), sizeof(l));
        if (l != vlen)
            return false;
        memmove(entry_val(old) + sizeof(l), val, vlen);
    } else {
        return false;
    }
    if (expire_ms != KV_NO_EXPIRE)
        entry_expire_put(old, expire_ms);
    return true;
}

int kv_set(struct kv *kv, int dbi, const void *key, size_t klen,
           const void *val, size_t vlen, int64_t expire_ms, unsigned flags,
           int64_t now_ms)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = NULL;
    int table;
    struct kv_entry *old = find_live_write(kv, db, key, klen, h, now_ms, &ref,
                                           &table);
    int64_t exp = expire_ms;
    if (flags & KV_SET_KEEPTTL)
        exp = old != NULL ? entry_expire(old) : KV_NO_EXPIRE;
    bool allow_int = !(flags & KV_SET_NOINT);
    if (old != NULL && set_in_place(old, val, vlen, exp, allow_int)) {
        access_init(kv, old, now_ms);
        return 0;
    }
    if (exp != KV_NO_EXPIRE && (old == NULL || !entry_has_ttl(old)) &&
        xvec_reserve(kv, db) != 0)
        return CAIRN_ENOMEM;
    struct kv_entry *e = entry_new_str(kv, key, klen, val, vlen, allow_int,
                                       exp);
    if (e == NULL)
        return CAIRN_ENOMEM;
    access_init(kv, e, now_ms);
    return store(kv, db, ref, e, h);
}

int kv_set_int(struct kv *kv, int dbi, const void *key, size_t klen,
               int64_t v, int64_t now_ms)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = NULL;
    int table;
    struct kv_entry *old = find_live_write(kv, db, key, klen, h, now_ms, &ref,
                                           &table);
    if (old != NULL && entry_enc(old) == KV_ENC_INT) {
        memcpy(entry_val(old), &v, sizeof(v));
        access_touch(kv, old, now_ms);
        return 0;
    }
    int64_t exp = old != NULL ? entry_expire(old) : KV_NO_EXPIRE;
    struct kv_entry *e = entry_new_int(kv, key, klen, v, exp);
    if (e == NULL)
        return CAIRN_ENOMEM;
    access_init(kv, e, now_ms);
    return store(kv, db, ref, e, h);
}

/* Converts old's value to a raw buffer of at least cap bytes holding the
 * current string, as a new entry swapped in place of old.  Returns the new
 * entry or NULL (state unchanged). */
static struct kv_entry *make_raw(struct kv *kv, struct kv_db *db,
                                 struct kv_entry **ref, size_t cap)
{
    struct kv_entry *old = *ref;
    char tmp[24];
    size_t slen;
    const char *s = entry_str(old, tmp, &slen);
    struct kv_raw *raw = raw_new(kv, CAIRN_MAX(cap, slen));
    if (raw == NULL)
        return NULL;
    memcpy(raw->data, s, slen);
    raw->len = slen;
    struct kv_entry *e = entry_new_raw(kv, entry_key(old), old->klen, raw,
                                       entry_expire(old));
    if (e == NULL)
        return NULL;
    entry_lru_put(e, entry_lru(old));
    kv_entry_swap(kv, db, ref, e, true);
    return e;
}

/* Returns old's raw buffer grown to need bytes (converting the value to raw
 * first); NULL on allocation failure. */
static struct kv_raw *raw_for_write(struct kv *kv, struct kv_db *db,
                                    struct kv_entry **ref, size_t need)
{
    struct kv_entry *e = *ref;
    if (entry_enc(e) != KV_ENC_RAW) {
        size_t cap = need < (1u << 20) ? need * 2 : need + (1u << 20);
        e = make_raw(kv, db, ref, cap);
        if (e == NULL)
            return NULL;
    }
    struct kv_raw *raw = entry_raw(e);
    struct kv_raw *grown = raw_grow(kv, raw, need);
    if (grown != NULL && grown != raw)
        memcpy(entry_val(e), &grown, sizeof(grown));
    return grown;
}

int kv_append(struct kv *kv, int dbi, const void *key, size_t klen,
              const void *data, size_t len, int64_t now_ms, size_t *len_out)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = NULL;
    int table;
    struct kv_entry *old = find_live_write(kv, db, key, klen, h, now_ms, &ref,
                                           &table);
    if (old == NULL) {
        struct kv_entry *e = entry_new_str(kv, key, klen, data, len, true,
                                           KV_NO_EXPIRE);
        if (e == NULL)
            return CAIRN_ENOMEM;
        access_init(kv, e, now_ms);
        *len_out = len;
        return link_new(kv, db, e, h);
    }
    size_t cur = kv_entry_strlen(old);
    struct kv_raw *raw = raw_for_write(kv, db, ref, cur + len);
    if (raw == NULL)
        return CAIRN_ENOMEM;
    ASSERT(raw->len == cur);
    memcpy(raw->data + raw->len, data, len);
    raw->len += len;
    access_touch(kv, *ref, now_ms);
    *len_out = raw->len;
    return 0;
}

int kv_setrange(struct kv *kv, int dbi, const void *key, size_t klen,
                size_t offset, const void *data, size_t len, int64_t now_ms,
                size_t *len_out)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = NULL;
    int table;
    struct kv_entry *old = find_live_write(kv, db, key, klen, h, now_ms, &ref,
                                           &table);
    size_t need = offset + len;
    struct kv_raw *raw;
    if (old == NULL) {
        raw = raw_new(kv, need);
        if (raw == NULL)
            return CAIRN_ENOMEM;
        memset(raw->data, 0, offset);
        memcpy(raw->data + offset, data, len);
        raw->len = need;
        struct kv_entry *e = entry_new_raw(kv, key, klen, raw, KV_NO_EXPIRE);
        if (e == NULL)
            return CAIRN_ENOMEM;
        access_init(kv, e, now_ms);
        *len_out = need;
        return link_new(kv, db, e, h);
    }
    size_t cur = kv_entry_strlen(old);
    raw = raw_for_write(kv, db, ref, CAIRN_MAX(cur, need));
    if (raw == NULL)
        return CAIRN_ENOMEM;
    if (offset > raw->len)
        memset(raw->data + raw->len, 0, offset - raw->len);
    memcpy(raw->data + offset, data, len);
    raw->len = CAIRN_MAX(raw->len, need);
    access_touch(kv, *ref, now_ms);
    *len_out = raw->len;
    return 0;
}

/* ---- key operations ---- */

bool kv_delete(struct kv *kv, int dbi, const void *key, size_t klen,
               int64_t now_ms)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    int table;
    struct kv_entry **ref = dict_find_ref(kv, db, key, klen,
                                          dict_hash(kv, key, klen), &table);
    if (ref == NULL)
        return false;
    bool live = !entry_expired(*ref, now_ms);
    if (!live)
        kv->stats.expired_keys++;
    kv_entry_remove(kv, db, ref, table);
    return live;
}

int kv_expire_set(struct kv *kv, int dbi, const void *key, size_t klen,
                  int64_t expire_ms, int64_t now_ms)
{
    ASSERT(expire_ms != KV_NO_EXPIRE);
    struct kv_db *db = kv_db_get(kv, dbi);
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = NULL;
    int table;
    struct kv_entry *old = find_live_write(kv, db, key, klen, h, now_ms, &ref,
                                           &table);
    if (old == NULL)
        return CAIRN_ENOTFOUND;
    if (entry_has_ttl(old)) {
        entry_expire_put(old, expire_ms);
        return 0;
    }
    if (xvec_reserve(kv, db) != 0)
        return CAIRN_ENOMEM;
    struct kv_entry *e = entry_clone(kv, old, entry_key(old), old->klen,
                                     expire_ms, true);
    if (e == NULL)
        return CAIRN_ENOMEM;
    kv_entry_swap(kv, db, ref, e, false);
    return 0;
}

bool kv_persist(struct kv *kv, int dbi, const void *key, size_t klen,
                int64_t now_ms)
{
    struct kv_db *db = kv_db_get(kv, dbi);
    uint64_t h = dict_hash(kv, key, klen);
    struct kv_entry **ref = NULL;
    int table;
    struct kv_entry *old = find_live_write(kv, db, key, klen, h, now_ms, &ref,
                                           &table);
    if (old == NULL || !entry_has_ttl(old))
        return false;
    struct kv_entry *e = entry_clone(kv, old, entry_key(old), old->klen,
                                     KV_NO_EXPIRE, true);
    if (e != NULL) {
        kv_entry_swap(kv, db, ref, e, false);
        return true;
    }
    /* No memory for a smaller copy: drop the TTL block inside the same
     * allocation (its usable size, hence accounting, is unchanged). */
    xvec_remove(kv, db, old);
    memmove(old->data, old->data + KV_TTL_BLOCK, entry_body_size(old));
    old->meta &= ~KV_META_TTL;
    return true;
}
