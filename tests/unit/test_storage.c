/* test_storage.c: durable Raft storage over the simulator's disk: round
 * trips, segment rolls, truncation, compaction, snapshot installs, group
 * commit, corruption reported with file and offset, fsync failure, and a
 * crash at every step of an append sequence (losing unsynced writes and
 * tearing the first lost one) that must never lose an acknowledged entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/rng.h"
#include "disk.h"
#include "net.h"
#include "node/storage.h"
#include "node/storage_int.h"
#include "raft/raft.h"
#include "sim_io.h"
#include "testlib.h"
#include "world.h"

#define DIR "/data"
#define GID 7
#define LOG_MAX 512

/* ---- environment ---- */

/* A recovered log, as (index, term) pairs with the data checked. */
struct rlog {
    uint64_t snap_index, snap_term;
    uint64_t term, vote, commit;
    struct raft_conf conf;
    size_t n;
    uint64_t index[LOG_MAX];
    uint64_t terms[LOG_MAX];
    size_t snap_len;
    uint8_t snap_first; /* first byte of the snapshot data */
};

struct env {
    struct sim_world *w;
    struct sim_net *net;
    struct sim_disk *disk;
    struct sim_io *sio;
    struct io *io;
    struct storage *s;
    struct storage_config cfg;
    bool opened;
    int open_status;
    struct rlog got;
    /* completions */
    uint32_t done;
    uint32_t order[1024];
    int last_status;
};

/* Deterministic entry data: its length and bytes depend on index and term. */
static uint32_t gen_data(uint64_t index, uint64_t term, uint8_t *out)
{
    uint32_t len = (uint32_t)((index * 7 + term) % 40) * 9;
    for (uint32_t i = 0; i < len; i++)
        out[i] = (uint8_t)(index * 31 + term * 17 + i);
    return len;
}

static bool skip_raft_check; /* set while allocations may fail */

static void open_cb(void *ctx, int status, const struct raft_restore *rs,
                    const void *snap, size_t snap_len)
{
    struct env *e = ctx;
    e->opened = true;
    e->open_status = status;
    memset(&e->got, 0, sizeof(e->got));
    if (status != 0)
        return;
    e->got.snap_index = rs->snapshot.last_index;
    e->got.snap_term = rs->snapshot.last_term;
    e->got.term = rs->hard_state.term;
    e->got.vote = rs->hard_state.vote;
    e->got.commit = rs->hard_state.commit_index;
    e->got.conf = rs->snapshot.conf;
    e->got.snap_len = snap_len;
    e->got.snap_first = snap_len > 0 ? ((const uint8_t *)snap)[0] : 0;
    assert_true(rs->n_entries <= LOG_MAX);
    for (size_t i = 0; i < rs->n_entries; i++) {
        const struct raft_entry *en = &rs->entries[i];
        uint8_t want[400];
        uint32_t len = en->type == RAFT_ENTRY_NORMAL
                           ? gen_data(en->index, en->term, want) : en->len;
        assert_int_equal(en->len, len);
        if (en->type == RAFT_ENTRY_NORMAL && len > 0)
            assert_memory_equal(en->data, want, len);
        e->got.index[i] = en->index;
        e->got.terms[i] = en->term;
    }
    e->got.n = rs->n_entries;
    /* The real core must accept what storage restores. */
    if (skip_raft_check)
        return;
    struct raft_restore r2 = *rs;
    if (r2.snapshot.conf.n_members == 0) {
        r2.snapshot.conf.n_members = 1;
        r2.snapshot.conf.members[0].id = 1;
        r2.snapshot.conf.members[0].role = RAFT_VOTER;
    }
    struct raft_config rc;
    raft_config_default(&rc, 1, GID, 1);
    struct raft *r;
    assert_int_equal(raft_create(&rc, &r2, &r), 0);
    raft_destroy(r);
}

static void env_io_new(struct env *e)
{
    struct sim_io_config cfg = {.host = 0, .mono_base_us = 1000};
    e->sio = sim_io_new(e->w, e->net, e->disk, &cfg);
    e->io = sim_io_io(e->sio);
}

static void env_init(struct env *e, uint64_t seed)
{
    memset(e, 0, sizeof(*e));
    e->w = sim_world_new(seed, 0);
    struct sim_net_config ncfg;
    sim_net_config_default(&ncfg);
    e->net = sim_net_new(e->w, 1, &ncfg);
    struct sim_disk_config dcfg;
    sim_disk_config_default(&dcfg);
    e->disk = sim_disk_new(sim_world_rng(e->w), &dcfg);
    env_io_new(e);
    storage_config_default(&e->cfg);
}

static void run(struct env *e)
{
    uint64_t until = sim_world_now_us(e->w) + 1000000;
    assert_int_equal(sim_world_run_until(e->w, until, 10000000), 0);
}

/* Opens (or reopens) the storage and runs until the open completes. */
static int env_open(struct env *e)
{
    e->opened = false;
    assert_int_equal(storage_open(e->io, DIR, GID, &e->cfg, e, open_cb, &e->s),
                     0);
    /* Tiny read chunks make opening take many simulated seconds. */
    for (int i = 0; i < 1000 && !e->opened; i++)
        run(e);
    assert_true(e->opened);
    if (e->open_status == 0)
        storage_restore_release(e->s);
    return e->open_status;
}

static void env_close(struct env *e)
{
    if (e->s != NULL)
        storage_close(e->s);
    e->s = NULL;
    run(e);
}

static void env_free(struct env *e)
{
    env_close(e);
    assert_int_equal(sim_io_handles_open(e->sio), 0);
    sim_io_free(e->sio);
    sim_net_free(e->net);
    sim_disk_free(e->disk);
    assert_int_equal(sim_world_pending(e->w), 0);
    sim_world_free(e->w);
}

/* Power loss: the io dies, the disk keeps what it must, the node restarts. */
static void env_crash(struct env *e)
{
    sim_io_crash(e->sio);
    if (e->s != NULL)
        storage_abandon(e->s);
    e->s = NULL;
    sim_io_free(e->sio);
    env_io_new(e);
}

/* ---- building updates ---- */

struct upd {
    struct raft_update up;
    struct raft_entry ents[64];
    uint8_t data[64][400];
};

static void upd_init(struct upd *u)
{
    memset(u, 0, sizeof(*u));
    u->up.entries = u->ents;
}

static void upd_add(struct upd *u, uint64_t index, uint64_t term)
{
    size_t i = u->up.n_entries++;
    struct raft_entry *en = &u->ents[i];
    en->index = index;
    en->term = term;
    en->type = RAFT_ENTRY_NORMAL;
    en->len = gen_data(index, term, u->data[i]);
    en->data = en->len > 0 ? u->data[i] : NULL;
}

static void upd_hs(struct upd *u, uint64_t term, uint64_t vote,
                   uint64_t commit)
{
    u->up.has_hard_state = true;
    u->up.hard_state.term = term;
    u->up.hard_state.vote = vote;
    u->up.hard_state.commit_index = commit;
}

