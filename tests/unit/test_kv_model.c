/* test_kv_model.c: model-based test of the cache engine.  A trivial
 * reference (an array of keys with value and expire time) and two engines
 * with different hash seeds receive the same random operations under a fake
 * clock; after every operation each key's visible value and TTL must agree,
 * the engines' invariants must hold and their live digests must be equal
 * (the digest may not depend on the hash seed, the table layout, or on
 * whether expired keys were deleted on reads: engine b acts as a follower). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/rng.h"
#include "kv/kv.h"
#include "kv/kv_int.h"
#include "testlib.h"

#define NKEYS 24
#define NDB 2
#define VAL_MAX 6000

struct mkey {
    bool present;
    size_t len;
    char val[VAL_MAX];
    int64_t expire;
};

static struct mkey model[NDB][NKEYS];
static int64_t now;
static struct cairn_rng rng;

static size_t kname(char *buf, int i)
{
    return (size_t)snprintf(buf, 16, "k%d", i);
}

static bool mlive(int db, int k)
{
    struct mkey *m = &model[db][k];
    if (m->present && m->expire != KV_NO_EXPIRE && now > m->expire)
        m->present = false;
    return m->present;
}

static size_t rand_value(char *out)
{
    switch (cairn_rng_below(&rng, 4)) {
    case 0:
        return cairn_i64_to_str((int64_t)cairn_rng_next(&rng) >>
                                    cairn_rng_below(&rng, 64),
                                out);
    case 1:
        memset(out, 'r', 5000);
        return 5000;
    default: {
        size_t n = cairn_rng_below(&rng, 60);
        for (size_t i = 0; i < n; i++)
            out[i] = (char)('a' + cairn_rng_below(&rng, 26));
        return n;
    }
    }
}

static void compare(struct kv *kv, int step)
{
    for (int d = 0; d < NDB; d++) {
        for (int k = 0; k < NKEYS; k++) {
            char name[16];
            size_t nl = kname(name, k);
            struct kv_entry *e = kv_lookup_read(
                kv, d, name, nl, now, KV_LOOKUP_NOTOUCH | KV_LOOKUP_NOSTATS);
            bool live = mlive(d, k);
            if ((e != NULL) != live)
                fail_msg("step %d db %d key %d: engine %s, model %s", step, d,
                         k, e ? "present" : "absent", live ? "present" : "absent");
            if (e == NULL)
                continue;
            char tmp[24];
            size_t len;
            const char *v = kv_entry_str(e, tmp, &len);
            if (len != model[d][k].len ||
                memcmp(v, model[d][k].val, len) != 0)
                fail_msg("step %d db %d key %d: value differs (len %zu vs %zu)",
                         step, d, k, len, model[d][k].len);
            if (kv_entry_expire(e) != model[d][k].expire)
                fail_msg("step %d db %d key %d: expire %lld vs %lld", step, d,
                         k, (long long)kv_entry_expire(e),
                         (long long)model[d][k].expire);
        }
    }
    if (!kv_check(kv))
        fail_msg("step %d: kv_check failed", step);
}

/* Applies one random operation to both engines and the model. */
static void step_once(struct kv *a, struct kv *b)
{
    int d = (int)cairn_rng_below(&rng, NDB), k = (int)cairn_rng_below(&rng, NKEYS);
    char name[16];
    size_t nl = kname(name, k);
    struct mkey *m = &model[d][k];
    bool live = mlive(d, k);
    struct kv *kvs[2] = {a, b};
    static char val[VAL_MAX];
    int op = (int)cairn_rng_below(&rng, 14);
    switch (op) {
    case 0:
    case 1: { /* SET with optional TTL or KEEPTTL */
        size_t len = rand_value(val);
        int mode = (int)cairn_rng_below(&rng, 3);
        int64_t exp = mode == 1 ? now + 1 + (int64_t)cairn_rng_below(&rng, 3000)
                                : KV_NO_EXPIRE;
        unsigned flags = mode == 2 ? KV_SET_KEEPTTL : 0;
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_set(kvs[i], d, name, nl, val, len, exp, flags,
                                    now), 0);
        m->expire = mode == 2 ? (live ? m->expire : KV_NO_EXPIRE) : exp;
        m->present = true;
        m->len = len;
        memcpy(m->val, val, len);
        break;
    }
    case 2: { /* INCRBY-like */
        int64_t cur = 0, delta = (int64_t)cairn_rng_below(&rng, 100) - 50;
        if (live && (m->len > 20 || cairn_str_to_i64(m->val, m->len, &cur) != 0))
            break;
        if (cur > INT64_MAX - 100 || cur < INT64_MIN + 100)
            break;
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_set_int(kvs[i], d, name, nl, cur + delta, now), 0);
        if (!live)
            m->expire = KV_NO_EXPIRE;
        m->present = true;
        m->len = cairn_i64_to_str(cur + delta, m->val);
        break;
    }
    case 3: { /* APPEND */
        size_t len = cairn_rng_below(&rng, 8), out = 0;
        memset(val, 'p', len);
        if ((live ? m->len : 0) + len > VAL_MAX)
            break;
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_append(kvs[i], d, name, nl, val, len, now, &out), 0);
        if (!live) {
            m->len = 0;
            m->expire = KV_NO_EXPIRE;
        }
        memcpy(m->val + m->len, val, len);
        m->len += len;
        m->present = true;
        assert_int_equal(out, m->len);
        break;
    }
    case 4: { /* SETRANGE */
        size_t off = cairn_rng_below(&rng, 40), len = 1 + cairn_rng_below(&rng, 5);
        size_t out = 0;
        memset(val, 's', len);
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_setrange(kvs[i], d, name, nl, off, val, len,
                                         now, &out), 0);
        if (!live) {
            m->len = 0;
            m->expire = KV_NO_EXPIRE;
        }
        if (off > m->len)
            memset(m->val + m->len, 0, off - m->len);
        memcpy(m->val + off, val, len);
        m->len = CAIRN_MAX(m->len, off + len);
        m->present = true;
        assert_int_equal(out, m->len);
        break;
    }
    case 5: /* DEL */
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_delete(kvs[i], d, name, nl, now), live);
        m->present = false;
        break;
    case 6: { /* EXPIRE in the future */
        int64_t exp = now + 1 + (int64_t)cairn_rng_below(&rng, 3000);
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_expire_set(kvs[i], d, name, nl, exp, now),
                             live ? 0 : CAIRN_ENOTFOUND);
        if (live)
            m->expire = exp;
        break;
    }
    case 7: /* PERSIST */
        for (int i = 0; i < 2; i++)
            assert_int_equal(kv_persist(kvs[i], d, name, nl, now),
                             live && m->expire != KV_NO_EXPIRE);
        if (live)
            m->expire = KV_NO_EXPIRE;
        break;
    case 8:
    case 9: { /* RENAME or COPY */
        int d2 = (int)cairn_rng_below(&rng, NDB), k2 = (int)cairn_rng_below(&rng, NKEYS);
        char n2[16];
        size_t n2l = kname(n2, k2);
        bool copy = op == 9;
        bool same = d2 == d && k2 == k;
        bool dst_live = mlive(d2, k2);
        int want = !live ? CAIRN_ENOTFOUND
                   : (copy && dst_live) ? CAIRN_EEXIST : 0;
        if (copy && same && live)
            want = CAIRN_EEXIST;
        for (int i = 0; i < 2; i++) {
            int rc = copy ? kv_copy(kvs[i], d, name, nl, d2, n2, n2l, false, now)
                          : kv_rename(kvs[i], d, name, nl, d2, n2, n2l, now);
            assert_int_equal(rc, want);
        }
        if (want == 0 && !same) {
            model[d2][k2] = *m;
            if (!copy)
                m->present = false;
        }
        break;
    }
    case 10: { /* active expiry */
        size_t budget = 1 + cairn_rng_below(&rng, 10);
        for (int i = 0; i < 2; i++)
            (void)kv_expire_cycle(kvs[i], now, budget);
        break;
    }
    case 11: /* time passes */
        now += (int64_t)cairn_rng_below(&rng, 400);
        break;
    case 12:
        if (cairn_rng_below(&rng, 40) == 0) {
            for (int i = 0; i < 2; i++)
                kv_flushdb(kvs[i], d);
            for (int j = 0; j < NKEYS; j++)
                model[d][j].present = false;
        }
        break;
    default:
        for (int i = 0; i < 2; i++)
            kv_rehash_idle(kvs[i], 1);
        break;
    }
}

static void engine_matches_model(void **state)
{
    (void)state;
    uint64_t seed = test_seed(20240601);
    for (int run = 0; run < 10; run++) {
        cairn_rng_seed(&rng, seed + (uint64_t)run);
        memset(model, 0, sizeof(model));
        now = 1700000000000;
        struct kv_config cfg;
        kv_config_default(&cfg);
        cfg.hash_seed = seed + 1;
        cfg.lazy_expire_on_read = run % 2 == 0;
        struct kv *a = kv_new(&cfg);
        cfg.hash_seed = seed * 31 + 7;
        cfg.lazy_expire_on_read = !cfg.lazy_expire_on_read; /* a follower */
        struct kv *b = kv_new(&cfg);
        assert_non_null(a);
        assert_non_null(b);
        for (int step = 0; step < 5000; step++) {
            step_once(a, b);
            compare(a, step);
            compare(b, step);
            /* One engine deletes expired keys on reads, the other keeps
             * them: their live contents must still agree. */
            if (kv_digest_live(a, now) != kv_digest_live(b, now))
                fail_msg("run %d step %d: digests differ", run, step);
        }
        kv_free(a);
        kv_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(engine_matches_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
