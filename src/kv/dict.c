/*
 * dict.c: the per-database hash table: chained, power-of-two sized, with
 * incremental rehashing and a reverse-binary SCAN cursor.
 *
 * Rehashing: when the table fills (used >= size) a table twice as large is
 * allocated as t[1]; when it empties below 1/8 a smaller one is.  From then on
 * each key operation moves one bucket of t[0] to t[1] (kv_rehash_idle moves
 * more when the node is idle); lookups check both tables; inserts go to t[1].
 * When t[0] is empty it is freed and t[1] becomes t[0].  A failed allocation
 * of the new table is not an error: the table keeps working at a higher load
 * and the resize is retried on a later insert.
 *
 * SCAN: the cursor counts with its bits reversed, so the buckets a cursor has
 * visited map onto a prefix-closed set of buckets in a table of any other
 * power-of-two size.  While rehashing, a step visits one bucket of the
 * smaller table and all buckets of the larger table that expand it.  Hence a
 * key present during a whole scan is returned at least once, whatever the
 * resizes in between (it may be returned twice after a shrink).
 *
 * The hash is cairn_hash64 under kv_config.hash_seed, so layout and SCAN
 * order are reproducible from the seed.  Tuned for many small keys and
 * O(1) GET/SET.
 */
#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "kv/kv_int.h"

#define DICT_SIZE_MIN 4
#define DICT_EMPTY_VISITS_PER_STEP 10
#define DICT_RANDOM_TRIES 1000

uint64_t dict_hash(const struct kv *kv, const void *key, size_t klen)
{
    return cairn_hash64(key, klen, kv->cfg.hash_seed);
}

static bool rehashing(const struct kv_db *db)
{
    return db->rehash_idx >= 0;
}

uint64_t dict_size(const struct kv_db *db)
{
    return db->t[0].used + db->t[1].used;
}

static bool key_eq(const struct kv_entry *e, const void *key, size_t klen)
{
    return e->klen == klen && memcmp(entry_key(e), key, klen) == 0;
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t s = DICT_SIZE_MIN;
    while (s < n && s < (UINT64_C(1) << 62))
        s <<= 1;
    return s;
}

/* Starts a resize to the smallest power of two >= want (>= 4).  Returns 0,
 * or CAIRN_ENOMEM if the slots could not be allocated. */
static int dict_resize(struct kv *kv, struct kv_db *db, uint64_t want)
{
    ASSERT(!rehashing(db));
    uint64_t size = pow2_at_least(want);
    if (size == db->t[0].size)
        return 0;
    if (size > SIZE_MAX / sizeof(struct kv_entry *))
        return CAIRN_ENOMEM;
    struct kv_entry **slots = cairn_calloc(size, sizeof(*slots));
    if (slots == NULL)
        return CAIRN_ENOMEM;
    kv->mem_used += cairn_alloc_usable_size(slots);
    if (db->t[0].size == 0) {
        ASSERT(db->t[0].used == 0);
        db->t[0].slots = slots;
        db->t[0].size = size;
        return 0;
    }
    db->t[1].slots = slots;
    db->t[1].size = size;
    db->t[1].used = 0;
    db->rehash_idx = 0;
    return 0;
}

int dict_reserve(struct kv *kv, struct kv_db *db)
{
    if (db->t[0].size > 0)
        return 0;
    return dict_resize(kv, db, DICT_SIZE_MIN);
}

static void table_free_slots(struct kv *kv, struct kv_table *t)
{
    if (t->slots != NULL) {
        size_t n = cairn_alloc_usable_size(t->slots);
        ASSERT(kv->mem_used >= n);
        kv->mem_used -= n;
        cairn_free(t->slots);
    }
    t->slots = NULL;
    t->size = 0;
    t->used = 0;
}