struct pctx {
    struct env *e;
    uint32_t id;
    struct storage_persisted p;
};

static struct pctx pctxs[1024];

static void persist_cb(void *ctx, int status, const struct storage_persisted *p)
{
    struct pctx *c = ctx;
    struct env *e = c->e;
    e->last_status = status;
    if (status == 0)
        c->p = *p;
    e->order[e->done++ % 1024] = c->id;
}

static int persist(struct env *e, struct upd *u, uint32_t id)
{
    pctxs[id].e = e;
    pctxs[id].id = id;
    return storage_persist(e->s, &u->up, &pctxs[id], persist_cb);
}

/* Appends entries [from, to] of term in one update and waits for it. */
static void append_sync(struct env *e, uint64_t from, uint64_t to,
                        uint64_t term, uint32_t id)
{
    struct upd u;
    upd_init(&u);
    for (uint64_t i = from; i <= to; i++)
        upd_add(&u, i, term);
    uint32_t before = e->done;
    assert_int_equal(persist(e, &u, id), 0);
    run(e);
    assert_int_equal(e->done, before + 1);
    assert_int_equal(e->last_status, 0);
    assert_int_equal(pctxs[id].p.last_index, to);
    assert_int_equal(pctxs[id].p.last_term, term);
}

static void done_cb(void *ctx, int status)
{
    int *out = ctx;
    *out = status;
}

static void expect_log(const struct env *e, uint64_t first, uint64_t last,
                       const uint64_t *terms)
{
    assert_int_equal(e->got.n, last + 1 - first);
    for (uint64_t i = first; i <= last; i++) {
        assert_int_equal(e->got.index[i - first], i);
        assert_int_equal(e->got.terms[i - first], terms[i]);
    }
}

/* ---- tests ---- */

static void round_trip_keeps_hard_state_conf_and_entries(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 1);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.term, 0);
    assert_int_equal(e.got.n, 0);
    assert_int_equal(e.got.conf.n_members, 0);

    struct raft_conf conf = {.n_members = 3,
                             .members = {{1, RAFT_VOTER}, {2, RAFT_VOTER},
                                         {3, RAFT_VOTER}}};
    int st = 1;
    assert_int_equal(storage_bootstrap(e.s, &conf, &st, done_cb), 0);
    assert_int_equal(st, 1); /* never inside the call */
    run(&e);
    assert_int_equal(st, 0);

    struct upd u;
    upd_init(&u);
    upd_hs(&u, 3, 2, 0);
    for (uint64_t i = 1; i <= 10; i++)
        upd_add(&u, i, i < 5 ? 2 : 3);
    assert_int_equal(persist(&e, &u, 0), 0);
    assert_int_equal(e.done, 0);
    run(&e);
    assert_int_equal(e.done, 1);
    assert_int_equal(pctxs[0].p.hard_state.term, 3);
    assert_int_equal(pctxs[0].p.hard_state.vote, 2);
    assert_int_equal(pctxs[0].p.last_index, 10);
    assert_int_equal(pctxs[0].p.last_term, 3);
    /* A commit-only change rides along with the next metadata write. */
    upd_init(&u);
    upd_hs(&u, 4, 0, 9);
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    assert_int_equal(pctxs[1].p.hard_state.commit_index, 9);
    env_close(&e);

    assert_int_equal(env_open(&e), 0);
    uint64_t terms[11] = {0, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3};
    expect_log(&e, 1, 10, terms);
    assert_int_equal(e.got.term, 4);
    assert_int_equal(e.got.vote, 0);
    assert_int_equal(e.got.commit, 9);
    assert_true(raft_conf_equal(&e.got.conf, &conf));
    /* Appends continue after a restart, in a new segment. */
    append_sync(&e, 11, 12, 4, 2);
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.n, 12);
    assert_int_equal(e.got.terms[11], 4);
    env_free(&e);
}

static void group_commit_shares_one_fsync_and_completes_in_order(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 2);
    assert_int_equal(env_open(&e), 0);
    struct storage_stats st0, st1;
    storage_stats_get(e.s, &st0);
    struct upd u;
    for (uint32_t k = 0; k < 10; k++) {
        upd_init(&u);
        upd_add(&u, k + 1, 1);
        assert_int_equal(persist(&e, &u, k), 0);
    }
    run(&e);
    assert_int_equal(e.done, 10);
    for (uint32_t k = 0; k < 10; k++) {
        assert_int_equal(e.order[k], k);
        assert_int_equal(pctxs[k].p.last_index, k + 1);
    }
    storage_stats_get(e.s, &st1);
    /* Ten calls in one loop turn: one batch, one fsync. */
    assert_int_equal(st1.batches - st0.batches, 1);
    assert_int_equal(st1.fsyncs - st0.fsyncs, 1);
    assert_int_equal(st1.persist_calls - st0.persist_calls, 10);
    /* Calls made while a batch runs share the next one. */
    st0 = st1;
    for (uint32_t k = 0; k < 5; k++) {
        upd_init(&u);
        upd_add(&u, 11 + k, 1);
        assert_int_equal(persist(&e, &u, 20 + k), 0);
    }
    for (int i = 0; i < 100 && st1.batches == st0.batches; i++) {
        assert_true(sim_world_step(e.w));
        storage_stats_get(e.s, &st1);
    }
    assert_int_equal(e.done, 10); /* the batch runs, nothing durable yet */
    for (uint32_t k = 0; k < 5; k++) {
        upd_init(&u);
        upd_add(&u, 16 + k, 1);
        assert_int_equal(persist(&e, &u, 25 + k), 0);
    }
    run(&e);
    assert_int_equal(e.done, 20);
    for (uint32_t k = 10; k < 20; k++)
        assert_int_equal(e.order[k], 10 + k);
    storage_stats_get(e.s, &st1);
    assert_int_equal(st1.batches - st0.batches, 2);
    assert_int_equal(st1.fsyncs - st0.fsyncs, 2);
    /* An update with nothing to write still completes, in order, later. */
    upd_init(&u);
    assert_int_equal(persist(&e, &u, 30), 0);
    assert_int_equal(e.done, 20);
    run(&e);
    assert_int_equal(e.done, 21);
    assert_int_equal(pctxs[30].p.last_index, 20);
    env_free(&e);
}

