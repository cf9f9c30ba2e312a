/*
 * cmd_harness.h: the harness shared by test_cmd_string.c and test_cmd_keys.c.
 * It runs command lines through cmd_lookup and the command's proc exactly as
 * the dispatcher does (arity check included) against a fresh cache under a
 * fake clock (now_ms), and compares the exact RESP2 bytes of each reply.
 * fail_after >= 0 makes the cache's allocations fail after that many, for the
 * allocation-failure walks.  Included by one test file per executable, so its
 * functions are static.
 */
#ifndef CAIRN_TESTS_CMD_HARNESS_H
#define CAIRN_TESTS_CMD_HARNESS_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "kv/kv.h"
#include "kv/kv_int.h"
#include "node/command.h"
#include "resp/resp.h"
#include "testlib.h"

#define NOW 1700000000000

struct step {
    const char *cmd;   /* arguments separated by ' '; '~' is a space */
    const char *reply; /* exact RESP2 bytes */
    size_t reply_len;
};
#define S(cmd, reply) {cmd, reply, sizeof(reply) - 1}

static struct kv *kv;
static int64_t now_ms = NOW;
static int cur_db;
static long fail_after = -1; /* >= 0: cache allocations fail after n */

static uint64_t hash_seed;

static int setup(void **state)
{
    test_alloc_reset();
    fail_after = -1;
    struct kv_config cfg;
    kv_config_default(&cfg);
    if (state != NULL) /* a cmocka setup, not a re-init inside a test */
        hash_seed = test_seed(1);
    cfg.hash_seed = hash_seed;
    kv = kv_new(&cfg);
    now_ms = NOW;
    cur_db = 0;
    return kv == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    kv_free(kv);
    return 0;
}

/* Runs one command line and returns its reply in out (NUL-terminated). */
static void run(const char *line, struct buf *out)
{
    char copy[512];
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    size_t n = strlen(line);
    assert_true(n < sizeof(copy));
    memcpy(copy, line, n + 1);
    for (char *p = copy, *tok; (tok = strsep(&p, " ")) != NULL;) {
        assert_true(argc < 32);
        for (char *q = tok; *q; q++)
            if (*q == '~')
                *q = ' ';
        if (strcmp(tok, "<empty>") == 0)
            *tok = '\0';
        argv[argc] = tok;
        lens[argc++] = strlen(tok);
    }
    struct resp_writer w;
    resp_writer_init(&w, out, 2);
    struct cmd_ctx c = {.kv = kv, .db = cur_db, .argc = argc, .argv = argv,
                        .argv_len = lens, .now_ms = now_ms, .w = &w};
    const struct command *cmd = cmd_lookup(argv[0], lens[0]);
    if (cmd == NULL)
        fail_msg("unknown command in test: %s", line);
    if (!cmd_arity_ok(cmd, argc))
        resp_reply_errorf(&w, "ERR wrong number of arguments for '%s' "
                              "command", cmd->name);
    else
        cmd->proc(&c);
    assert_false(w.failed);
    assert_int_equal(buf_append(out, "", 1), 0);
    out->len--;
}

static void expect_n(const char *line, const char *reply, size_t len)
{
    /* One buffer reserved up front, so allocation-failure tests fail only
     * the cache's allocations, not the reply buffer's. */
    static struct buf out;
    if (out.cap == 0) {
        buf_init(&out, 0);
        assert_int_equal(buf_reserve(&out, 64 * 1024), 0);
    }
    out.len = 0;
    if (fail_after >= 0)
        test_alloc_fail_after(fail_after);
    run(line, &out);
    test_alloc_reset();
    if (out.len != len || memcmp(out.data, reply, len) != 0)
        fail_msg("'%s': got '%s' want '%s'", line, out.data, reply);
}

static void expect(const char *line, const char *reply)
{
    expect_n(line, reply, strlen(reply));
}

static void run_steps(const struct step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_n(steps[i].cmd, steps[i].reply, steps[i].reply_len);
    assert_true(kv_check(kv));
}


/* Every step of the table, run on the state the steps before it built,
 * with the cache's allocations failing after 0, 1, 2 successes: the reply
 * is the normal one or an out-of-memory error, and after an error the live
 * contents are unchanged (MSET aside, which applies pairs one by one). */
static void run_steps_with_alloc_failures(const struct step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (long fail = 0; fail < 3; fail++) {
            kv_free(kv);
            assert_int_equal(setup(NULL), 0);
            for (size_t j = 0; j < i; j++)
                expect_n(steps[j].cmd, steps[j].reply, steps[j].reply_len);
            uint64_t before = kv_digest_live(kv, now_ms);
            struct buf out;
            buf_init(&out, 0);
            assert_int_equal(buf_reserve(&out, 64 * 1024), 0);
            test_alloc_fail_after(fail);
            run(steps[i].cmd, &out);
            test_alloc_reset();
            bool oom = out.len >= 18 &&
                       memcmp(out.data, "-ERR out of memory", 18) == 0;
            bool normal = out.len == steps[i].reply_len &&
                          memcmp(out.data, steps[i].reply, out.len) == 0;
            if (!oom && !normal)
                fail_msg("'%s' with allocation failing after %ld: '%s'",
                         steps[i].cmd, fail, out.data);
            if (oom && strncmp(steps[i].cmd, "mset", 4) != 0 &&
                kv_digest_live(kv, now_ms) != before)
                fail_msg("'%s' failed but changed the cache", steps[i].cmd);
            assert_true(kv_check(kv));
            buf_free(&out);
        }
    }
}

#endif
