/* test_kv_expire.c: expiry without sleeping: the tests advance the fake
 * now_ms passed to every call.  Covers the expiry boundary, lazy expiry on
 * read and write (and the follower rule that reads never delete), the
 * active cycle's budget and round-robin, and TTL bookkeeping. */
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

static struct kv *make(bool lazy_read)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.hash_seed = 77;
    cfg.lazy_expire_on_read = lazy_read;
    struct kv *kv = kv_new(&cfg);
    assert_non_null(kv);
    return kv;
}

static void put(struct kv *kv, int db, const char *k, int64_t expire)
{
    assert_int_equal(kv_set(kv, db, k, strlen(k), "v", 1, expire, 0, T0), 0);
}

static void key_lives_until_its_expire_time_inclusive(void **state)
{
    (void)state;
    struct kv *kv = make(true);
    put(kv, 0, "a", T0 + 100);
    assert_non_null(kv_lookup_read(kv, 0, "a", 1, T0 + 100, 0));
    assert_true(kv_exists(kv, 0, "a", 1, T0 + 100));
    assert_false(kv_exists(kv, 0, "a", 1, T0 + 101));
    assert_null(kv_lookup_read(kv, 0, "a", 1, T0 + 101, 0));
    struct kv_stats st;
    kv_stats_get(kv, &st);
    assert_int_equal(st.expired_keys, 1);
    assert_int_equal(st.keyspace_hits, 1);
    assert_int_equal(st.keyspace_misses, 1);
    assert_int_equal(kv_dbsize(kv, 0), 0);
    assert_int_equal(kv_expires_count(kv, 0), 0);
    assert_true(kv_check(kv));
    kv_free(kv);
}

static void follower_reads_hide_but_never_delete(void **state)
{
    (void)state;
    struct kv *kv = make(false);
    put(kv, 0, "a", T0 + 10);
    put(kv, 0, "b", T0 + 10);
    assert_null(kv_lookup_read(kv, 0, "a", 1, T0 + 50, 0));
    assert_null(kv_random_key(kv, 0, T0 + 50));
    assert_int_equal(kv_dbsize(kv, 0), 2); /* still stored */
    struct kv_stats st;
    kv_stats_get(kv, &st);
    assert_int_equal(st.expired_keys, 0);
    /* A write that meets the expired key deletes it as part of its effect. */
    assert_null(kv_lookup_write(kv, 0, "a", 1, T0 + 50));
    assert_int_equal(kv_dbsize(kv, 0), 1);
    assert_false(kv_delete(kv, 0, "b", 1, T0 + 50)); /* expired: not live */
    assert_int_equal(kv_dbsize(kv, 0), 0);
    kv_stats_get(kv, &st);
    assert_int_equal(st.expired_keys, 2);
    kv_free(kv);
}

static void set_over_expired_key_starts_fresh(void **state)
{
    (void)state;
    struct kv *kv = make(false);
    put(kv, 0, "a", T0 + 10);
    /* KEEPTTL on an expired key keeps nothing: the key was absent. */
    assert_int_equal(kv_set(kv, 0, "a", 1, "new", 3, KV_NO_EXPIRE,
                            KV_SET_KEEPTTL, T0 + 20), 0);
    struct kv_entry *e = kv_lookup_read(kv, 0, "a", 1, T0 + 20, 0);
    assert_non_null(e);
    assert_true(kv_entry_expire(e) == KV_NO_EXPIRE);
    /* APPEND to an expired key starts from empty. */
    put(kv, 0, "b", T0 + 10);
    size_t n = 0;
    assert_int_equal(kv_append(kv, 0, "b", 1, "xy", 2, T0 + 20, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(kv_expire_set(kv, 0, "zz", 2, T0 + 99, T0 + 20),
                     CAIRN_ENOTFOUND);
    kv_free(kv);
}

static void active_cycle_respects_budget_and_finds_everything(void **state)
{
    (void)state;
    struct kv *kv = make(true);
    char k[32];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "t%d", i);
        put(kv, i % 4, k, T0 + (i % 2 == 0 ? 100 : 100000));
        snprintf(k, sizeof(k), "p%d", i);
        put(kv, i % 4, k, KV_NO_EXPIRE);
    }
    /* Nothing due yet: the cycle examines but deletes nothing. */
    assert_int_equal(kv_expire_cycle(kv, T0 + 50, 1000), 0);
    int64_t now = T0 + 200;
    size_t total = 0;
    for (int round = 0; round < 100 && total < 150; round++) {
        size_t got = kv_expire_cycle(kv, now, 7);
        assert_true(got <= 7);
        total += got;
        assert_true(kv_check(kv));
    }
    assert_int_equal(total, 150);
    uint64_t size = 0, expires = 0;
    for (int d = 0; d < 4; d++) {
        size += kv_dbsize(kv, d);
        expires += kv_expires_count(kv, d);
    }
    assert_int_equal(size, 450);
    assert_int_equal(expires, 150);
    assert_int_equal(kv_expire_cycle(kv, now, 1000), 0);
    /* Keys without a TTL are never examined. */
    struct kv_stats st;
    kv_stats_get(kv, &st);
    assert_int_equal(st.expired_keys, 150);
    kv_free(kv);
}

