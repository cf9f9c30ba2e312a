/* test_kv_evict.c: maxmemory eviction.  Each policy evicts the right kind of
 * keys (volatile-* never takes a key without a TTL), the approximated
 * policies prefer the keys they should (cold for LRU, rare for LFU, soonest
 * to expire for volatile-ttl), and noeviction reports that it cannot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "kv/kv.h"
#include "kv/kv_int.h"
#include "testlib.h"

#define T0 1700000000000
#define N 1000

static struct kv *make(enum kv_policy p, uint64_t seed)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.hash_seed = seed;
    cfg.policy = p;
    cfg.maxmemory_samples = 10;
    struct kv *kv = kv_new(&cfg);
    assert_non_null(kv);
    return kv;
}

/* Keys v0..v(N/2-1) have a TTL (v_i expires at T0 + 1h + i s); p0.. do not. */
static void fill(struct kv *kv)
{
    char k[32];
    for (int i = 0; i < N / 2; i++) {
        size_t kl = (size_t)snprintf(k, sizeof(k), "v%d", i);
        assert_int_equal(kv_set(kv, i % 3, k, kl, "0123456789abcdef", 16,
                                T0 + 3600000 + (int64_t)i * 1000, 0, T0), 0);
        kl = (size_t)snprintf(k, sizeof(k), "p%d", i);
        assert_int_equal(kv_set(kv, i % 3, k, kl, "0123456789abcdef", 16,
                                KV_NO_EXPIRE, 0, T0), 0);
    }
}

static bool alive(struct kv *kv, char kind, int i)
{
    char k[32];
    size_t kl = (size_t)snprintf(k, sizeof(k), "%c%d", kind, i);
    return kv_exists(kv, i % 3, k, kl, T0);
}

static void limit_to(struct kv *kv, size_t bytes)
{
    struct kv_config cfg = *kv_config_get(kv);
    cfg.maxmemory = bytes;
    kv_config_update(kv, &cfg);
}

static void each_policy_evicts_only_its_kind(void **state)
{
    (void)state;
    const enum kv_policy all[] = {
        KV_POLICY_ALLKEYS_LRU,  KV_POLICY_ALLKEYS_LFU,
        KV_POLICY_ALLKEYS_RANDOM, KV_POLICY_VOLATILE_LRU,
        KV_POLICY_VOLATILE_LFU, KV_POLICY_VOLATILE_RANDOM,
        KV_POLICY_VOLATILE_TTL,
    };
    for (size_t p = 0; p < ARRAY_LEN(all); p++) {
        struct kv *kv = make(all[p], 5);
        fill(kv);
        size_t used = kv_memory_used(kv);
        limit_to(kv, used - used / 5);
        assert_true(kv_over_maxmemory(kv));
        assert_int_equal(kv_evict(kv, T0), 0);
        assert_false(kv_over_maxmemory(kv));
        assert_true(kv_check(kv));
        struct kv_stats st;
        kv_stats_get(kv, &st);
        assert_true(st.evicted_keys > 0);
        int p_gone = 0, v_gone = 0;
        for (int i = 0; i < N / 2; i++) {
            p_gone += !alive(kv, 'p', i);
            v_gone += !alive(kv, 'v', i);
        }
        assert_int_equal((uint64_t)(p_gone + v_gone), st.evicted_keys);
        bool vol = all[p] >= KV_POLICY_VOLATILE_LRU;
        if (vol && p_gone != 0)
            fail_msg("%s evicted %d keys without a TTL",
                     kv_policy_name(all[p]), p_gone);
        if (!vol && p_gone == 0)
            fail_msg("%s never evicted a key without a TTL",
                     kv_policy_name(all[p]));
        kv_free(kv);
    }
}

static void noeviction_and_nothing_evictable_report_full(void **state)
{
    (void)state;
    struct kv *kv = make(KV_POLICY_NOEVICTION, 1);
    fill(kv);
    limit_to(kv, kv_memory_used(kv) / 2);
    assert_int_equal(kv_evict(kv, T0), CAIRN_EFULL);
    assert_int_equal(kv_dbsize(kv, 0) + kv_dbsize(kv, 1) + kv_dbsize(kv, 2), N);
    kv_free(kv);

    /* volatile-lru with only persistent keys: evicts what it may, then
     * reports that it cannot get under the limit. */
    kv = make(KV_POLICY_VOLATILE_LRU, 1);
    fill(kv);
    limit_to(kv, kv_memory_used(kv) / 4);
    assert_int_equal(kv_evict(kv, T0), CAIRN_EFULL);
    for (int d = 0; d < 3; d++)
        assert_int_equal(kv_expires_count(kv, d), 0);
    for (int i = 0; i < N / 2; i++)
        assert_true(alive(kv, 'p', i));
    assert_true(kv_check(kv));
    kv_free(kv);
}

static void budgeted_eviction_stops_with_eagain(void **state)
{
    (void)state;
    struct kv *kv = make(KV_POLICY_ALLKEYS_RANDOM, 3);
    fill(kv);
    limit_to(kv, kv_memory_used(kv) / 2);
    assert_int_equal(kv_evict_budget(kv, T0, 10), CAIRN_EAGAIN);
    struct kv_stats st;
    kv_stats_get(kv, &st);
    assert_int_equal(st.evicted_keys, 10);
    kv_free(kv);
}

