/* test_sim_disk.c: the disk model: what a crash keeps (synced data, a
 * prefix of unsynced writes, torn at sectors), the namespace journal rule
 * for create and rename, corruption a checksum catches, injected fsync and
 * write failures, capacity, and a model-based consistency run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "disk.h"
#include "io/io.h"
#include "testlib.h"

#define RW (IO_OPEN_READ | IO_OPEN_WRITE)
#define RWC (IO_OPEN_READ | IO_OPEN_WRITE | IO_OPEN_CREATE)

struct fixture {
    struct cairn_rng rng;
    struct sim_disk *d;
};

static void fx_init(struct fixture *f, uint64_t seed)
{
    cairn_rng_seed(&f->rng, seed);
    struct sim_disk_config cfg;
    sim_disk_config_default(&cfg);
    f->d = sim_disk_new(&f->rng, &cfg);
}

static void fill(uint8_t *buf, size_t len, uint8_t v)
{
    memset(buf, v, len);
}

static void write_file(struct sim_disk *d, const char *name, uint64_t off,
                       uint8_t v, size_t len, bool sync)
{
    uint8_t buf[4096];
    assert_true(len <= sizeof(buf));
    fill(buf, len, v);
    struct sim_disk_handle h;
    assert_int_equal(sim_disk_open(d, name, RWC, &h), 0);
    assert_int_equal(sim_disk_write(d, h, off, buf, len), 0);
    if (sync)
        assert_int_equal(sim_disk_fsync(d, h), 0);
    sim_disk_close(d, h);
}

/* The crash outcome must be 'a'x1024 then a prefix of the later writes,
 * whole writes first, the first unkept one cut at a sector boundary. */
static void crash_keeps_synced_and_a_prefix_of_the_rest(void **state)
{
    (void)state;
    int all_lost = 0, all_kept = 0, torn = 0;
    uint64_t base = test_seed(100);
    for (uint64_t seed = base; seed < base + 64; seed++) {
        struct fixture f;
        fx_init(&f, seed);
        write_file(f.d, "log", 0, 'a', 1024, true);
        write_file(f.d, "log", 1024, 'b', 1024, false);
        write_file(f.d, "log", 2048, 'c', 1024, false);
        sim_disk_crash(f.d);
        assert_true(sim_disk_check(f.d));
        size_t len;
        const uint8_t *p = sim_disk_contents(f.d, "log", &len);
        assert_non_null(p);
        assert_true(len == 1024 || len == 1536 || len == 2048 || len == 2560 ||
                    len == 3072);
        for (size_t i = 0; i < len; i++)
            assert_int_equal(p[i], i < 1024 ? 'a' : (i < 2048 ? 'b' : 'c'));
        all_lost += len == 1024;
        all_kept += len == 3072;
        torn += len % 1024 != 0;
        sim_disk_free(f.d);
    }
    assert_true(all_lost > 0);
    assert_true(all_kept > 0);
    assert_true(torn > 0);
}

static void unsynced_new_file_vanishes_unless_committed(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f, 1);
    write_file(f.d, "fresh", 0, 'x', 100, false);
    assert_true(sim_disk_exists(f.d, "fresh"));
    sim_disk_crash(f.d);
    assert_false(sim_disk_exists(f.d, "fresh"));
    /* Another file's fsync commits the name, not the data. */
    write_file(f.d, "fresh", 0, 'x', 100, false);
    write_file(f.d, "other", 0, 'y', 10, true);
    sim_disk_crash(f.d);
    assert_true(sim_disk_exists(f.d, "fresh"));
    assert_true(sim_disk_exists(f.d, "other"));
    size_t len;
    sim_disk_contents(f.d, "other", &len);
    assert_int_equal(len, 10);
    sim_disk_free(f.d);
}

