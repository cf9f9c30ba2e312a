/*
 * evict.c: access metadata (LRU clock, LFU counter) and maxmemory eviction.
 *
 * Each entry has 24 bits of access metadata, read by the current policy:
 *   LRU: the access time in seconds, modulo 2^24 (wraps after 194 days);
 *   LFU: (minutes mod 2^16) << 8 | a logarithmic counter.  The counter starts
 *        at 5, grows with probability 1 / ((c - 5) * lfu_log_factor + 1) per
 *        access and loses one per lfu_decay_time minutes without access.
 * As in Redis, switching between LRU and LFU misreads old metadata for a
 * while; it corrects itself as keys are accessed.
 *
 * Eviction approximates the policy by sampling, as Redis does: for the LRU,
 * LFU and TTL policies each round samples maxmemory_samples keys of every
 * non-empty database (all keys, or only those with a TTL for volatile-*)
 * into a pool of the 16 best candidates kept across rounds, then evicts the
 * best.  The pool holds entry pointers; every path that frees or moves an
 * entry calls pool_forget/pool_replace, so a pooled pointer is always live.
 * Random policies pick a random key of the next non-empty database.  All
 * randomness comes from kv->rng; volatile-* never touches a key without a
 * TTL (it samples only the expiry index).
 */
#include <strings.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rng.h"
#include "kv/kv_int.h"

#define LFU_INIT_VAL 5
#define LRU_CLOCK_MAX KV_META_LRU_MASK
#define SAMPLES_MAX 64

static const char *const policy_names[] = {
    [KV_POLICY_NOEVICTION] = "noeviction",
    [KV_POLICY_ALLKEYS_LRU] = "allkeys-lru",
    [KV_POLICY_ALLKEYS_LFU] = "allkeys-lfu",
    [KV_POLICY_ALLKEYS_RANDOM] = "allkeys-random",
    [KV_POLICY_VOLATILE_LRU] = "volatile-lru",
    [KV_POLICY_VOLATILE_LFU] = "volatile-lfu",
    [KV_POLICY_VOLATILE_RANDOM] = "volatile-random",
    [KV_POLICY_VOLATILE_TTL] = "volatile-ttl",
};

int kv_policy_parse(const char *name, enum kv_policy *out)
{
    for (size_t i = 0; i < ARRAY_LEN(policy_names); i++) {
        if (strcasecmp(name, policy_names[i]) == 0) {
            *out = (enum kv_policy)i;
            return 0;
        }
    }
    return CAIRN_EINVAL;
}

const char *kv_policy_name(enum kv_policy policy)
{
    ASSERT((size_t)policy < ARRAY_LEN(policy_names));
    return policy_names[policy];
}

bool policy_uses_lfu(enum kv_policy p)
{
    return p == KV_POLICY_ALLKEYS_LFU || p == KV_POLICY_VOLATILE_LFU;
}

static bool policy_volatile(enum kv_policy p)
{
    return p == KV_POLICY_VOLATILE_LRU || p == KV_POLICY_VOLATILE_LFU ||
           p == KV_POLICY_VOLATILE_RANDOM || p == KV_POLICY_VOLATILE_TTL;
}

static uint32_t lru_clock(int64_t now_ms)
{
    return (uint32_t)((uint64_t)(now_ms < 0 ? 0 : now_ms) / 1000) &
           LRU_CLOCK_MAX;
}

static uint32_t lfu_minutes(int64_t now_ms)
{
    return (uint32_t)((uint64_t)(now_ms < 0 ? 0 : now_ms) / 60000) & 0xFFFFu;
}

static uint64_t lru_idle_ms(const struct kv_entry *e, int64_t now_ms)
{
    uint32_t now = lru_clock(now_ms), then = entry_lru(e);
    uint64_t d = now >= then ? now - then : (LRU_CLOCK_MAX - then) + now;
    return d * 1000;
}

/* The counter of e after the decay its idle minutes imply. */
static uint8_t lfu_decayed(const struct kv *kv, const struct kv_entry *e,
                           int64_t now_ms)
{
    uint32_t ldt = entry_lru(e) >> 8, counter = entry_lru(e) & 0xFFu;
    uint32_t now = lfu_minutes(now_ms);
    uint32_t elapsed = now >= ldt ? now - ldt : 0xFFFFu - ldt + now;
    uint32_t periods = kv->cfg.lfu_decay_time > 0
                           ? elapsed / (uint32_t)kv->cfg.lfu_decay_time
                           : 0;
    return (uint8_t)(periods > counter ? 0 : counter - periods);
}