/* Share of the evicted keys that came from the cold set (cold(i) true). */
static int evicted_cold_percent(struct kv *kv, bool (*cold)(int i))
{
    int gone = 0, gone_cold = 0;
    for (int i = 0; i < N / 2; i++) {
        if (!alive(kv, 'p', i)) {
            gone++;
            gone_cold += cold(i);
        }
    }
    assert_true(gone > 0);
    return gone_cold * 100 / gone;
}

static bool low_half(int i)
{
    return i < N / 4;
}

static void lru_evicts_cold_keys(void **state)
{
    (void)state;
    struct kv *kv = make(KV_POLICY_ALLKEYS_LRU, test_seed(11));
    fill(kv);
    char k[32];
    for (int i = N / 4; i < N / 2; i++) { /* warm half touched later */
        size_t kl = (size_t)snprintf(k, sizeof(k), "p%d", i);
        assert_non_null(kv_lookup_read(kv, i % 3, k, kl, T0 + 100000, 0));
    }
    size_t used = kv_memory_used(kv);
    limit_to(kv, used - used / 10);
    assert_int_equal(kv_evict(kv, T0 + 200000), 0);
    int pct = evicted_cold_percent(kv, low_half);
    if (pct < 90)
        fail_msg("LRU: only %d%% of evicted keys were cold", pct);
    kv_free(kv);
}

static void lfu_evicts_rarely_used_keys(void **state)
{
    (void)state;
    struct kv *kv = make(KV_POLICY_ALLKEYS_LFU, test_seed(12));
    fill(kv);
    char k[32];
    for (int rep = 0; rep < 30; rep++) {
        for (int i = N / 4; i < N / 2; i++) {
            size_t kl = (size_t)snprintf(k, sizeof(k), "p%d", i);
            assert_non_null(kv_lookup_read(kv, i % 3, k, kl, T0, 0));
        }
    }
    struct kv_entry *e = kv_lookup_read(kv, 0, "p300", 4, T0, KV_LOOKUP_NOTOUCH);
    assert_true(kv_entry_lfu(kv, e, T0) > 5);
    size_t used = kv_memory_used(kv);
    limit_to(kv, used - used / 10);
    assert_int_equal(kv_evict(kv, T0), 0);
    int pct = evicted_cold_percent(kv, low_half);
    if (pct < 90)
        fail_msg("LFU: only %d%% of evicted keys were rarely used", pct);
    kv_free(kv);
}

static void volatile_ttl_evicts_soonest_expiring(void **state)
{
    (void)state;
    struct kv *kv = make(KV_POLICY_VOLATILE_TTL, test_seed(13));
    fill(kv);
    size_t used = kv_memory_used(kv);
    limit_to(kv, used - used / 10);
    assert_int_equal(kv_evict(kv, T0), 0);
    int gone = 0, gone_early = 0;
    for (int i = 0; i < N / 2; i++) {
        if (!alive(kv, 'v', i)) {
            gone++;
            gone_early += i < 2 * 150; /* well inside the soonest part */
        }
    }
    assert_true(gone > 0 && gone < 150);
    if (gone_early * 100 / gone < 90)
        fail_msg("volatile-ttl: %d of %d evicted keys were early", gone_early,
                 gone);
    kv_free(kv);
}

/* Keys that were pooled as candidates and then lost their TTL must not be
 * evicted by a volatile policy. */
static void volatile_skips_pooled_keys_that_lost_their_ttl(void **state)
{
    (void)state;
    struct kv *kv = make(KV_POLICY_VOLATILE_LRU, 21);
    fill(kv);
    limit_to(kv, kv_memory_used(kv) - 100);
    assert_int_equal(kv_evict(kv, T0), 0); /* fills the pool */
    assert_true(kv->pool_len > 0);
    char k[32];
    for (int i = 0; i < N / 2; i++) {
        size_t kl = (size_t)snprintf(k, sizeof(k), "v%d", i);
        if (i % 10 == 0)
            (void)kv_delete(kv, i % 3, k, kl, T0); /* pool_forget */
        else
            (void)kv_persist(kv, i % 3, k, kl, T0);
    }
    struct kv_stats before;
    kv_stats_get(kv, &before);
    limit_to(kv, kv_memory_used(kv) / 2);
    assert_int_equal(kv_evict(kv, T0), CAIRN_EFULL);
    struct kv_stats after;
    kv_stats_get(kv, &after);
    assert_int_equal(after.evicted_keys, before.evicted_keys);
    assert_true(kv_check(kv));
    kv_free(kv);
}

static void policy_names_round_trip(void **state)
{
    (void)state;
    for (int p = KV_POLICY_NOEVICTION; p <= KV_POLICY_VOLATILE_TTL; p++) {
        enum kv_policy got;
        assert_int_equal(kv_policy_parse(kv_policy_name((enum kv_policy)p),
                                         &got), 0);
        assert_int_equal(got, p);
    }
    enum kv_policy got;
    assert_int_equal(kv_policy_parse("ALLKEYS-LRU", &got), 0);
    assert_int_equal(got, KV_POLICY_ALLKEYS_LRU);
    assert_int_equal(kv_policy_parse("lru", &got), CAIRN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_policy_evicts_only_its_kind),
        cmocka_unit_test(noeviction_and_nothing_evictable_report_full),
        cmocka_unit_test(budgeted_eviction_stops_with_eagain),
        cmocka_unit_test(lru_evicts_cold_keys),
        cmocka_unit_test(lfu_evicts_rarely_used_keys),
        cmocka_unit_test(volatile_ttl_evicts_soonest_expiring),
        cmocka_unit_test(volatile_skips_pooled_keys_that_lost_their_ttl),
        cmocka_unit_test(policy_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