static void rename_is_durable_after_the_next_commit(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f, 2);
    write_file(f.d, "snap", 0, 'o', 50, true); /* the old snapshot */
    write_file(f.d, "snap.tmp", 0, 'n', 60, true);
    assert_int_equal(sim_disk_rename(f.d, "snap.tmp", "snap"), 0);
    size_t len;
    assert_non_null(sim_disk_contents(f.d, "snap", &len));
    assert_int_equal(len, 60);
    sim_disk_crash(f.d); /* nothing committed the rename */
    const uint8_t *p = sim_disk_contents(f.d, "snap", &len);
    assert_int_equal(len, 50);
    assert_int_equal(p[0], 'o');
    assert_true(sim_disk_exists(f.d, "snap.tmp"));
    /* Again, with a commit after the rename. */
    assert_int_equal(sim_disk_rename(f.d, "snap.tmp", "snap"), 0);
    write_file(f.d, "meta", 0, 'm', 1, true);
    sim_disk_crash(f.d);
    p = sim_disk_contents(f.d, "snap", &len);
    assert_int_equal(len, 60);
    assert_int_equal(p[0], 'n');
    assert_false(sim_disk_exists(f.d, "snap.tmp"));
    assert_int_equal(sim_disk_rename(f.d, "nope", "x"), CAIRN_ENOTFOUND);
    sim_disk_free(f.d);
}

static void rename_of_unsynced_data_can_leave_an_empty_file(void **state)
{
    (void)state;
    /* The classic bug: rename (committed) before fsync of the data. */
    int empty = 0;
    for (uint64_t seed = 1; seed <= 32; seed++) {
        struct fixture f;
        fx_init(&f, seed);
        write_file(f.d, "tmp", 0, 'd', 100, false);
        assert_int_equal(sim_disk_rename(f.d, "tmp", "final"), 0);
        write_file(f.d, "meta", 0, 'm', 1, true);
        sim_disk_crash(f.d);
        size_t len;
        assert_non_null(sim_disk_contents(f.d, "final", &len));
        empty += len == 0;
        sim_disk_free(f.d);
    }
    assert_true(empty > 0);
}

static void corruption_is_visible_to_a_checksum(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f, 3);
    write_file(f.d, "seg", 0, 'q', 4096, true);
    size_t len;
    const uint8_t *p = sim_disk_contents(f.d, "seg", &len);
    uint32_t before = cairn_crc32c(0, p, len);
    assert_int_equal(sim_disk_corrupt(f.d, "seg", 100, 3), 0);
    p = sim_disk_contents(f.d, "seg", &len);
    assert_int_equal(p[100], 'q' ^ 8);
    assert_true(cairn_crc32c(0, p, len) != before);
    /* It is on the medium: a crash does not undo it. */
    sim_disk_crash(f.d);
    p = sim_disk_contents(f.d, "seg", &len);
    assert_int_equal(p[100], 'q' ^ 8);
    assert_int_equal(sim_disk_corrupt(f.d, "seg", 5000, 0), CAIRN_ERANGE);
    assert_int_equal(sim_disk_corrupt(f.d, "none", 0, 0), CAIRN_ENOTFOUND);
    char name[32];
    assert_int_equal(sim_disk_corrupt_random(f.d, name, sizeof(name)), 0);
    assert_string_equal(name, "seg");
    assert_true(sim_disk_check(f.d));
    sim_disk_free(f.d);
}

/* A wipe empties the disk for good: synced and unsynced files, names not
 * yet committed, armed failures; a crash afterwards brings nothing back,
 * and the disk works as new. */