void access_init(struct kv *kv, struct kv_entry *e, int64_t now_ms)
{
    if (policy_uses_lfu(kv->cfg.policy))
        entry_lru_put(e, lfu_minutes(now_ms) << 8 | LFU_INIT_VAL);
    else
        entry_lru_put(e, lru_clock(now_ms));
}

void access_touch(struct kv *kv, struct kv_entry *e, int64_t now_ms)
{
    if (!policy_uses_lfu(kv->cfg.policy)) {
        entry_lru_put(e, lru_clock(now_ms));
        return;
    }
    uint32_t c = lfu_decayed(kv, e, now_ms);
    if (c < 255) {
        double r = (double)(cairn_rng_next(&kv->rng) >> 11) * 0x1.0p-53;
        double base = c > LFU_INIT_VAL ? (double)(c - LFU_INIT_VAL) : 0.0;
        double p = 1.0 / (base * (double)kv->cfg.lfu_log_factor + 1.0);
        if (r < p)
            c++;
    }
    entry_lru_put(e, lfu_minutes(now_ms) << 8 | c);
}

uint64_t kv_entry_idle_s(const struct kv *kv, const struct kv_entry *e,
                         int64_t now_ms)
{
    (void)kv;
    return lru_idle_ms(e, now_ms) / 1000;
}

uint8_t kv_entry_lfu(const struct kv *kv, const struct kv_entry *e,
                     int64_t now_ms)
{
    return lfu_decayed(kv, e, now_ms);
}

uint64_t evict_idle_score(const struct kv *kv, const struct kv_entry *e,
                          int64_t now_ms)
{
    switch (kv->cfg.policy) {
    case KV_POLICY_ALLKEYS_LRU:
    case KV_POLICY_VOLATILE_LRU: return lru_idle_ms(e, now_ms);
    case KV_POLICY_ALLKEYS_LFU:
    case KV_POLICY_VOLATILE_LFU: return 255u - lfu_decayed(kv, e, now_ms);
    case KV_POLICY_VOLATILE_TTL:
        /* Sooner expiry scores higher. */
        return UINT64_MAX - (uint64_t)entry_expire(e);
    default: return 0;
    }
}

/* ---- the pool ---- */

void pool_forget(struct kv *kv, const struct kv_entry *e)
{
    for (int i = 0; i < kv->pool_len; i++) {
        if (kv->pool[i].e == e) {
            memmove(&kv->pool[i], &kv->pool[i + 1],
                    (size_t)(kv->pool_len - i - 1) * sizeof(kv->pool[0]));
            kv->pool_len--;
            return;
        }
    }
}

void pool_replace(struct kv *kv, const struct kv_entry *old,
                  struct kv_entry *e)
{
    for (int i = 0; i < kv->pool_len; i++) {
        if (kv->pool[i].e == old)
            kv->pool[i].e = e;
    }
}

void pool_clear(struct kv *kv)
{
    kv->pool_len = 0;
}

static bool pool_has(const struct kv *kv, const struct kv_entry *e)
{
    for (int i = 0; i < kv->pool_len; i++) {
        if (kv->pool[i].e == e)
            return true;
    }
    return false;
}

/* Inserts a candidate keeping the pool sorted by idle ascending; when full,
 * the worst candidate (index 0) makes room if the new one is better. */
static void pool_insert(struct kv *kv, struct kv_entry *e, uint64_t idle,
                        int dbi)
{
    int k = 0;
    while (k < kv->pool_len && kv->pool[k].idle < idle)
        k++;
    if (kv->pool_len == KV_POOL_SIZE) {
        if (k == 0)
            return;
        memmove(&kv->pool[0], &kv->pool[1],
                (size_t)(k - 1) * sizeof(kv->pool[0]));
        k--;
    } else {
        memmove(&kv->pool[k + 1], &kv->pool[k],
                (size_t)(kv->pool_len - k) * sizeof(kv->pool[0]));
        kv->pool_len++;
    }
    kv->pool[k] = (struct kv_pool_slot){.e = e, .idle = idle, .db = dbi};
}

