/* test_kv_table.c: the cache's hash table: incremental rehashing, SCAN's
 * guarantee across resizes, glob matching, memory accounting and the
 * allocation-failure paths of every mutation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "kv/kv.h"
#include "kv/kv_int.h"
#include "testlib.h"

#define NOW 1000000

static struct kv *kv_make(uint64_t seed)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.hash_seed = seed;
    struct kv *kv = kv_new(&cfg);
    assert_non_null(kv);
    return kv;
}

static size_t key_name(char *buf, int i)
{
    return (size_t)snprintf(buf, 32, "key:%d", i);
}

static void set_key(struct kv *kv, int db, int i)
{
    char k[32];
    size_t kl = key_name(k, i);
    assert_int_equal(kv_set(kv, db, k, kl, k, kl, KV_NO_EXPIRE, 0, NOW), 0);
}

static bool has_key(struct kv *kv, int db, int i)
{
    char k[32];
    size_t kl = key_name(k, i);
    return kv_exists(kv, db, k, kl, NOW);
}

static void rehash_is_incremental_and_lookups_see_both_tables(void **state)
{
    (void)state;
    struct kv *kv = kv_make(1);
    bool saw_rehash = false;
    for (int i = 0; i < 5000; i++) {
        set_key(kv, 0, i);
        if (kv_rehashing(kv)) {
            saw_rehash = true;
            /* Every key inserted so far is visible mid-rehash. */
            if (i % 97 == 0) {
                for (int j = 0; j <= i; j++)
                    assert_true(has_key(kv, 0, j));
            }
        }
        if (i % 211 == 0)
            assert_true(kv_check(kv));
    }
    assert_true(saw_rehash);
    assert_int_equal(kv_dbsize(kv, 0), 5000);
    kv_rehash_idle(kv, 100000);
    assert_false(kv_rehashing(kv));
    assert_true(kv_check(kv));
    /* Deleting most keys shrinks the table, again incrementally. */
    for (int i = 0; i < 4990; i++) {
        char k[32];
        size_t kl = key_name(k, i);
        assert_true(kv_delete(kv, 0, k, kl, NOW));
        if (i % 211 == 0)
            assert_true(kv_check(kv));
    }
    kv_rehash_idle(kv, 100000);
    assert_true(kv_check(kv));
    assert_true(kv->dbs[0].t[0].size <= 64);
    for (int i = 4990; i < 5000; i++)
        assert_true(has_key(kv, 0, i));
    kv_free(kv);
}

struct seen {
    uint8_t *count; /* per key index */
    int n;
};

static void scan_visit(void *ctx, const struct kv_entry *e)
{
    struct seen *s = ctx;
    size_t len;
    const char *k = kv_entry_key(e, &len);
    int i = -1;
    if (len > 4 && memcmp(k, "key:", 4) == 0)
        sscanf(k + 4, "%d", &i);
    if (i >= 0 && i < s->n && s->count[i] < 255)
        s->count[i]++;
}

/* Keys 0..999 stay for the whole scan; keys 1000.. come and go between
 * steps to force growth and shrinking.  Each stable key must be seen. */
static void scan_returns_every_stable_key_across_resizes(void **state)
{
    (void)state;
    uint64_t seed = test_seed(7);
    for (int round = 0; round < 4; round++) {
        struct kv *kv = kv_make(seed + (uint64_t)round);
        struct seen s = {.count = calloc(100000, 1), .n = 100000};
        for (int i = 0; i < 1000; i++)
            set_key(kv, 0, i);
        int next_churn = 1000, shrink_steps = 0;
        if (round % 2 == 1) {
            for (int i = 1000; i < 31000; i++)
                set_key(kv, 0, i);
            kv_rehash_idle(kv, 1u << 20);
        }
        uint64_t cursor = 0;
        int steps = 0;
        do {
            cursor = kv_scan(kv, 0, cursor, scan_visit, &s);
            steps++;
            if (round % 2 == 0 && steps % 3 == 0 && next_churn < 30000) {
                for (int j = 0; j < 200; j++)
                    set_key(kv, 0, next_churn++); /* grow */
            } else if (round % 2 == 1) {
                /* Delete the temporary keys in batches: the table shrinks
                 * and rehashes from the larger table into the smaller. */
                for (int j = 0; j < 150 && next_churn < 31000; j++) {
                    char k[32];
                    size_t kl = key_name(k, next_churn++);
                    assert_true(kv_delete(kv, 0, k, kl, NOW));
                }
                if (kv->dbs[0].rehash_idx >= 0 &&
                    kv->dbs[0].t[0].size > kv->dbs[0].t[1].size)
                    shrink_steps++;
            }
            assert_true(steps < 1000000);
        } while (cursor != 0);
        for (int i = 0; i < 1000; i++) {
            if (s.count[i] == 0)
                fail_msg("round %d: key %d never returned by SCAN", round, i);
        }
        if (round % 2 == 1 && shrink_steps == 0)
            fail_msg("round %d: the scan never overlapped a shrink", round);
        assert_true(kv_check(kv));
        free(s.count);
        kv_free(kv);
    }
}