static void segments_roll_and_truncation_crosses_them(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 3);
    e.cfg.segment_size_max = 256;
    assert_int_equal(env_open(&e), 0);
    uint64_t terms[64];
    for (uint64_t i = 1; i <= 40; i++) {
        append_sync(&e, i, i, 1, (uint32_t)i);
        terms[i] = 1;
    }
    struct storage_stats st;
    storage_stats_get(e.s, &st);
    assert_true(st.segments_created >= 5);
    /* A new leader overwrites 12.. (several segments back). */
    struct upd u;
    upd_init(&u);
    u.up.truncate_from = 12;
    upd_hs(&u, 2, 0, 0);
    for (uint64_t i = 12; i <= 15; i++) {
        upd_add(&u, i, 2);
        terms[i] = 2;
    }
    assert_int_equal(persist(&e, &u, 50), 0);
    run(&e);
    assert_int_equal(pctxs[50].p.last_index, 15);
    assert_int_equal(pctxs[50].p.last_term, 2);
    /* A truncation with nothing after it is durable too. */
    upd_init(&u);
    u.up.truncate_from = 14;
    assert_int_equal(persist(&e, &u, 51), 0);
    run(&e);
    assert_int_equal(pctxs[51].p.last_index, 13);
    assert_int_equal(pctxs[51].p.last_term, 2);
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    expect_log(&e, 1, 13, terms);
    append_sync(&e, 14, 20, 3, 52);
    for (uint64_t i = 14; i <= 20; i++)
        terms[i] = 3;
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    expect_log(&e, 1, 20, terms);
    env_free(&e);
}

/* With CAIRN_STORAGE_CORPUS_DIR set, writes the group's files there as the
 * fuzzer's seed corpus (fuzz/corpus/storage_segment/). */
static void corpus_dump(const struct env *e)
{
    const char *dir = getenv("CAIRN_STORAGE_CORPUS_DIR");
    if (dir == NULL)
        return;
    static const char *names[] = {"g7-meta", "g7-seg-00000000000000000001",
                                  "g7-seg-00000000000000000002",
                                  "g7-seg-00000000000000000004",
                                  "g7-snap-00000000000000000001"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        char src[256], dst[1024];
        snprintf(src, sizeof(src), DIR "/%s", names[i]);
        snprintf(dst, sizeof(dst), "%s/%s", dir, names[i]);
        size_t len;
        const uint8_t *c = sim_disk_contents(e->disk, src, &len);
        FILE *f = c != NULL ? fopen(dst, "wb") : NULL;
        if (f == NULL)
            continue;
        fwrite(c, 1, len, f);
        fclose(f);
    }
}

static void snapshot_then_compaction_deletes_old_segments(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 4);
    e.cfg.segment_size_max = 300;
    e.cfg.snapshot_chunk_size = 100;
    assert_int_equal(env_open(&e), 0);
    for (uint64_t i = 1; i <= 60; i++)
        append_sync(&e, i, i, 1, (uint32_t)i);
    assert_true(sim_disk_exists(e.disk, DIR "/g7-seg-00000000000000000001"));
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13);
    struct raft_snapshot_meta m = {.last_index = 50, .last_term = 1,
                                   .size = sizeof(data)};
    m.conf.n_members = 1;
    m.conf.members[0].id = 1;
    m.conf.members[0].role = RAFT_VOTER;
    int st = 1;
    assert_int_equal(storage_snapshot_write(e.s, &m, data, &st, done_cb), 0);
    assert_int_equal(storage_snapshot_write(e.s, &m, data, &st, done_cb),
                     CAIRN_EBUSY);
    run(&e);
    assert_int_equal(st, 0);
    assert_int_equal(storage_snapshot_index(e.s), 50);
    corpus_dump(&e);
    /* Raft then says entries <= 45 may go (a trailing window of 5). */
    struct upd u;
    upd_init(&u);
    u.up.compact_index = 45;
    assert_int_equal(persist(&e, &u, 100), 0);
    run(&e);
    struct storage_stats ss;
    storage_stats_get(e.s, &ss);
    assert_true(ss.segments_deleted >= 3);
    assert_false(sim_disk_exists(e.disk, DIR "/g7-seg-00000000000000000001"));
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.snap_index, 50);
    assert_int_equal(e.got.snap_term, 1);
    assert_int_equal(e.got.snap_len, sizeof(data));
    assert_int_equal(e.got.snap_first, data[0]);
    assert_int_equal(e.got.conf.n_members, 1);
    assert_int_equal(e.got.n, 10);
    assert_int_equal(e.got.index[0], 51);
    /* A second snapshot replaces the first file. */
    m.last_index = 58;
    assert_int_equal(storage_snapshot_write(e.s, &m, data, &st, done_cb), 0);
    run(&e);
    assert_int_equal(st, 0);
    assert_false(sim_disk_exists(e.disk, DIR "/g7-snap-00000000000000000001"));
    assert_true(sim_disk_exists(e.disk, DIR "/g7-snap-00000000000000000002"));
    env_free(&e);
}

static void installed_snapshot_replaces_the_log(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 5);
    e.cfg.segment_size_max = 200;
    assert_int_equal(env_open(&e), 0);
    for (uint64_t i = 1; i <= 20; i++)
        append_sync(&e, i, i, 1, (uint32_t)i);
    uint8_t data[300];
    memset(data, 0xab, sizeof(data));
    struct raft_snapshot_chunk ch = {.meta = {.last_index = 100,
                                              .last_term = 4,
                                              .size = sizeof(data)}};
    ch.meta.conf.n_members = 1;
    ch.meta.conf.members[0].id = 9;
    ch.meta.conf.members[0].role = RAFT_VOTER;
    struct upd u;
    /* Two chunks; the second comes with the install and new entries. */
    upd_init(&u);
    ch.offset = 0;
    ch.len = 200;
    ch.data = data;
    u.up.snapshot_chunk = &ch;
    assert_int_equal(persist(&e, &u, 30), 0);
    upd_init(&u);
    ch.offset = 200;
    ch.len = 100;
    ch.data = data + 200;
    u.up.snapshot_chunk = &ch;
    u.up.snapshot_install = &ch.meta;
    upd_hs(&u, 4, 0, 100);
    upd_add(&u, 101, 4);
    upd_add(&u, 102, 4);
    assert_int_equal(persist(&e, &u, 31), 0);
    size_t len;
    const uint8_t *b = storage_snapshot_bytes(e.s, &len);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(b, data, sizeof(data));
    run(&e);
    assert_int_equal(pctxs[31].p.last_index, 102);
    assert_false(sim_disk_exists(e.disk, DIR "/g7-seg-00000000000000000001"));
    /* A chunk with a gap is refused and changes nothing. */
    upd_init(&u);
    ch.offset = 50;
    u.up.snapshot_chunk = &ch;
    assert_int_equal(persist(&e, &u, 32), CAIRN_EINVAL);
    /* Refused: a chunk past its announced size, an install whose size
     * differs from the bytes received, an install not newer. */
    upd_init(&u);
    struct raft_snapshot_chunk big = ch;
    big.offset = 0;
    big.len = 10;
    big.meta.size = 5;
    u.up.snapshot_chunk = &big;
    assert_int_equal(persist(&e, &u, 33), CAIRN_EINVAL);
    upd_init(&u);
    big.meta.size = 20;
    big.meta.last_index = 200;
    u.up.snapshot_chunk = &big;
    u.up.snapshot_install = &big.meta;
    assert_int_equal(persist(&e, &u, 34), CAIRN_EINVAL);
    big.meta.size = 10;
    big.meta.last_index = 100;
    assert_int_equal(persist(&e, &u, 35), CAIRN_EINVAL);
    run(&e);
    assert_int_equal(storage_last_index(e.s), 102);
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.snap_index, 100);
    assert_int_equal(e.got.snap_term, 4);
    assert_int_equal(e.got.snap_len, sizeof(data));
    assert_int_equal(e.got.conf.members[0].id, 9);
    assert_int_equal(e.got.n, 2);
    assert_int_equal(e.got.index[1], 102);
    env_free(&e);
}