static void pool_populate(struct kv *kv, int dbi, int64_t now_ms)
{
    struct kv_db *db = &kv->dbs[dbi];
    struct kv_entry *sample[SAMPLES_MAX];
    size_t want = (size_t)(kv->cfg.maxmemory_samples > 0
                               ? kv->cfg.maxmemory_samples
                               : CAIRN_EVICT_SAMPLES_DEFAULT);
    want = CAIRN_MIN(want, (size_t)SAMPLES_MAX);
    size_t n;
    if (policy_volatile(kv->cfg.policy)) {
        n = 0;
        for (; n < want && db->expires_count > 0; n++)
            sample[n] = db->expires[cairn_rng_below(&kv->rng,
                                                    db->expires_count)];
    } else {
        n = dict_sample(kv, db, sample, want);
    }
    for (size_t i = 0; i < n; i++) {
        if (!pool_has(kv, sample[i]))
            pool_insert(kv, sample[i], evict_idle_score(kv, sample[i],
                                                        now_ms), dbi);
    }
}

static void evict_entry(struct kv *kv, int dbi, struct kv_entry *e)
{
    struct kv_db *db = &kv->dbs[dbi];
    int table;
    uint64_t h = dict_hash(kv, entry_key(e), e->klen);
    struct kv_entry **ref = dict_find_ref(kv, db, entry_key(e), e->klen, h,
                                          &table);
    ASSERT(ref != NULL);
    ASSERT(*ref == e);
    kv_entry_remove(kv, db, ref, table);
    kv->stats.evicted_keys++;
}

/* Picks a random victim for the random policies; false if none. */
static bool evict_one_random(struct kv *kv)
{
    bool vol = policy_volatile(kv->cfg.policy);
    for (int i = 0; i < CAIRN_DB_COUNT; i++) {
        int dbi = (kv->evict_db_next + i) % CAIRN_DB_COUNT;
        struct kv_db *db = &kv->dbs[dbi];
        struct kv_entry *e = NULL;
        if (vol && db->expires_count > 0)
            e = db->expires[cairn_rng_below(&kv->rng, db->expires_count)];
        else if (!vol)
            e = dict_random(kv, db);
        if (e != NULL) {
            kv->evict_db_next = (dbi + 1) % CAIRN_DB_COUNT;
            evict_entry(kv, dbi, e);
            return true;
        }
    }
    return false;
}

static bool evict_one(struct kv *kv, int64_t now_ms)
{
    enum kv_policy p = kv->cfg.policy;
    if (p == KV_POLICY_ALLKEYS_RANDOM || p == KV_POLICY_VOLATILE_RANDOM)
        return evict_one_random(kv);
    bool vol = policy_volatile(p);
    for (int dbi = 0; dbi < CAIRN_DB_COUNT; dbi++) {
        const struct kv_db *db = &kv->dbs[dbi];
        if ((vol ? db->expires_count : dict_size(db)) > 0)
            pool_populate(kv, dbi, now_ms);
    }
    /* A pooled key may have lost its TTL since it was sampled (PERSIST,
     * SET): volatile-* must not take it. */
    while (kv->pool_len > 0) {
        struct kv_pool_slot best = kv->pool[--kv->pool_len];
        if (vol && !entry_has_ttl(best.e))
            continue;
        evict_entry(kv, best.db, best.e);
        return true;
    }
    return false;
}

bool kv_over_maxmemory(const struct kv *kv)
{
    return kv->cfg.maxmemory > 0 && kv->mem_used > kv->cfg.maxmemory;
}

int kv_evict_budget(struct kv *kv, int64_t now_ms, size_t keys_max)
{
    if (!kv_over_maxmemory(kv))
        return 0;
    if (kv->cfg.policy == KV_POLICY_NOEVICTION)
        return CAIRN_EFULL;
    for (size_t n = 0; kv_over_maxmemory(kv); n++) {
        if (n >= keys_max)
            return CAIRN_EAGAIN;
        if (!evict_one(kv, now_ms))
            return CAIRN_EFULL;
    }
    return 0;
}

int kv_evict(struct kv *kv, int64_t now_ms)
{
    return kv_evict_budget(kv, now_ms, SIZE_MAX);
}