static void wipe_removes_everything_for_good(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f, 4);
    write_file(f.d, "meta", 0, 'm', 1024, true);
    write_file(f.d, "seg-1", 0, 's', 4096, true);
    write_file(f.d, "seg-1", 4096, 't', 512, false);
    write_file(f.d, "seg-2", 0, 'u', 100, false); /* name not committed */
    struct sim_disk_handle h;
    assert_int_equal(sim_disk_open(f.d, "meta", RW, &h), 0);
    sim_disk_crash(f.d); /* the node is down: its handles are dead */
    sim_disk_fail_next(f.d, SIM_DISK_OP_FSYNC, CAIRN_EIO);
    assert_true(sim_disk_file_count(f.d) > 0);
    sim_disk_wipe(f.d);
    assert_int_equal(sim_disk_file_count(f.d), 0);
    assert_false(sim_disk_exists(f.d, "meta"));
    assert_int_equal(sim_disk_corrupt_random(f.d, NULL, 0), CAIRN_ENOTFOUND);
    sim_disk_crash(f.d);
    assert_int_equal(sim_disk_file_count(f.d), 0);
    assert_true(sim_disk_check(f.d));
    struct sim_disk_stats st;
    sim_disk_stats_get(f.d, &st);
    assert_int_equal(st.wipes, 1);
    /* As new: the armed fsync failure is gone; files come back only when
     * written again. */
    write_file(f.d, "meta", 0, 'n', 512, true);
    sim_disk_crash(f.d);
    size_t len;
    const uint8_t *p = sim_disk_contents(f.d, "meta", &len);
    assert_non_null(p);
    assert_int_equal(len, 512);
    assert_int_equal(p[0], 'n');
    assert_int_equal(sim_disk_file_count(f.d), 1);
    sim_disk_free(f.d);
}

static void failed_fsync_is_reported_and_syncs_nothing(void **state)
{
    (void)state;
    int lost = 0;
    for (uint64_t seed = 1; seed <= 32; seed++) {
        struct fixture f;
        fx_init(&f, seed);
        struct sim_disk_handle h;
        assert_int_equal(sim_disk_open(f.d, "wal", RWC, &h), 0);
        assert_int_equal(sim_disk_fsync(f.d, h), 0); /* commit the name */
        uint8_t buf[600];
        fill(buf, sizeof(buf), 'w');
        assert_int_equal(sim_disk_write(f.d, h, 0, buf, sizeof(buf)), 0);
        sim_disk_fail_next(f.d, SIM_DISK_OP_FSYNC, CAIRN_EIO);
        assert_int_equal(sim_disk_fsync(f.d, h), CAIRN_EIO);
        sim_disk_crash(f.d);
        size_t len;
        assert_non_null(sim_disk_contents(f.d, "wal", &len));
        lost += len < sizeof(buf);
        sim_disk_free(f.d);
    }
    assert_true(lost > 0);
    /* With a successful fsync nothing is ever lost. */
    for (uint64_t seed = 1; seed <= 32; seed++) {
        struct fixture f;
        fx_init(&f, seed);
        write_file(f.d, "wal", 0, 'w', 600, true);
        sim_disk_crash(f.d);
        size_t len;
        assert_non_null(sim_disk_contents(f.d, "wal", &len));
        assert_int_equal(len, 600);
        sim_disk_free(f.d);
    }
}