/* Captures the last warning logged, to check the messages operators see. */
static char last_log[1024];
static void log_sink(void *ctx, enum cairn_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

static void build_three_segments(struct env *e)
{
    e->cfg.segment_size_max = 200;
    assert_int_equal(env_open(e), 0);
    for (uint64_t i = 1; i <= 20; i++)
        append_sync(e, i, i, 1, (uint32_t)i);
    env_close(e);
}

static void corruption_in_the_middle_names_file_and_offset(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    struct env e;
    env_init(&e, 6);
    build_three_segments(&e);
    const char *seg1 = DIR "/g7-seg-00000000000000000001";
    size_t len;
    assert_non_null(sim_disk_contents(e.disk, seg1, &len));
    assert_int_equal(sim_disk_corrupt(e.disk, seg1, len - 3, 2), 0);
    assert_int_equal(env_open(&e), CAIRN_ECORRUPT);
    const char *msg = storage_error(e.s);
    assert_non_null(strstr(msg, seg1));
    assert_non_null(strstr(msg, "checksum"));
    assert_non_null(strstr(msg, "offset"));
    assert_non_null(strstr(last_log, seg1));
    env_close(&e);
    cairn_log_set_sink(NULL, NULL);
    env_free(&e);
}

static void missing_segment_and_bad_meta_are_errors(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    struct env e;
    env_init(&e, 7);
    build_three_segments(&e);
    assert_int_equal(sim_disk_unlink(e.disk, DIR "/g7-seg-00000000000000000002"), 0);
    assert_int_equal(env_open(&e), CAIRN_ECORRUPT);
    assert_non_null(strstr(storage_error(e.s), "seg-00000000000000000003"));
    env_close(&e);
    /* Both meta slots damaged: no state to trust. */
    assert_int_equal(sim_disk_corrupt(e.disk, DIR "/g7-meta", 20, 0), 0);
    assert_int_equal(sim_disk_corrupt(e.disk, DIR "/g7-meta", 512 + 20, 0), 0);
    assert_int_equal(env_open(&e), CAIRN_ECORRUPT);
    assert_non_null(strstr(storage_error(e.s), "g7-meta"));
    env_close(&e);
    cairn_log_set_sink(NULL, NULL);
    env_free(&e);
}

/* A meta slot is one aligned sector, written whole or not at all (a crash
 * leaves the old slot), so a full-size meta file with a damaged slot is
 * corruption.  Falling back to the other slot would roll back an
 * acknowledged term and vote (here term 6, vote 2 -> term 5, vote 1: the
 * node could vote twice in a term): the node must refuse to start. */
static void one_damaged_meta_slot_is_corruption(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    struct env e;
    env_init(&e, 8);
    assert_int_equal(env_open(&e), 0);
    struct upd u;
    upd_init(&u);
    upd_hs(&u, 5, 1, 0);
    assert_int_equal(persist(&e, &u, 0), 0);
    run(&e);
    upd_init(&u);
    upd_hs(&u, 6, 2, 0);
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    env_close(&e);
    /* seq 3 (term 6) went to slot 1; damage it: slot 0 (term 5) remains. */
    assert_int_equal(sim_disk_corrupt(e.disk, DIR "/g7-meta", 512 + 40, 1), 0);
    assert_int_equal(env_open(&e), CAIRN_ECORRUPT);
    assert_non_null(strstr(storage_error(e.s), "g7-meta"));
    assert_non_null(strstr(storage_error(e.s), "offset 512"));
    env_close(&e);
    /* The older slot damaged instead: refused just the same (which slot is
     * the newer cannot be known from the bytes). */
    assert_int_equal(sim_disk_corrupt(e.disk, DIR "/g7-meta", 512 + 40, 1), 0);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.term, 6);
    assert_int_equal(e.got.vote, 2);
    env_close(&e);
    assert_int_equal(sim_disk_corrupt(e.disk, DIR "/g7-meta", 40, 1), 0);
    assert_int_equal(env_open(&e), CAIRN_ECORRUPT);
    assert_non_null(strstr(storage_error(e.s), "offset 0"));
    env_close(&e);
    cairn_log_set_sink(NULL, NULL);
    env_free(&e);
}

/* The rejoin mark: durable once its callback ran, kept across other meta
 * writes and reopens, cleared by 0; a slot of the older layout (no field,
 * the CRC over the shorter range) loads as no mark, and a flipped bit in
 * the field is corruption. */
static void rejoin_mark_survives_restarts_and_is_checksummed(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 12);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(storage_rejoin_index(e.s), 0);
    int st = 1;
    assert_int_equal(storage_rejoin_set(e.s, 42, &st, done_cb), 0);
    run(&e);
    assert_int_equal(st, 0);
    append_sync(&e, 1, 3, 2, 0);
    struct upd u;
    upd_init(&u);
    upd_hs(&u, 2, 5, 0); /* the meta slot rewritten: the mark stays */
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    env_crash(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(storage_rejoin_index(e.s), 42);
    assert_int_equal(e.got.n, 3);
    assert_int_equal(e.got.vote, 5);
    st = 1;
    assert_int_equal(storage_rejoin_set(e.s, 0, &st, done_cb), 0);
    run(&e);
    assert_int_equal(st, 0);
    env_crash(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(storage_rejoin_index(e.s), 0);
    env_free(&e);

    struct storage_meta m, got;
    memset(&m, 0, sizeof(m));
    m.seq = 3;
    m.term = 7;
    m.first_seg = 1;
    uint8_t slot[STORAGE_META_SLOT_SIZE];
    storage_meta_encode(GID, &m, slot);
    memset(slot + 12, 0, 4); /* the older layout's CRC */
    uint32_t crc = cairn_crc32c(0, slot, STORAGE_META_SLOT_USED_V1);
    for (int i = 0; i < 4; i++)
        slot[12 + i] = (uint8_t)(crc >> (8 * i));
    assert_int_equal(storage_meta_decode(slot, sizeof(slot), GID, &got), 0);
    assert_int_equal(got.term, 7);
    assert_int_equal(got.rejoin, 0);
    slot[STORAGE_META_REJOIN_OFF + 2] ^= 4;
    assert_int_equal(storage_meta_decode(slot, sizeof(slot), GID, &got),
                     CAIRN_ECORRUPT);
    m.rejoin = 99;
    storage_meta_encode(GID, &m, slot);
    assert_int_equal(storage_meta_decode(slot, sizeof(slot), GID, &got), 0);
    assert_int_equal(got.rejoin, 99);
    slot[STORAGE_META_REJOIN_OFF] ^= 1;
    assert_int_equal(storage_meta_decode(slot, sizeof(slot), GID, &got),
                     CAIRN_ECORRUPT);
}

static void torn_tail_is_dropped_with_a_warning(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    struct env e;
    env_init(&e, 9);
    assert_int_equal(env_open(&e), 0);
    append_sync(&e, 1, 5, 1, 0);
    /* An append whose last record is then cut by hand, as a crash in the
     * middle of its write would. */
    struct upd u;
    upd_init(&u);
    for (uint64_t i = 6; i <= 30; i++)
        upd_add(&u, i, 1);
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    env_close(&e);
    const char *seg = DIR "/g7-seg-00000000000000000001";
    size_t len;
    const uint8_t *c = sim_disk_contents(e.disk, seg, &len);
    assert_non_null(c);
    /* Reproduce a torn tail by hand: keep a partial copy of the file. */
    static uint8_t copy[65536];
    assert_true(len <= sizeof(copy));
    memcpy(copy, c, len);
    struct sim_disk_handle h;
    assert_int_equal(sim_disk_open(e.disk, seg,
                                   IO_OPEN_WRITE | IO_OPEN_TRUNCATE, &h), 0);
    assert_int_equal(sim_disk_write(e.disk, h, 0, copy, len - 7), 0);
    assert_int_equal(sim_disk_fsync(e.disk, h), 0);
    sim_disk_close(e.disk, h);
    last_log[0] = 0;
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.n, 29); /* entry 30 was cut */
    assert_non_null(strstr(last_log, "torn"));
    assert_non_null(strstr(last_log, seg));
    struct storage_stats st;
    storage_stats_get(e.s, &st);
    assert_int_equal(st.torn_tails, 1);
    /* Appending after the repair, then reopening, must see no damage. */
    append_sync(&e, 30, 33, 2, 2);
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.n, 33);
    assert_int_equal(e.got.terms[32], 2);
    cairn_log_set_sink(NULL, NULL);
    env_free(&e);
}