void dict_rehash_step(struct kv *kv, struct kv_db *db, size_t buckets)
{
    if (!rehashing(db))
        return;
    size_t empty_left = buckets * DICT_EMPTY_VISITS_PER_STEP;
    struct kv_table *t0 = &db->t[0], *t1 = &db->t[1];
    while (buckets-- > 0 && t0->used != 0) {
        while (t0->slots[db->rehash_idx] == NULL) {
            db->rehash_idx++;
            ASSERT((uint64_t)db->rehash_idx < t0->size);
            if (--empty_left == 0)
                return;
        }
        struct kv_entry *e = t0->slots[db->rehash_idx];
        while (e != NULL) {
            struct kv_entry *next = e->next;
            uint64_t b = dict_hash(kv, entry_key(e), e->klen) & (t1->size - 1);
            e->next = t1->slots[b];
            t1->slots[b] = e;
            t0->used--;
            t1->used++;
            e = next;
        }
        t0->slots[db->rehash_idx] = NULL;
        db->rehash_idx++;
    }
    if (t0->used == 0) {
        table_free_slots(kv, t0);
        *t0 = *t1;
        t1->slots = NULL;
        t1->size = 0;
        t1->used = 0;
        db->rehash_idx = -1;
    }
}

struct kv_entry **dict_find_ref(struct kv *kv, struct kv_db *db,
                                const void *key, size_t klen, uint64_t h,
                                int *table)
{
    if (rehashing(db))
        dict_rehash_step(kv, db, 1);
    int tables = rehashing(db) ? 2 : 1;
    for (int i = 0; i < tables; i++) {
        struct kv_table *t = &db->t[i];
        if (t->size == 0)
            continue;
        struct kv_entry **ref = &t->slots[h & (t->size - 1)];
        while (*ref != NULL) {
            if (key_eq(*ref, key, klen)) {
                *table = i;
                return ref;
            }
            ref = &(*ref)->next;
        }
    }
    return NULL;
}

struct kv_entry *dict_find_const(const struct kv *kv, const struct kv_db *db,
                                 const void *key, size_t klen, uint64_t h)
{
    (void)kv;
    int tables = rehashing(db) ? 2 : 1;
    for (int i = 0; i < tables; i++) {
        const struct kv_table *t = &db->t[i];
        if (t->size == 0)
            continue;
        for (struct kv_entry *e = t->slots[h & (t->size - 1)]; e != NULL;
             e = e->next) {
            if (key_eq(e, key, klen))
                return e;
        }
    }
    return NULL;
}

int dict_insert(struct kv *kv, struct kv_db *db, struct kv_entry *e,
                uint64_t h)
{
    if (db->t[0].size == 0 && dict_resize(kv, db, DICT_SIZE_MIN) != 0)
        return CAIRN_ENOMEM;
    if (!rehashing(db) && db->t[0].used >= db->t[0].size)
        (void)dict_resize(kv, db, db->t[0].used * 2);
    struct kv_table *t = &db->t[rehashing(db) ? 1 : 0];
    ASSERT(t->size > 0);
    uint64_t b = h & (t->size - 1);
    e->next = t->slots[b];
    t->slots[b] = e;
    t->used++;
    return 0;
}

void dict_unlink(struct kv *kv, struct kv_db *db, struct kv_entry **ref,
                 int table)
{
    struct kv_entry *e = *ref;
    ASSERT(e != NULL);
    ASSERT(db->t[table].used > 0);
    *ref = e->next;
    e->next = NULL;
    db->t[table].used--;
    if (!rehashing(db) && db->t[0].size > DICT_SIZE_MIN &&
        db->t[0].used * 8 < db->t[0].size)
        (void)dict_resize(kv, db, db->t[0].used * 2);
}

void dict_release(struct kv *kv, struct kv_db *db)
{
    for (int i = 0; i < 2; i++) {
        struct kv_table *t = &db->t[i];
        for (uint64_t b = 0; b < t->size; b++) {
            struct kv_entry *e = t->slots[b];
            while (e != NULL) {
                struct kv_entry *next = e->next;
                entry_free(kv, e, true);
                e = next;
            }
        }
        table_free_slots(kv, t);
    }
    db->rehash_idx = -1;
}

size_t dict_slots_bytes(const struct kv_db *db)
{
    return cairn_alloc_usable_size(db->t[0].slots) +
           cairn_alloc_usable_size(db->t[1].slots);
}

static uint64_t rev64(uint64_t v)
{
    v = ((v >> 1) & UINT64_C(0x5555555555555555)) |
        ((v & UINT64_C(0x5555555555555555)) << 1);
    v = ((v >> 2) & UINT64_C(0x3333333333333333)) |
        ((v & UINT64_C(0x3333333333333333)) << 2);
    v = ((v >> 4) & UINT64_C(0x0F0F0F0F0F0F0F0F)) |
        ((v & UINT64_C(0x0F0F0F0F0F0F0F0F)) << 4);
    return __builtin_bswap64(v);
}

