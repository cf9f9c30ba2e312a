/*
 * expire.c: the expiry index of a database and the active expiry cycle.
 *
 * Index: db->expires is a dense array of exactly the entries that carry a
 * TTL, and each of them stores its own position (xidx).  Adding is an
 * append, removing moves the last element into the hole, so both are O(1)
 * and the array order is a deterministic function of the operations.
 *
 * Active expiry: kv_expire_cycle walks the arrays with a per-database cursor,
 * round-robin over databases, examining at most keys_max entries per call
 * and deleting those whose time has passed.  The cursor does not advance
 * over a deleted slot, because the hole is refilled by the last element.
 * The node calls the cycle from a timer and bounds its CPU with keys_max;
 * only a node that may delete on its own (a leader or a single node) calls
 * it.  Lazy expiry (kv.c) catches whatever the cycle has not reached yet.
 */
#include "core/alloc.h"
#include "core/error.h"
#include "kv/kv_int.h"

#define XVEC_CAP_MIN 8
#define AVG_TTL_SAMPLES 1024

int xvec_reserve(struct kv *kv, struct kv_db *db)
{
    if (db->expires_count < db->expires_cap)
        return 0;
    if (db->expires_cap >= UINT32_MAX / 2)
        return CAIRN_ENOMEM;
    uint32_t cap = db->expires_cap == 0 ? XVEC_CAP_MIN : db->expires_cap * 2;
    size_t old = cairn_alloc_usable_size(db->expires);
    struct kv_entry **v = cairn_realloc(db->expires, cap * sizeof(*v));
    if (v == NULL)
        return CAIRN_ENOMEM;
    kv->mem_used -= old;
    kv->mem_used += cairn_alloc_usable_size(v);
    db->expires = v;
    db->expires_cap = cap;
    return 0;
}

void xvec_add(struct kv_db *db, struct kv_entry *e)
{
    ASSERT(entry_has_ttl(e));
    ASSERT(db->expires_count < db->expires_cap); /* xvec_reserve first */
    entry_xidx_put(e, db->expires_count);
    db->expires[db->expires_count++] = e;
}

static void xvec_shrink(struct kv *kv, struct kv_db *db)
{
    if (db->expires_cap <= XVEC_CAP_MIN * 4 ||
        db->expires_count >= db->expires_cap / 4)
        return;
    uint32_t cap = db->expires_cap / 2;
    size_t old = cairn_alloc_usable_size(db->expires);
    struct kv_entry **v = cairn_realloc(db->expires, cap * sizeof(*v));
    if (v == NULL)
        return; /* keep the larger array; retried on the next removal */
    kv->mem_used -= old;
    kv->mem_used += cairn_alloc_usable_size(v);
    db->expires = v;
    db->expires_cap = cap;
}

void xvec_remove(struct kv *kv, struct kv_db *db, struct kv_entry *e)
{
    uint32_t i = entry_xidx(e);
    ASSERT(i < db->expires_count);
    ASSERT(db->expires[i] == e);
    struct kv_entry *last = db->expires[--db->expires_count];
    db->expires[i] = last;
    if (last != e)
        entry_xidx_put(last, i);
    xvec_shrink(kv, db);
}

void xvec_replace(struct kv_db *db, struct kv_entry *old, struct kv_entry *e)
{
    uint32_t i = entry_xidx(old);
    ASSERT(i < db->expires_count);
    ASSERT(db->expires[i] == old);
    db->expires[i] = e;
    entry_xidx_put(e, i);
}

void xvec_release(struct kv *kv, struct kv_db *db)
{
    if (db->expires != NULL) {
        size_t n = cairn_alloc_usable_size(db->expires);
        ASSERT(kv->mem_used >= n);
        kv->mem_used -= n;
        cairn_free(db->expires);
    }
    db->expires = NULL;
    db->expires_count = 0;
    db->expires_cap = 0;
    db->expire_cursor = 0;
}

/* Examines up to budget entries of one database; returns keys examined and
 * adds the deleted ones to *expired. */
static size_t cycle_db(struct kv *kv, struct kv_db *db, int64_t now_ms,
                       size_t budget, size_t *expired)
{
    size_t examined = 0;
    size_t n = CAIRN_MIN(budget, (size_t)db->expires_count);
    while (examined < n && db->expires_count > 0) {
        if (db->expire_cursor >= db->expires_count)
            db->expire_cursor = 0;
        struct kv_entry *e = db->expires[db->expire_cursor];
        examined++;
        if (!entry_expired(e, now_ms)) {
            db->expire_cursor++;
            continue;
        }
        int table;
        uint64_t h = dict_hash(kv, entry_key(e), e->klen);
        struct kv_entry **ref = dict_find_ref(kv, db, entry_key(e), e->klen,
                                              h, &table);
        ASSERT(ref != NULL && *ref == e);
        kv_entry_remove(kv, db, ref, table);
        kv->stats.expired_keys++;
        (*expired)++;
    }
    return examined;
}

size_t kv_expire_cycle(struct kv *kv, int64_t now_ms, size_t keys_max)
{
    size_t expired = 0, examined = 0;
    for (int i = 0; i < CAIRN_DB_COUNT && examined < keys_max; i++) {
        int dbi = kv->expire_db_next;
        kv->expire_db_next = (dbi + 1) % CAIRN_DB_COUNT;
        examined += cycle_db(kv, &kv->dbs[dbi], now_ms, keys_max - examined,
                             &expired);
    }
    kv->stats.expire_cycle_keys_checked += examined;
    return expired;
}

size_t kv_expire_scan(struct kv *kv, int64_t now_ms, size_t keys_max,
                      kv_key_cb visit_cb, void *ctx)
{
    size_t found = 0, examined = 0;
    for (int i = 0; i < CAIRN_DB_COUNT && examined < keys_max; i++) {
        int dbi = kv->expire_db_next;
        struct kv_db *db = &kv->dbs[dbi];
        kv->expire_db_next = (dbi + 1) % CAIRN_DB_COUNT;
        size_t n = CAIRN_MIN(keys_max - examined, (size_t)db->expires_count);
        for (size_t k = 0; k < n; k++) {
            if (db->expire_cursor >= db->expires_count)
                db->expire_cursor = 0;
            const struct kv_entry *e = db->expires[db->expire_cursor++];
            examined++;
            if (entry_expired(e, now_ms)) {
                visit_cb(ctx, dbi, entry_key(e), e->klen);
                found++;
            }
        }
    }
    kv->stats.expire_cycle_keys_checked += examined;
    return found;
}

uint64_t kv_expires_count(const struct kv *kv, int db)
{
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    return kv->dbs[db].expires_count;
}

uint64_t kv_avg_ttl(const struct kv *kv, int dbi, int64_t now_ms)
{
    ASSERT(dbi >= 0 && dbi < CAIRN_DB_COUNT);
    const struct kv_db *db = &kv->dbs[dbi];
    /* An estimate, like Redis's: at most AVG_TTL_SAMPLES evenly spaced
     * entries, so INFO stays cheap with millions of keys. */
    uint32_t stride = db->expires_count / AVG_TTL_SAMPLES + 1;
    uint64_t sum = 0, n = 0;
    for (uint32_t i = 0; i < db->expires_count; i += stride) {
        int64_t left = entry_expire(db->expires[i]) - now_ms;
        if (left > 0) {
            sum += (uint64_t)left;
            n++;
        }
    }
    return n == 0 ? 0 : sum / n;
}