static void fsync_failure_fails_the_storage_for_good(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    struct env e;
    env_init(&e, 10);
    assert_int_equal(env_open(&e), 0);
    append_sync(&e, 1, 3, 1, 0);
    sim_disk_fail_next(e.disk, SIM_DISK_OP_FSYNC, CAIRN_EIO);
    struct upd u;
    upd_init(&u);
    upd_add(&u, 4, 1);
    assert_int_equal(persist(&e, &u, 1), 0);
    upd_init(&u);
    upd_add(&u, 5, 1);
    assert_int_equal(persist(&e, &u, 2), 0);
    run(&e);
    assert_int_equal(e.done, 3);
    assert_int_equal(e.order[1], 1);
    assert_int_equal(e.order[2], 2);
    assert_int_equal(e.last_status, CAIRN_EIO);
    assert_non_null(strstr(storage_error(e.s), "fsync"));
    upd_init(&u);
    upd_add(&u, 6, 1);
    assert_int_equal(persist(&e, &u, 3), CAIRN_EIO);
    env_close(&e);
    cairn_log_set_sink(NULL, NULL);
    env_free(&e);
}

/* ---- crash at every step ---- */

#define NP 24

struct script {
    uint64_t truncate_from;
    uint64_t first, last, term;
    bool hs;
};

static struct script scr[NP];
static uint64_t model[NP + 1][LOG_MAX]; /* model[j]: log after j persists */
static size_t model_len[NP + 1];

static void script_build(void)
{
    size_t len = 0;
    model_len[0] = 0;
    for (uint32_t j = 0; j < NP; j++) {
        struct script *s = &scr[j];
        memset(s, 0, sizeof(*s));
        s->term = 1 + j / 8;
        memcpy(model[j + 1], model[j], sizeof(model[j]));
        if (j > 0 && j % 8 == 0) {
            s->hs = true; /* a new term, whose leader overwrites a tail */
            s->truncate_from = len - 2;
            len -= 3;
        }
        uint64_t n = 1 + (j * 5) % 4;
        s->first = len + 1;
        s->last = len + n;
        for (uint64_t i = s->first; i <= s->last; i++)
            model[j + 1][i] = s->term;
        len += n;
        model_len[j + 1] = len;
    }
}

static void issue(struct env *e, uint32_t j)
{
    struct upd u;
    upd_init(&u);
    u.up.truncate_from = scr[j].truncate_from;
    if (scr[j].hs)
        upd_hs(&u, scr[j].term, 0, 0);
    for (uint64_t i = scr[j].first; i <= scr[j].last; i++)
        upd_add(&u, i, scr[j].term);
    assert_int_equal(persist(e, &u, j), 0);
}

static size_t lcp(size_t a, size_t b)
{
    size_t n = CAIRN_MIN(model_len[a], model_len[b]);
    size_t i = 0;
    while (i < n && model[a][i + 1] == model[b][i + 1])
        i++;
    return i;
}

/* Valid recovery: the log of some persist j >= acked, cut anywhere at or
 * after what j kept of the acknowledged log. */
static bool recovered_ok(const struct env *e, uint32_t acked, uint32_t issued)
{
    for (uint32_t j = acked; j <= issued; j++) {
        if (e->got.n > model_len[j] || e->got.n < lcp(acked, j))
            continue;
        bool prefix = true;
        for (size_t i = 0; i < e->got.n; i++)
            prefix = prefix && e->got.index[i] == i + 1 &&
                     e->got.terms[i] == model[j][i + 1];
        if (prefix)
            return true;
    }
    return false;
}

/* Runs the script, crashing after `crash_at` world events (never if 0).
 * Returns false when the script finished before the crash point. */
static bool crash_run(uint64_t crash_at, uint64_t seed)
{
    struct env e;
    env_init(&e, seed);
    e.cfg.segment_size_max = 1500;
    assert_int_equal(env_open(&e), 0);
    uint32_t issued = 0;
    uint64_t events = 0;
    bool crashed = false;
    while (!(issued == NP && e.done == NP)) {
        while (issued < NP && issued - e.done < 3)
            issue(&e, issued++);
        assert_true(sim_world_step(e.w));
        if (++events == crash_at) {
            crashed = true;
            break;
        }
    }
    uint32_t acked = e.done;
    uint64_t acked_term = acked > 0 ? pctxs[acked - 1].p.hard_state.term : 0;
    if (crashed)
        env_crash(&e);
    else
        env_close(&e);
    assert_int_equal(env_open(&e), 0);
    if (!recovered_ok(&e, acked, issued)) {
        print_message("crash_at %" PRIu64 " seed %" PRIu64 ": acked %u issued %u "
                      "recovered %zu entries\n",
                      crash_at, seed, acked, issued, e.got.n);
        fail();
    }
    assert_true(e.got.term >= acked_term);
    /* A second crash a few steps into new appends keeps what the first
     * recovery found (it is durable), whatever was repaired. */
    uint64_t n = e.got.n;
    struct upd u;
    upd_init(&u);
    upd_add(&u, n + 1, 100);
    upd_add(&u, n + 2, 100);
    assert_int_equal(persist(&e, &u, 901), 0);
    upd_init(&u);
    upd_add(&u, n + 3, 100);
    assert_int_equal(persist(&e, &u, 902), 0);
    for (uint64_t k2 = crash_at % 9; k2 > 0 && sim_world_step(e.w); k2--)
        ;
    env_crash(&e);
    assert_int_equal(env_open(&e), 0);
    assert_true(e.got.n >= n && e.got.n <= n + 3);
    n = e.got.n;
    /* The recovered files take appends and reopen cleanly. */
    append_sync(&e, n + 1, n + 3, 100, 900);
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.n, n + 3);
    env_free(&e);
    return crashed;
}