/* Adds one to the cursor's bits above mask, counting from the top bit. */
static uint64_t cursor_next(uint64_t v, uint64_t mask)
{
    v |= ~mask;
    v = rev64(v);
    v++;
    return rev64(v);
}

static void visit_bucket(const struct kv_table *t, uint64_t b,
                         kv_scan_cb visit_cb, void *ctx)
{
    for (const struct kv_entry *e = t->slots[b]; e != NULL; e = e->next)
        visit_cb(ctx, e);
}

uint64_t kv_scan(const struct kv *kv, int dbi, uint64_t cursor,
                 kv_scan_cb visit_cb, void *ctx)
{
    ASSERT(dbi >= 0 && dbi < CAIRN_DB_COUNT);
    const struct kv_db *db = &kv->dbs[dbi];
    if (dict_size(db) == 0)
        return 0;
    uint64_t v = cursor;
    if (!rehashing(db)) {
        uint64_t m0 = db->t[0].size - 1;
        visit_bucket(&db->t[0], v & m0, visit_cb, ctx);
        return cursor_next(v, m0);
    }
    const struct kv_table *small = &db->t[0], *large = &db->t[1];
    if (small->size > large->size) {
        small = &db->t[1];
        large = &db->t[0];
    }
    uint64_t m0 = small->size - 1, m1 = large->size - 1;
    visit_bucket(small, v & m0, visit_cb, ctx);
    do {
        visit_bucket(large, v & m1, visit_cb, ctx);
        v = cursor_next(v, m1);
    } while ((v & (m0 ^ m1)) != 0);
    return v;
}

size_t dict_sample(struct kv *kv, struct kv_db *db, struct kv_entry **out,
                   size_t n)
{
    if (dict_size(db) == 0 || n == 0)
        return 0;
    uint64_t maxsize = CAIRN_MAX(db->t[0].size, db->t[1].size);
    uint64_t i = cairn_rng_below(&kv->rng, maxsize);
    size_t count = 0, empty_run = 0;
    for (size_t steps = n * 10; steps > 0 && count < n; steps--) {
        for (int j = 0; j < (rehashing(db) ? 2 : 1); j++) {
            const struct kv_table *t = &db->t[j];
            if (i >= t->size || (j == 0 && rehashing(db) &&
                                 i < (uint64_t)db->rehash_idx))
                continue;
            if (t->slots[i] == NULL) {
                if (++empty_run >= 5 && empty_run > n) {
                    i = cairn_rng_below(&kv->rng, maxsize);
                    empty_run = 0;
                }
                continue;
            }
            empty_run = 0;
            for (struct kv_entry *e = t->slots[i]; e != NULL && count < n;
                 e = e->next)
                out[count++] = e;
        }
        i = (i + 1) & (maxsize - 1);
    }
    return count;
}

static struct kv_entry *chain_pick(struct kv *kv, struct kv_entry *head)
{
    uint64_t len = 0;
    for (struct kv_entry *e = head; e != NULL; e = e->next)
        len++;
    uint64_t k = cairn_rng_below(&kv->rng, len);
    while (k-- > 0)
        head = head->next;
    return head;
}

struct kv_entry *dict_random(struct kv *kv, struct kv_db *db)
{
    if (dict_size(db) == 0)
        return NULL;
    uint64_t s0 = db->t[0].size, s1 = db->t[1].size;
    uint64_t lo = rehashing(db) ? (uint64_t)db->rehash_idx : 0;
    for (int tries = 0; tries < DICT_RANDOM_TRIES; tries++) {
        uint64_t i = lo + cairn_rng_below(&kv->rng, s0 + s1 - lo);
        struct kv_entry *head = i < s0 ? db->t[0].slots[i]
                                       : db->t[1].slots[i - s0];
        if (head != NULL)
            return chain_pick(kv, head);
    }
    /* A very sparse table (a shrink that could not allocate): walk it. */
    for (int j = 0; j < 2; j++) {
        for (uint64_t b = 0; b < db->t[j].size; b++) {
            if (db->t[j].slots[b] != NULL)
                return chain_pick(kv, db->t[j].slots[b]);
        }
    }
    UNREACHABLE();
}