static void ttl_changes_keep_index_consistent(void **state)
{
    (void)state;
    struct kv *kv = make(true);
    put(kv, 0, "a", KV_NO_EXPIRE);
    assert_int_equal(kv_expire_set(kv, 0, "a", 1, T0 + 500, T0), 0);
    assert_int_equal(kv_expires_count(kv, 0), 1);
    assert_int_equal(kv_expire_set(kv, 0, "a", 1, T0 + 900, T0), 0);
    assert_int_equal(kv_expires_count(kv, 0), 1);
    assert_int_equal(kv_avg_ttl(kv, 0, T0), 900);
    assert_true(kv_persist(kv, 0, "a", 1, T0));
    assert_false(kv_persist(kv, 0, "a", 1, T0));
    assert_int_equal(kv_expires_count(kv, 0), 0);
    put(kv, 0, "b", T0 + 5);
    /* A plain SET clears the TTL; KEEPTTL keeps it. */
    assert_int_equal(kv_set(kv, 0, "b", 1, "w", 1, KV_NO_EXPIRE,
                            KV_SET_KEEPTTL, T0), 0);
    assert_int_equal(kv_expires_count(kv, 0), 1);
    assert_int_equal(kv_set(kv, 0, "b", 1, "w", 1, KV_NO_EXPIRE, 0, T0), 0);
    assert_int_equal(kv_expires_count(kv, 0), 0);
    /* INCR keeps the TTL. */
    assert_int_equal(kv_set(kv, 0, "n", 1, "1", 1, T0 + 70, 0, T0), 0);
    assert_int_equal(kv_set_int(kv, 0, "n", 1, 2, T0), 0);
    struct kv_entry *e = kv_lookup_read(kv, 0, "n", 1, T0, 0);
    assert_true(kv_entry_expire(e) == T0 + 70);
    /* RENAME carries the TTL across databases. */
    assert_int_equal(kv_rename(kv, 0, "n", 1, 3, "m", 1, T0), 0);
    assert_int_equal(kv_expires_count(kv, 0), 0);
    assert_int_equal(kv_expires_count(kv, 3), 1);
    e = kv_lookup_read(kv, 3, "m", 1, T0, 0);
    assert_true(kv_entry_expire(e) == T0 + 70);
    assert_true(kv_check(kv));
    kv_free(kv);
}

static void random_key_deletes_expired_keys_on_a_single_node(void **state)
{
    (void)state;
    struct kv *kv = make(true);
    put(kv, 0, "a", T0 + 10);
    put(kv, 0, "b", T0 + 10);
    assert_null(kv_random_key(kv, 0, T0 + 50));
    assert_int_equal(kv_dbsize(kv, 0), 0);
    put(kv, 0, "c", KV_NO_EXPIRE);
    struct kv_entry *e = kv_random_key(kv, 0, T0 + 50);
    assert_non_null(e);
    struct kv_stats st;
    kv_stats_get(kv, &st);
    assert_int_equal(st.expired_keys, 2);
    kv_stats_reset(kv);
    kv_stats_get(kv, &st);
    assert_int_equal(st.expired_keys, 0);
    kv_free(kv);
}

struct visit_log {
    struct kv *kv;
    int count;
};

static void delete_visited(void *ctx, int db, const char *key, size_t klen)
{
    struct visit_log *log = ctx;
    log->count++;
    /* What a Raft leader does: a DEL goes through the log and is applied
     * later; here it is applied right after the scan. */
    (void)db;
    (void)key;
    (void)klen;
}

static void count_only(void *ctx, int db, const char *key, size_t klen)
{
    (void)db;
    (void)key;
    (void)klen;
    (*(int *)ctx)++;
}

static void expire_scan_reports_without_deleting(void **state)
{
    (void)state;
    struct kv *kv = make(false);
    char k[32];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "t%d", i);
        put(kv, i % 2, k, T0 + (i < 40 ? 10 : 100000));
    }
    struct visit_log log = {.kv = kv};
    size_t total = 0;
    for (int round = 0; round < 20; round++)
        total += kv_expire_scan(kv, T0 + 50, 9, delete_visited, &log);
    /* 20 rounds of 9 cover all 100 keys at least once. */
    assert_true(total >= 40);
    assert_int_equal((size_t)log.count, total);
    assert_int_equal(kv_dbsize(kv, 0) + kv_dbsize(kv, 1), 100);
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof(k), "t%d", i);
        assert_false(kv_delete(kv, i % 2, k, strlen(k), T0 + 50));
    }
    int left = 0;
    for (int round = 0; round < 20; round++)
        (void)kv_expire_scan(kv, T0 + 50, 9, count_only, &left);
    assert_int_equal(left, 0);
    assert_true(kv_digest_live(kv, T0 + 50) == kv_digest(kv));
    kv_free(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_lives_until_its_expire_time_inclusive),
        cmocka_unit_test(follower_reads_hide_but_never_delete),
        cmocka_unit_test(set_over_expired_key_starts_fresh),
        cmocka_unit_test(active_cycle_respects_budget_and_finds_everything),
        cmocka_unit_test(ttl_changes_keep_index_consistent),
        cmocka_unit_test(random_key_deletes_expired_keys_on_a_single_node),
        cmocka_unit_test(expire_scan_reports_without_deleting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