static void crash_at_every_step_never_loses_acknowledged_entries(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL); /* torn-tail warnings expected */
    script_build();
    uint64_t seed = test_seed(11);
    uint64_t k = 1;
    /* Four crash outcomes (what is kept, where it tears) per step. */
    bool more = true;
    for (; more; k++)
        for (uint64_t r = 0; r < 4; r++)
            more = crash_run(k, seed * 1000003 + k * 4 + r) && more;
    assert_true(k > 50); /* the script really took many steps */
    cairn_log_set_sink(NULL, NULL);
}

/* Second script: appends 1..30 (one per persist, ids 0..29), a local
 * snapshot at 20 once 25 are acknowledged, compaction to 15 (id 30), then
 * a snapshot installed from a leader at 100 with entries 101..103 (id 31)
 * and appends 104..110 (ids 32..38).  Crashes anywhere must recover one
 * whole state: never the installed snapshot with the old log, never a
 * compacted log without its snapshot, never less than acknowledged. */
struct snap_run {
    struct env e;
    uint8_t local[700], remote[900];
    int snap_status;
    bool snap_issued, snap_done;
    uint32_t issued;
};

static void snap_issue_next(struct snap_run *r)
{
    struct env *e = &r->e;
    struct upd u;
    upd_init(&u);
    static struct raft_snapshot_chunk ch;
    if (r->issued < 30) {
        if (r->issued - e->done >= 3)
            return;
        upd_add(&u, r->issued + 1, 1);
    } else if (r->issued == 30) {
        if (!r->snap_done || e->done < 30)
            return;
        u.up.compact_index = 15;
    } else if (r->issued == 31) {
        memset(&ch, 0, sizeof(ch));
        ch.meta.last_index = 100;
        ch.meta.last_term = 5;
        ch.meta.size = sizeof(r->remote);
        ch.meta.conf.n_members = 1;
        ch.meta.conf.members[0].id = 2;
        ch.meta.conf.members[0].role = RAFT_VOTER;
        ch.len = sizeof(r->remote);
        ch.data = r->remote;
        u.up.snapshot_chunk = &ch;
        u.up.snapshot_install = &ch.meta;
        upd_hs(&u, 5, 0, 100);
        for (uint64_t i = 101; i <= 103; i++)
            upd_add(&u, i, 5);
    } else if (r->issued < 39) {
        upd_add(&u, 104 + (r->issued - 32), 5);
    } else {
        return;
    }
    assert_int_equal(persist(e, &u, r->issued), 0);
    r->issued++;
}

static void snap_check(const struct snap_run *r, int64_t acked)
{
    const struct rlog *g = &r->e.got;
    if (acked >= 31 || g->snap_index == 100) {
        assert_int_equal(g->snap_index, 100);
        assert_int_equal(g->snap_term, 5);
        assert_int_equal(g->snap_len, sizeof(r->remote));
        assert_int_equal(g->snap_first, r->remote[0]);
        assert_true(acked < 31 || g->n >= (size_t)(3 + acked - 31));
        for (size_t i = 0; i < g->n; i++) {
            assert_int_equal(g->index[i], 101 + i);
            assert_int_equal(g->terms[i], 5);
        }
        return;
    }
    if (r->snap_done && r->snap_status == 0)
        assert_int_equal(g->snap_index, 20);
    assert_true(g->snap_index == 0 || g->snap_index == 20);
    if (g->snap_index == 20)
        assert_int_equal(g->snap_first, r->local[0]);
    uint64_t last = g->snap_index + g->n;
    assert_true(last >= (uint64_t)CAIRN_MIN(acked + 1, 30));
    assert_true(last <= 30);
    for (size_t i = 0; i < g->n; i++)
        assert_int_equal(g->index[i], g->snap_index + 1 + i);
}

static bool snap_crash_run(uint64_t crash_at, uint64_t seed)
{
    static struct snap_run r;
    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < sizeof(r.local); i++)
        r.local[i] = (uint8_t)(i + 1);
    memset(r.remote, 0x5a, sizeof(r.remote));
    struct env *e = &r.e;
    env_init(e, seed);
    e->cfg.segment_size_max = 700;
    e->cfg.snapshot_chunk_size = 256;
    assert_int_equal(env_open(e), 0);
    struct raft_snapshot_meta m = {.last_index = 20, .last_term = 1,
                                   .size = sizeof(r.local)};
    m.conf.n_members = 1;
    m.conf.members[0].id = 1;
    m.conf.members[0].role = RAFT_VOTER;
    uint64_t events = 0;
    bool crashed = false;
    r.snap_status = 1;
    while (!(r.issued == 39 && e->done == 39)) {
        if (!r.snap_issued && e->done >= 25) {
            assert_int_equal(storage_snapshot_write(e->s, &m, r.local,
                                                    &r.snap_status, done_cb), 0);
            r.snap_issued = true;
        }
        r.snap_done = r.snap_status != 1;
        snap_issue_next(&r);
        assert_true(sim_world_step(e->w));
        r.snap_done = r.snap_status != 1;
        if (++events == crash_at) {
            crashed = true;
            break;
        }
    }
    int64_t acked = (int64_t)e->done - 1;
    if (crashed)
        env_crash(e);
    else
        env_close(e);
    assert_int_equal(env_open(e), 0);
    snap_check(&r, acked);
    env_free(e);
    return crashed;
}

static void crash_around_snapshots_recovers_one_whole_state(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    uint64_t seed = test_seed(12);
    uint64_t k = 1;
    bool more = true;
    for (; more; k++)
        for (uint64_t r = 0; r < 3; r++)
            more = snap_crash_run(k, seed * 1000003 + k * 3 + r) && more;
    assert_true(k > 60);
    cairn_log_set_sink(NULL, NULL);
}

/* Regression: compaction after a truncation used to keep a segment whose
 * entries were all overridden as the first one, which then read as a gap. */
static void compaction_after_truncation_skips_overridden_segments(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 16);
    e.cfg.segment_size_max = 100;
    assert_int_equal(env_open(&e), 0);
    append_sync(&e, 1, 8, 1, 0); /* about one segment per entry */
    struct upd u;
    upd_init(&u);
    u.up.truncate_from = 4;
    upd_hs(&u, 2, 0, 0);
    upd_add(&u, 4, 2);
    upd_add(&u, 5, 2);
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    uint8_t data[10] = {0};
    struct raft_snapshot_meta m = {.last_index = 3, .last_term = 1,
                                   .size = sizeof(data)};
    int st = 1;
    assert_int_equal(storage_snapshot_write(e.s, &m, data, &st, done_cb), 0);
    run(&e);
    assert_int_equal(st, 0);
    upd_init(&u);
    u.up.compact_index = 3;
    assert_int_equal(persist(&e, &u, 2), 0);
    run(&e);
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.snap_index, 3);
    assert_int_equal(e.got.n, 2);
    assert_int_equal(e.got.index[0], 4);
    assert_int_equal(e.got.terms[1], 2);
    env_free(&e);
}

