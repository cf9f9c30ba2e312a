/*
 * resp_commands.c: libFuzzer target for a whole node: bytes from a client go
 * through the session (buffering, parsing, limits) and command dispatch of a
 * fresh node running on the fake io (no OS, fake clock).
 *
 * Input layout: byte 0 picks the read size (1..256, or 64 KiB when 0),
 * byte 1 options (bit 0: a password is required, bit 1: tiny output limit,
 * bit 2: tiny query limit, bit 3: stalled client, bit 4: maxmemory 1 MiB,
 * bit 5: allocation failures: byte 2 says after how many allocations (x8)
 * every later one fails), the rest is the client's byte stream.  Between reads the fake clock moves,
 * so cron (expiry, timeouts) runs in between commands.
 *
 * Checked: no crash or sanitizer report; the node's client count is 0 or 1
 * and agrees with the connection's state; every allocation is released,
 * also when allocations fail (the client is then closed, never a crash).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "node/io_fake.h"
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

static void quiet(void *ctx, enum cairn_log_level level, const char *msg)
{
    (void)ctx, (void)level, (void)msg;
}

static long allocs_left = -1; /* -1: no failures */

static bool fail_hook(void *ctx, size_t size)
{
    (void)ctx, (void)size;
    if (allocs_left < 0)
        return false;
    if (allocs_left == 0)
        return true;
    allocs_left--;
    return false;
}

static void configure(struct node_config *cfg, uint8_t opts)
{
    config_init(cfg);
    cfg->hash_seed = 42;
    cfg->timeout_s = 5;
    if (opts & 1)
        strcpy(cfg->requirepass, "pw");
    if (opts & 2)
        cfg->cob_normal_hard = 2048;
    if (opts & 4)
        cfg->query_buf_max = 4096;
    if (opts & 16)
        cfg->maxmemory = 1024 * 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    cairn_log_set_sink(quiet, NULL);
    struct cairn_alloc_stats before;
    cairn_alloc_stats_get(&before);
    size_t read_size = data[0] == 0 ? 65536 : data[0];
    uint8_t opts = data[1];
    data += 2;
    size -= 2;
    long fail_after = -1;
    if (opts & 32) {
        if (size < 1)
            return 0;
        fail_after = (long)data[0] * 8;
        data++;
        size--;
    }

    struct node_config cfg;
    configure(&cfg, opts);
    struct io_fake *f = io_fake_new(1, 1700000000000LL);
    CHECK(f != NULL);
    struct node *n;
    CHECK(node_new(&n, io_fake_io(f), &cfg) == 0);
    CHECK(node_listen(n, "127.0.0.1", 6379) == 0);
    struct io_fake_conn *c = io_fake_connect(f, "10.0.0.1:4000");
    CHECK(c != NULL);
    if (opts & 8)
        io_fake_stall(c, true);
    /* Faults start once the node and the client exist: every failure from
     * here on is one a running server could meet. */
    allocs_left = fail_after;
    cairn_alloc_set_fail_hook(fail_hook, NULL);
    for (size_t off = 0, round = 0; off < size && !io_fake_closed(c);
         round++) {
        size_t chunk = size - off < read_size ? size - off : read_size;
        (void)io_fake_send(c, data + off, chunk);
        off += chunk;
        io_fake_advance(f, (round % 5) * 300);
        CHECK(node_client_count(n) == (io_fake_closed(c) ? 0u : 1u));
    }
    cairn_alloc_set_fail_hook(NULL, NULL);
    allocs_left = -1;
    io_fake_stall(c, false);
    node_free(n);
    io_fake_free(f);
    struct cairn_alloc_stats after;
    cairn_alloc_stats_get(&after);
    CHECK(after.allocs_live == before.allocs_live);
    return 0;
}
