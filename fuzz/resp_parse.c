/*
 * resp_parse.c: libFuzzer target for the RESP request parser.
 *
 * Input layout: byte 0 picks options (bit 0: unauthenticated limits, bit 1:
 * tiny limits so the limit paths are reached with short inputs), bytes 1-2
 * pick a split point; the rest is the client's byte stream.
 *
 * Invariants checked (abort on failure, so libFuzzer reports them):
 *   - consumed is within the buffer and > 0 on every complete command;
 *   - every argument lies inside the consumed bytes;
 *   - an error has a text without CR or LF, and stays reported;
 *   - the stream fed in one piece, in two pieces split at the chosen point,
 *     and (for short inputs) one byte at a time gives the same commands and
 *     the same final outcome.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "resp/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

struct run {
    struct resp_parser p;
    struct buf in;
    uint64_t digest; /* running hash of every command and the outcome */
    size_t commands;
    int state; /* 0 going, 1 error */
};

static void run_init(struct run *r, const struct resp_limits *l, int unauth)
{
    resp_parser_init(&r->p, l);
    r->p.unauthenticated = unauth != 0;
    buf_init(&r->in, 0);
    r->digest = 1;
    r->commands = 0;
    r->state = 0;
}

static void mix(struct run *r, const void *p, size_t n)
{
    r->digest = cairn_hash64(p, n, r->digest);
}

static void record_command(struct run *r)
{
    const struct resp_parser *p = &r->p;
    CHECK(p->consumed > 0);
    CHECK(p->consumed <= r->in.len);
    CHECK(p->argc == 0 || p->args != NULL);
    mix(r, &p->argc, sizeof(p->argc));
    for (size_t i = 0; i < p->argc; i++) {
        CHECK(p->args[i].off <= p->consumed);
        CHECK(p->args[i].len <= p->consumed - p->args[i].off);
        mix(r, &p->args[i].len, sizeof(p->args[i].len));
        mix(r, resp_parser_arg(p, r->in.data, i), p->args[i].len);
    }
    r->commands++;
}

static void run_feed(struct run *r, const uint8_t *d, size_t n)
{
    if (r->state != 0)
        return;
    if (buf_append(&r->in, d, n) != 0)
        abort(); /* no limit and no fault hook: cannot fail */
    size_t bound = r->in.len + 1; /* each command consumes a byte or more */
    for (size_t guard = 0; guard <= bound; guard++) {
        enum resp_parse_result res = resp_parse(&r->p, r->in.data, r->in.len);
        if (res == RESP_PARSE_NEED_MORE)
            return;
        if (res == RESP_PARSE_ERROR) {
            CHECK(r->p.error != NULL);
            CHECK(strchr(r->p.error, '\r') == NULL);
            CHECK(strchr(r->p.error, '\n') == NULL);
            mix(r, r->p.error, strlen(r->p.error));
            CHECK(resp_parse(&r->p, r->in.data, r->in.len) == RESP_PARSE_ERROR);
            r->state = 1;
            return;
        }
        record_command(r);
        buf_consume(&r->in, r->p.consumed);
    }
    CHECK(!"parser made no progress");
}

static void run_free(struct run *r)
{
    resp_parser_free(&r->p);
    buf_free(&r->in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int unauth = data[0] & 1;
    struct resp_limits l;
    resp_limits_default(&l);
    if (data[0] & 2) {
        l.bulk_len_max = 64;
        l.argc_max = 8;
        l.inline_len_max = 32;
    }
    size_t split_seed = (size_t)data[1] << 8 | data[2];
    data += 3;
    size_t len = size - 3;
    size_t split = len == 0 ? 0 : split_seed % (len + 1);

    struct run whole, two, bytes;
    run_init(&whole, &l, unauth);
    run_feed(&whole, data, len);

    run_init(&two, &l, unauth);
    run_feed(&two, data, split);
    run_feed(&two, data + split, len - split);
    CHECK(two.digest == whole.digest);
    CHECK(two.commands == whole.commands);
    CHECK(two.state == whole.state);

    if (len <= 512) {
        run_init(&bytes, &l, unauth);
        for (size_t i = 0; i < len; i++)
            run_feed(&bytes, data + i, 1);
        CHECK(bytes.digest == whole.digest);
        CHECK(bytes.state == whole.state);
        run_free(&bytes);
    }
    run_free(&two);
    run_free(&whole);
    return 0;
}