static void write_faults_capacity_and_errors(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, 4);
    struct sim_disk_config cfg;
    sim_disk_config_default(&cfg);
    cfg.capacity_bytes = 1000;
    struct sim_disk *d = sim_disk_new(&rng, &cfg);
    struct sim_disk_handle h;
    assert_int_equal(sim_disk_open(d, "f", RW, &h), CAIRN_ENOTFOUND);
    assert_int_equal(sim_disk_open(d, "", RWC, &h), CAIRN_EINVAL);
    assert_int_equal(sim_disk_open(d, "f", RWC, &h), 0);
    uint8_t buf[800] = {0};
    sim_disk_fail_next(d, SIM_DISK_OP_WRITE, CAIRN_EIO);
    assert_int_equal(sim_disk_write(d, h, 0, buf, 10), CAIRN_EIO);
    size_t len;
    sim_disk_contents(d, "f", &len);
    assert_int_equal(len, 0); /* a failed write writes nothing */
    assert_int_equal(sim_disk_write(d, h, 0, buf, 800), 0);
    assert_int_equal(sim_disk_write(d, h, 800, buf, 300), CAIRN_EFULL);
    assert_int_equal(sim_disk_write(d, h, 100, buf, 300), 0); /* overwrite */
    uint8_t out[1000];
    size_t n;
    assert_int_equal(sim_disk_read(d, h, 700, out, 1000, &n), 0);
    assert_int_equal(n, 100); /* short at EOF */
    assert_int_equal(sim_disk_read(d, h, 5000, out, 10, &n), 0);
    assert_int_equal(n, 0);
    sim_disk_close(d, h);
    /* Truncate on open. */
    assert_int_equal(sim_disk_open(d, "f", RW | IO_OPEN_TRUNCATE, &h), 0);
    sim_disk_contents(d, "f", &len);
    assert_int_equal(len, 0);
    sim_disk_close(d, h);
    assert_int_equal(sim_disk_handles_open(d), 0);
    assert_int_equal(sim_disk_unlink(d, "f"), 0);
    assert_false(sim_disk_exists(d, "f"));
    assert_int_equal(sim_disk_unlink(d, "f"), CAIRN_ENOTFOUND);
    assert_true(sim_disk_check(d));
    sim_disk_free(d);
}

/* Random operations against a reference of what must be readable now. */
static void random_ops_keep_the_disk_consistent(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f, test_seed(5));
    static uint8_t ref[4][8192];
    size_t ref_len[4] = {0};
    bool ref_exists[4] = {false};
    const char *names[4] = {"a", "b", "c", "d"};
    for (int step = 0; step < 2000; step++) {
        unsigned k = (unsigned)cairn_rng_below(&f.rng, 4);
        unsigned what = (unsigned)cairn_rng_below(&f.rng, 10);
        if (what < 6) {
            size_t off = cairn_rng_below(&f.rng, 4096);
            size_t len = 1 + cairn_rng_below(&f.rng, 2048);
            uint8_t v = (uint8_t)step;
            write_file(f.d, names[k], off, v, len, what == 0);
            if (off > ref_len[k])
                memset(ref[k] + ref_len[k], 0, off - ref_len[k]);
            memset(ref[k] + off, v, len);
            if (off + len > ref_len[k])
                ref_len[k] = off + len;
            ref_exists[k] = true;
        } else if (what < 8 && ref_exists[k]) {
            assert_int_equal(sim_disk_unlink(f.d, names[k]), 0);
            ref_exists[k] = false;
            ref_len[k] = 0;
        } else if (what == 8) {
            sim_disk_crash(f.d);
            for (unsigned i = 0; i < 4; i++) {
                size_t len = 0;
                const uint8_t *p = sim_disk_contents(f.d, names[i], &len);
                ref_exists[i] = p != NULL;
                ref_len[i] = len;
                if (len > 0)
                    memcpy(ref[i], p, len);
            }
        }
        assert_true(sim_disk_check(f.d));
        size_t len = 0;
        const uint8_t *p = sim_disk_contents(f.d, names[k], &len);
        assert_int_equal(p != NULL, ref_exists[k]);
        assert_int_equal(len, ref_len[k]);
        if (len > 0)
            assert_memory_equal(p, ref[k], len);
    }
    sim_disk_free(f.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_keeps_synced_and_a_prefix_of_the_rest),
        cmocka_unit_test(unsynced_new_file_vanishes_unless_committed),
        cmocka_unit_test(rename_is_durable_after_the_next_commit),
        cmocka_unit_test(rename_of_unsynced_data_can_leave_an_empty_file),
        cmocka_unit_test(corruption_is_visible_to_a_checksum),
        cmocka_unit_test(wipe_removes_everything_for_good),
        cmocka_unit_test(failed_fsync_is_reported_and_syncs_nothing),
        cmocka_unit_test(write_faults_capacity_and_errors),
        cmocka_unit_test(random_ops_keep_the_disk_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