/* ---- more fault paths ---- */

static void snapshot_write_overtaken_by_install_reports_stale(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 13);
    assert_int_equal(env_open(&e), 0);
    append_sync(&e, 1, 10, 1, 0);
    uint8_t local[100], remote[50];
    memset(local, 1, sizeof(local));
    memset(remote, 2, sizeof(remote));
    struct raft_snapshot_meta m = {.last_index = 8, .last_term = 1,
                                   .size = sizeof(local)};
    m.conf.n_members = 1;
    m.conf.members[0].id = 1;
    m.conf.members[0].role = RAFT_VOTER;
    int st = 1;
    assert_int_equal(storage_snapshot_write(e.s, &m, local, &st, done_cb), 0);
    struct raft_snapshot_chunk ch = {.meta = {.last_index = 50,
                                              .last_term = 3,
                                              .size = sizeof(remote)},
                                     .len = sizeof(remote), .data = remote};
    ch.meta.conf = m.conf;
    struct upd u;
    upd_init(&u);
    u.up.snapshot_chunk = &ch;
    u.up.snapshot_install = &ch.meta;
    upd_hs(&u, 3, 0, 50);
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    assert_int_equal(st, CAIRN_ESTALE);
    assert_int_equal(pctxs[1].p.last_index, 50);
    assert_int_equal(storage_snapshot_index(e.s), 50);
    /* The stale file is gone, the installed one current. */
    assert_false(sim_disk_exists(e.disk, DIR "/g7-snap-00000000000000000001"));
    env_close(&e);
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.snap_index, 50);
    assert_int_equal(e.got.snap_first, 2);
    assert_int_equal(e.got.n, 0);
    env_free(&e);
}

static void write_failure_fails_and_close_with_writes_in_flight_is_safe(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    struct env e;
    env_init(&e, 14);
    assert_int_equal(env_open(&e), 0);
    sim_disk_fail_next(e.disk, SIM_DISK_OP_WRITE, CAIRN_EIO);
    struct upd u;
    upd_init(&u);
    upd_add(&u, 1, 1);
    assert_int_equal(persist(&e, &u, 0), 0);
    run(&e);
    assert_int_equal(e.last_status, CAIRN_EIO);
    assert_non_null(strstr(storage_error(e.s), "write"));
    env_close(&e);
    /* The failed write never happened: a fresh open sees an empty log. */
    assert_int_equal(env_open(&e), 0);
    assert_int_equal(e.got.n, 0);
    /* Closing with writes in flight: no further callback, nothing leaks. */
    upd_init(&u);
    upd_add(&u, 1, 1);
    assert_int_equal(persist(&e, &u, 1), 0);
    run(&e);
    upd_init(&u);
    upd_add(&u, 2, 1);
    assert_int_equal(persist(&e, &u, 2), 0);
    upd_init(&u);
    upd_add(&u, 3, 1);
    assert_int_equal(persist(&e, &u, 3), 0);
    uint32_t before = e.done;
    storage_close(e.s); /* with a batch in flight */
    e.s = NULL;
    run(&e);
    assert_int_equal(e.done, before);
    env_free(&e);
    cairn_log_set_sink(NULL, NULL);
}

/* Allocation faults reach the storage but not the simulator. */
static long fault_left;
static long fault_hits;
static bool fault_hook(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    if (sim_alloc_internal())
        return false;
    if (fault_left > 0) {
        fault_left--;
        return false;
    }
    fault_hits++;
    return true;
}

static bool alloc_fault_run(long n)
{
    struct env e;
    env_init(&e, 15);
    e.cfg.segment_size_max = 200;
    fault_left = n;
    fault_hits = 0;
    skip_raft_check = true;
    cairn_alloc_set_fail_hook(fault_hook, NULL);
    e.opened = false;
    int rc = storage_open(e.io, DIR, GID, &e.cfg, &e, open_cb, &e.s);
    if (rc == 0) {
        run(&e);
        if (e.open_status == 0) {
            storage_restore_release(e.s);
            struct upd u;
            upd_init(&u);
            upd_hs(&u, 2, 1, 0);
            for (uint64_t i = 1; i <= 6; i++)
                upd_add(&u, i, 2);
            (void)persist(&e, &u, 0);
            upd_init(&u);
            u.up.truncate_from = 4;
            upd_add(&u, 4, 2);
            (void)persist(&e, &u, 1);
            run(&e);
            uint8_t data[10] = {0};
            struct raft_snapshot_meta m = {.last_index = 3, .last_term = 2,
                                           .size = sizeof(data)};
            int st = 1;
            if (storage_snapshot_write(e.s, &m, data, &st, done_cb) == 0)
                run(&e);
            upd_init(&u);
            u.up.compact_index = 3;
            (void)persist(&e, &u, 2);
            run(&e);
        }
        env_close(&e);
    } else {
        assert_int_equal(rc, CAIRN_ENOMEM);
        e.s = NULL;
    }
    cairn_alloc_set_fail_hook(NULL, NULL);
    long hits = fault_hits;
    /* Whatever failed, the files still open cleanly. */
    assert_int_equal(env_open(&e), 0);
    skip_raft_check = false;
    env_free(&e);
    return hits > 0;
}

static void allocation_failures_are_errors_never_crashes_or_leaks(void **state)
{
    (void)state;
    cairn_log_set_sink(log_sink, NULL);
    long n = 0;
    while (alloc_fault_run(n))
        n++;
    assert_true(n > 20);
    cairn_log_set_sink(NULL, NULL);
}

/* ---- model-based: random operations against a trivial model ---- */

struct model_state {
    uint64_t snap_index, snap_term;
    uint64_t term, vote;
    uint64_t n; /* entries snap_index+1 .. snap_index+n */
    uint64_t terms[LOG_MAX];
    uint8_t snap_first;
};

static uint64_t model_last(const struct model_state *m)
{
    return m->snap_index + m->n;
}

static uint64_t model_last_term(const struct model_state *m)
{
    return m->n > 0 ? m->terms[m->n - 1] : m->snap_term;
}

static void model_check(const struct env *e, const struct model_state *m)
{
    assert_int_equal(e->got.snap_index, m->snap_index);
    assert_int_equal(e->got.snap_term, m->snap_term);
    assert_int_equal(e->got.term, m->term);
    assert_int_equal(e->got.vote, m->vote);
    assert_int_equal(e->got.n, m->n);
    for (uint64_t i = 0; i < m->n; i++) {
        assert_int_equal(e->got.index[i], m->snap_index + 1 + i);
        assert_int_equal(e->got.terms[i], m->terms[i]);
    }
    if (m->snap_index > 0)
        assert_int_equal(e->got.snap_first, m->snap_first);
}