static void scan_visits_each_key_once_without_resizes(void **state)
{
    (void)state;
    struct kv *kv = kv_make(3);
    struct seen s = {.count = calloc(3000, 1), .n = 3000};
    for (int i = 0; i < 3000; i++)
        set_key(kv, 0, i);
    kv_rehash_idle(kv, 1000000);
    uint64_t cursor = 0;
    do {
        cursor = kv_scan(kv, 0, cursor, scan_visit, &s);
    } while (cursor != 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(s.count[i], 1);
    free(s.count);
    kv_free(kv);
}

static void same_seed_same_scan_order(void **state)
{
    (void)state;
    struct kv *a = kv_make(42), *b = kv_make(42);
    for (int i = 0; i < 500; i++) {
        set_key(a, 0, i);
        set_key(b, 0, i);
    }
    uint64_t ca = 0, cb = 0;
    do {
        ca = kv_scan(a, 0, ca, scan_visit, &(struct seen){0});
        cb = kv_scan(b, 0, cb, scan_visit, &(struct seen){0});
        assert_true(ca == cb);
    } while (ca != 0);
    assert_true(kv_digest(a) == kv_digest(b));
    kv_free(a);
    kv_free(b);
}

static void glob_matches_like_redis(void **state)
{
    (void)state;
    struct {
        const char *pat, *str;
        bool match;
    } cases[] = {
        {"*", "", true},          {"*", "abc", true},
        {"a*", "abc", true},      {"a*", "bac", false},
        {"*c", "abc", true},      {"a?c", "abc", true},
        {"a?c", "ac", false},     {"h[ae]llo", "hello", true},
        {"h[ae]llo", "hillo", false}, {"h[^e]llo", "hallo", true},
        {"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true},
        {"h[b-a]llo", "hallo", true}, {"h[a-b]llo", "hcllo", false},
        {"h\\*llo", "h*llo", true},   {"h\\*llo", "hello", false},
        {"*a*b*c*", "xxaxxbxxcxx", true}, {"*a*b*c*", "xxcxxbxxaxx", false},
        {"a*b", "aaaaaaaaaaaaaaaaaaaaaaaac", false},
        {"[abc", "a", true},      {"\\", "\\", true},
        {"user:*:name", "user:42:name", true},
        {"user:*:name", "user:42:age", false},
        {"***", "x", true},       {"?", "", false},
        {"a[\\]]b", "a]b", true}, {"a[\\]]b", "a\\b", false},
        {"[a-]", "-", false},     {"[-a]", "-", true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        bool got = kv_glob_match(cases[i].pat, strlen(cases[i].pat),
                                 cases[i].str, strlen(cases[i].str));
        if (got != cases[i].match)
            fail_msg("glob '%s' vs '%s': got %d want %d", cases[i].pat,
                     cases[i].str, got, cases[i].match);
    }
}

static void memory_accounting_returns_to_baseline(void **state)
{
    (void)state;
    struct kv *kv = kv_make(5);
    size_t base = kv_memory_used(kv);
    for (int i = 0; i < 2000; i++) {
        set_key(kv, i % 3, i);
        char k[32];
        size_t kl = key_name(k, i);
        if (i % 2 == 0)
            assert_int_equal(kv_expire_set(kv, i % 3, k, kl, NOW + 5000, NOW),
                             0);
    }
    assert_true(kv_memory_used(kv) > base + 2000 * 40);
    assert_true(kv_check(kv));
    kv_flushall(kv);
    assert_int_equal(kv_memory_used(kv), base);
    kv_free(kv);
}

/* Runs op with allocation failing after n allocations for n = 0, 1, ...;
 * each failure must leave the state (digest, sizes) unchanged. */
typedef int (*fault_op)(struct kv *kv);

static void check_fault_paths(fault_op op, const char *name)
{
    for (long n = 0; n < 100; n++) {
        struct kv *kv = kv_make(9);
        for (int i = 0; i < 40; i++)
            set_key(kv, 0, i);
        char big[100];
        memset(big, 'x', sizeof(big));
        assert_int_equal(kv_set(kv, 0, "raw", 3, big, sizeof(big),
                                NOW + 100000, 0, NOW), 0);
        assert_int_equal(kv_append(kv, 0, "raw", 3, "y", 1, NOW,
                                   &(size_t){0}), 0);
        uint64_t digest = kv_digest(kv);
        uint64_t size = kv_dbsize(kv, 0) + kv_dbsize(kv, 1);
        test_alloc_fail_after(n);
        int rc = op(kv);
        test_alloc_reset();
        assert_true(kv_check(kv));
        if (rc == 0) {
            kv_free(kv);
            return;
        }
        if (rc != CAIRN_ENOMEM)
            fail_msg("%s: rc %d at n=%ld", name, rc, n);
        assert_true(kv_digest(kv) == digest);
        assert_true(kv_dbsize(kv, 0) + kv_dbsize(kv, 1) == size);
        kv_free(kv);
    }
    fail_msg("%s never succeeded", name);
}

static int op_set_new(struct kv *kv)
{
    return kv_set(kv, 0, "newkey", 6, "v", 1, NOW + 10, 0, NOW);
}
static int op_set_over(struct kv *kv)
{
    return kv_set(kv, 0, "key:3", 5, "longer value", 12, NOW + 10, 0, NOW);
}
static int op_set_db1(struct kv *kv)
{
    return kv_set(kv, 1, "k", 1, "v", 1, KV_NO_EXPIRE, 0, NOW);
}
static int op_set_int(struct kv *kv)
{
    return kv_set_int(kv, 0, "key:3", 5, 77, NOW);
}
static int op_append(struct kv *kv)
{
    size_t n;
    return kv_append(kv, 0, "key:4", 5, "tail", 4, NOW, &n);
}
static int op_append_raw(struct kv *kv)
{
    size_t n;
    char big[300] = {0};
    return kv_append(kv, 0, "raw", 3, big, sizeof(big), NOW, &n);
}
static int op_setrange(struct kv *kv)
{
    size_t n;
    return kv_setrange(kv, 0, "key:5", 5, 10, "zz", 2, NOW, &n);
}
static int op_setrange_new(struct kv *kv)
{
    size_t n;
    return kv_setrange(kv, 0, "fresh", 5, 3, "zz", 2, NOW, &n);
}
static int op_expire(struct kv *kv)
{
    return kv_expire_set(kv, 0, "key:6", 5, NOW + 50, NOW);
}
static int op_rename(struct kv *kv)
{
    return kv_rename(kv, 0, "raw", 3, 1, "moved", 5, NOW);
}
static int op_copy(struct kv *kv)
{
    return kv_copy(kv, 0, "raw", 3, 1, "copied", 6, false, NOW);
}
static int op_copy_replace(struct kv *kv)
{
    return kv_copy(kv, 0, "raw", 3, 0, "key:1", 5, true, NOW);
}
static int op_kv_new(struct kv *kv)
{
    (void)kv;
    struct kv_config cfg;
    kv_config_default(&cfg);
    struct kv *k2 = kv_new(&cfg);
    if (k2 == NULL)
        return CAIRN_ENOMEM;
    kv_free(k2);
    return 0;
}

static void allocation_failures_leave_state_unchanged(void **state)
{
    (void)state;
    check_fault_paths(op_set_new, "set new");
    check_fault_paths(op_set_over, "set overwrite");
    check_fault_paths(op_set_db1, "set in empty db");
    check_fault_paths(op_set_int, "set int");
    check_fault_paths(op_append, "append");
    check_fault_paths(op_append_raw, "append raw");
    check_fault_paths(op_setrange, "setrange");
    check_fault_paths(op_setrange_new, "setrange new");
    check_fault_paths(op_expire, "expire");
    check_fault_paths(op_rename, "rename");
    check_fault_paths(op_copy, "copy");
    check_fault_paths(op_copy_replace, "copy replace");
    check_fault_paths(op_kv_new, "kv_new");
}

static void persist_works_without_memory(void **state)
{
    (void)state;
    struct kv *kv = kv_make(11);
    assert_int_equal(kv_set(kv, 0, "k", 1, "hello", 5, NOW + 1000, 0, NOW), 0);
    test_alloc_fail_after(0);
    assert_true(kv_persist(kv, 0, "k", 1, NOW));
    test_alloc_reset();
    assert_true(kv_check(kv));
    struct kv_entry *e = kv_lookup_read(kv, 0, "k", 1, NOW, 0);
    assert_non_null(e);
    assert_true(kv_entry_expire(e) == KV_NO_EXPIRE);
    char tmp[24];
    size_t len;
    const char *v = kv_entry_str(e, tmp, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "hello", 5);
    kv_free(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rehash_is_incremental_and_lookups_see_both_tables),
        cmocka_unit_test(scan_returns_every_stable_key_across_resizes),
        cmocka_unit_test(scan_visits_each_key_once_without_resizes),
        cmocka_unit_test(same_seed_same_scan_order),
        cmocka_unit_test(glob_matches_like_redis),
        cmocka_unit_test(memory_accounting_returns_to_baseline),
        cmocka_unit_test(allocation_failures_leave_state_unchanged),
        cmocka_unit_test(persist_works_without_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