static void model_append(struct env *e, struct model_state *m,
                         struct cairn_rng *rng, uint32_t id)
{
    struct upd u;
    upd_init(&u);
    if (m->n > 1 && cairn_rng_below(rng, 4) == 0) { /* a conflicting tail */
        uint64_t from = m->snap_index + 1 + cairn_rng_below(rng, m->n);
        u.up.truncate_from = from;
        m->n = from - m->snap_index - 1;
        m->term++;
        m->vote = 0;
        upd_hs(&u, m->term, 0, 0);
    }
    uint64_t k = cairn_rng_below(rng, 6);
    for (uint64_t i = 0; i < k && m->n < LOG_MAX - 1; i++) {
        upd_add(&u, model_last(m) + 1, m->term);
        m->terms[m->n++] = m->term;
    }
    assert_int_equal(persist(e, &u, id), 0);
}

static void model_snapshot(struct env *e, struct model_state *m,
                           struct cairn_rng *rng, uint32_t id)
{
    static uint8_t data[300];
    memset(data, (int)(id & 0xff), sizeof(data));
    uint64_t at = m->snap_index + 1 + cairn_rng_below(rng, m->n);
    struct raft_snapshot_meta s = {.last_index = at,
                                   .last_term = m->terms[at - m->snap_index - 1],
                                   .size = 1 + cairn_rng_below(rng, sizeof(data))};
    s.conf.n_members = 1;
    s.conf.members[0].id = 1;
    s.conf.members[0].role = RAFT_VOTER;
    int st = 1;
    assert_int_equal(storage_snapshot_write(e->s, &s, data, &st, done_cb), 0);
    run(e);
    assert_int_equal(st, 0);
    uint64_t drop = at - m->snap_index;
    memmove(m->terms, m->terms + drop, (m->n - drop) * sizeof(m->terms[0]));
    m->n -= drop;
    m->snap_index = at;
    m->snap_term = s.last_term;
    m->snap_first = data[0];
    struct upd u;
    upd_init(&u);
    u.up.compact_index = at - CAIRN_MIN(at, cairn_rng_below(rng, 8));
    assert_int_equal(persist(e, &u, id), 0);
}

static void model_install(struct env *e, struct model_state *m,
                          struct cairn_rng *rng, uint32_t id)
{
    static uint8_t data[200];
    static struct raft_snapshot_chunk ch;
    memset(data, (int)(0x80 | (id & 0x7f)), sizeof(data));
    memset(&ch, 0, sizeof(ch));
    m->term++;
    ch.meta.last_index = model_last(m) + 1 + cairn_rng_below(rng, 20);
    ch.meta.last_term = m->term;
    ch.meta.size = sizeof(data);
    ch.meta.conf.n_members = 1;
    ch.meta.conf.members[0].id = 3;
    ch.meta.conf.members[0].role = RAFT_VOTER;
    ch.len = sizeof(data);
    ch.data = data;
    struct upd u;
    upd_init(&u);
    u.up.snapshot_chunk = &ch;
    u.up.snapshot_install = &ch.meta;
    m->vote = 3;
    upd_hs(&u, m->term, 3, ch.meta.last_index);
    assert_int_equal(persist(e, &u, id), 0);
    m->snap_index = ch.meta.last_index;
    m->snap_term = m->term;
    m->snap_first = data[0];
    m->n = 0;
}

static void random_operations_match_a_model(void **state)
{
    (void)state;
    uint64_t seed = test_seed(17);
    for (uint64_t round = 0; round < 8; round++) {
        struct cairn_rng rng;
        cairn_rng_seed(&rng, seed * 7919 + round);
        struct env e;
        env_init(&e, seed + round);
        e.cfg.segment_size_max = 150 + cairn_rng_below(&rng, 600);
        e.cfg.snapshot_chunk_size = 1 + (uint32_t)cairn_rng_below(&rng, 128);
        assert_int_equal(env_open(&e), 0);
        static struct model_state m;
        memset(&m, 0, sizeof(m));
        m.term = 1; /* Raft's first term; entries never carry term 0 */
        struct upd u0;
        upd_init(&u0);
        upd_hs(&u0, 1, 0, 0);
        assert_int_equal(persist(&e, &u0, 1000), 0);
        for (uint32_t op = 0; op < 300; op++) {
            uint64_t r = cairn_rng_below(&rng, 100);
            if (r < 70 || m.n == 0) {
                model_append(&e, &m, &rng, op);
                if (cairn_rng_below(&rng, 3) == 0)
                    run(&e); /* else it joins the next group commit */
            } else if (r < 80) {
                run(&e);
                model_snapshot(&e, &m, &rng, op);
            } else if (r < 84) {
                model_install(&e, &m, &rng, op);
            } else if (r < 94) {
                run(&e);
                env_close(&e);
                assert_int_equal(env_open(&e), 0);
                model_check(&e, &m);
            } else {
                run(&e); /* everything acknowledged: a crash keeps it all */
                env_crash(&e);
                assert_int_equal(env_open(&e), 0);
                model_check(&e, &m);
            }
            if (m.n > 400) { /* keep within LOG_MAX */
                run(&e);
                model_snapshot(&e, &m, &rng, op);
            }
        }
        run(&e);
        assert_int_equal(storage_last_index(e.s), model_last(&m));
        env_close(&e);
        assert_int_equal(env_open(&e), 0);
        model_check(&e, &m);
        (void)model_last_term;
        env_free(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_keeps_hard_state_conf_and_entries),
        cmocka_unit_test(group_commit_shares_one_fsync_and_completes_in_order),
        cmocka_unit_test(segments_roll_and_truncation_crosses_them),
        cmocka_unit_test(snapshot_then_compaction_deletes_old_segments),
        cmocka_unit_test(installed_snapshot_replaces_the_log),
        cmocka_unit_test(corruption_in_the_middle_names_file_and_offset),
        cmocka_unit_test(missing_segment_and_bad_meta_are_errors),
        cmocka_unit_test(one_damaged_meta_slot_is_corruption),
        cmocka_unit_test(rejoin_mark_survives_restarts_and_is_checksummed),
        cmocka_unit_test(torn_tail_is_dropped_with_a_warning),
        cmocka_unit_test(fsync_failure_fails_the_storage_for_good),
        cmocka_unit_test(crash_at_every_step_never_loses_acknowledged_entries),
        cmocka_unit_test(crash_around_snapshots_recovers_one_whole_state),
        cmocka_unit_test(compaction_after_truncation_skips_overridden_segments),
        cmocka_unit_test(snapshot_write_overtaken_by_install_reports_stale),
        cmocka_unit_test(random_operations_match_a_model),
        cmocka_unit_test(write_failure_fails_and_close_with_writes_in_flight_is_safe),
        cmocka_unit_test(allocation_failures_are_errors_never_crashes_or_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
