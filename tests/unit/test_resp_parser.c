/*
 * test_resp_parser.c: unit tests for the RESP request parser.
 *
 * The parser is driven the way a connection drives it: bytes are appended to
 * a struct buf, resp_parse() runs until it wants more, and the consumed bytes
 * of each complete command are dropped.  Every outcome is rendered into a
 * transcript ("<len>:<bytes>," per argument, ";" per command, "E:<text>" on
 * error) so the same input fed in different pieces can be compared exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/limits.h"
#include "core/rng.h"
#include "resp/resp.h"
#include "testlib.h"

/* A connection's view: its query buffer, its parser, its transcript. */
struct feeder {
    struct resp_parser p;
    struct buf in;
    struct buf log;
    int commands;
    int errors;
};

static void feeder_init(struct feeder *f, const struct resp_limits *l)
{
    resp_parser_init(&f->p, l);
    buf_init(&f->in, 0);
    buf_init(&f->log, 0);
    f->commands = 0;
    f->errors = 0;
}

static void feeder_free(struct feeder *f)
{
    resp_parser_free(&f->p);
    buf_free(&f->in);
    buf_free(&f->log);
}

static void log_command(struct feeder *f)
{
    const struct resp_parser *p = &f->p;
    assert_true(p->consumed <= f->in.len);
    for (size_t i = 0; i < p->argc; i++) {
        const struct resp_arg *a = &p->args[i];
        assert_true(a->off <= p->consumed);
        assert_true(a->len <= p->consumed - a->off);
        assert_int_equal(buf_printf(&f->log, "%zu:", a->len), 0);
        const char *bytes = resp_parser_arg(p, f->in.data, i);
        assert_int_equal(buf_append(&f->log, bytes, a->len), 0);
        assert_int_equal(buf_append(&f->log, ",", 1), 0);
    }
    assert_int_equal(buf_append(&f->log, ";", 1), 0);
}

/* Appends bytes and parses every command now complete.  Returns the last
 * result (NEED_MORE or ERROR). */
static enum resp_parse_result feed(struct feeder *f, const void *data,
                                   size_t len)
{
    if (f->errors > 0)
        return RESP_PARSE_ERROR;
    assert_int_equal(buf_append(&f->in, data, len), 0);
    for (int guard = 0; guard < 1000000; guard++) {
        enum resp_parse_result r = resp_parse(&f->p, f->in.data, f->in.len);
        if (r == RESP_PARSE_NEED_MORE)
            return r;
        if (r == RESP_PARSE_ERROR) {
            assert_non_null(f->p.error);
            assert_null(strchr(f->p.error, '\r'));
            assert_null(strchr(f->p.error, '\n'));
            assert_int_equal(buf_printf(&f->log, "E:%s", f->p.error), 0);
            f->errors++;
            return r;
        }
        assert_true(f->p.consumed > 0);
        log_command(f);
        f->commands++;
        buf_consume(&f->in, f->p.consumed);
    }
    fail_msg("parser made no progress");
    return RESP_PARSE_ERROR;
}

/* Transcript of input fed in pieces of chunk bytes (0: one piece), into
 * out (initialised by the caller). */
static void transcript(const char *data, size_t len, size_t chunk,
                       const struct resp_limits *l, struct buf *out)
{
    struct feeder f;
    feeder_init(&f, l);
    if (chunk == 0)
        chunk = len + 1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (feed(&f, data + off, n) == RESP_PARSE_ERROR)
            break;
    }
    buf_clear(out);
    assert_int_equal(buf_append(out, f.log.data, f.log.len), 0);
    feeder_free(&f);
}

static void expect_transcript(const char *input, size_t len, const char *want,
                              size_t want_len)
{
    struct buf got;
    buf_init(&got, 0);
    transcript(input, len, 0, NULL, &got);
    if (got.len != want_len ||
        (want_len > 0 && memcmp(got.data, want, want_len) != 0))
        fail_msg("input %.*s\n got  [%.*s]\n want [%.*s]", (int)len, input,
                 (int)got.len, got.len > 0 ? got.data : "", (int)want_len,
                 want);
    buf_free(&got);
}

#define EXPECT(lit, want) \
    expect_transcript(lit, sizeof(lit) - 1, want, sizeof(want) - 1)

/* ---- valid multibulk ---- */

static void multibulk_command_parses(void **state)
{
    (void)state;
    const char in[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_PARSE_OK);
    assert_int_equal(p.argc, 3);
    assert_int_equal(p.consumed, sizeof(in) - 1);
    assert_int_equal(p.args[0].off, 8);
    assert_int_equal(p.args[0].len, 3);
    assert_memory_equal(in + p.args[2].off, "hello", 5);
    resp_parser_free(&p);
}

static void pipelined_commands_come_one_at_a_time(void **state)
{
    (void)state;
    EXPECT("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\r\n"
           "*2\r\n$3\r\nGET\r\n$3\r\na\0b\r\n",
           "4:PING,;4:ECHO,0:,;4:PING,;3:GET,3:a\0b,;");
}

static void empty_multibulk_is_skipped_not_an_error(void **state)
{
    (void)state;
    /* Redis treats "*0" and negative counts as an empty request. */
    EXPECT("*0\r\n*-10\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", ";;;4:PING,;");
}

static void bytes_after_a_bulk_are_skipped_unchecked(void **state)
{
    (void)state;
    /* Redis 7.0 does not verify the CRLF after bulk data; neither do we. */
    EXPECT("*1\r\n$4\r\nPINGXX*1\r\n$4\r\nPING\r\n", "4:PING,;4:PING,;");
}

static void binary_bulk_with_crlf_inside(void **state)
{
    (void)state;
    EXPECT("*2\r\n$4\r\n\r\n\r\n\r\n$3\r\n*\r$\r\n", "4:\r\n\r\n,3:*\r$,;");
}

/* ---- inline ---- */

static void inline_commands_split_on_spaces(void **state)
{
    (void)state;
    EXPECT("PING\r\n", "4:PING,;");
    EXPECT("PING\n", "4:PING,;");
    EXPECT("  SET  a\t b  \r\n", "3:SET,1:a,1:b,;");
    EXPECT("\r\n\n   \r\nPING\r\n", ";;;4:PING,;");
    /* Only one CR before the LF belongs to the line end. */
    EXPECT("a\r\r\n", "1:a,;");
    /* \v and \f separate only at the start of a word, as in sdssplitargs. */
    EXPECT("a\vb \fc\r\n", "3:a\vb,1:c,;");
}

static void inline_quotes_follow_sdssplitargs(void **state)
{
    (void)state;
    EXPECT("SET \"a b\" c\r\n", "3:SET,3:a b,1:c,;");
    EXPECT("\"\\x41\\x4a\\x4A\"\r\n", "3:AJJ,;");
    EXPECT("\"\\n\\r\\t\\b\\a\\\"\\\\\\q\"\r\n", "8:\n\r\t\b\a\"\\q,;");
    EXPECT("\"\\x4g\"\r\n", "3:x4g,;");
    EXPECT("'it\\'s' 'a\\nb'\r\n", "4:it's,4:a\\nb,;");
    EXPECT("foo\"bar baz\"\r\n", "10:foobar baz,;");
    EXPECT("\"\" ''\r\n", "0:,0:,;");
    EXPECT("\"a\"\t\"b\"\r\n", "1:a,1:b,;");
    EXPECT("\"\\x00\"\r\n", "1:\0,;");
}

static void inline_unbalanced_quotes_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"abc\r\n",     "'abc\r\n",   "\"abc\"x\r\n", "'abc'x\r\n",
        "\"abc\\\"\r\n", "SET a \"foo\r\n", "\"\\\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_transcript(bad[i], strlen(bad[i]),
                          "E:Protocol error: unbalanced quotes in request",
                          strlen("E:Protocol error: unbalanced quotes in "
                                 "request"));
}

static void inline_decoding_leaves_the_buffer_alone(void **state)
{
    (void)state;
    const char in[] = "ECHO \"a\\x42\" next\r\nREST";
    char copy[sizeof(in)];
    memcpy(copy, in, sizeof(in));
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_PARSE_OK);
    assert_int_equal(p.argc, 3);
    assert_int_equal(p.args[1].len, 2);
    assert_memory_equal(resp_parser_arg(&p, in, 0), "ECHO", 4);
    assert_memory_equal(resp_parser_arg(&p, in, 1), "aB", 2);
    assert_memory_equal(resp_parser_arg(&p, in, 2), "next", 4);
    assert_memory_equal(in, copy, sizeof(in));
    assert_memory_equal(in + p.consumed, "REST", 4);
    /* Without quotes the words are the buffer's own bytes. */
    const char plain[] = "GET key\r\n";
    assert_int_equal(resp_parse(&p, plain, sizeof(plain) - 1), RESP_PARSE_OK);
    assert_ptr_equal(resp_parser_arg(&p, plain, 1), plain + 4);
    resp_parser_free(&p);
}

static void quoted_inline_allocation_failure_is_an_error(void **state)
{
    (void)state;
    const char in[] = "SET \"k\" v\r\n";
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    test_alloc_fail_after(0);
    enum resp_parse_result r = resp_parse(&p, in, sizeof(in) - 1);
    test_alloc_reset();
    assert_int_equal(r, RESP_PARSE_ERROR);
    assert_string_equal(p.error, "out of memory");
    resp_parser_reset(&p);
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_PARSE_OK);
    assert_memory_equal(resp_parser_arg(&p, in, 1), "k", 1);
    resp_parser_free(&p);

    /* Unquoted: the args array is the one allocation. */
    const char plain[] = "GET k\r\n";
    resp_parser_init(&p, NULL);
    test_alloc_fail_after(0);
    r = resp_parse(&p, plain, sizeof(plain) - 1);
    test_alloc_reset();
    assert_int_equal(r, RESP_PARSE_ERROR);
    assert_string_equal(p.error, "out of memory");
    resp_parser_free(&p);
}

/* ---- errors, each with Redis's exact text ---- */

static void bulk_header_errors(void **state)
{
    (void)state;
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
           "E:Protocol error: expected '$', got 'f'");
    EXPECT("*1\r\n\r\n", "E:Protocol error: expected '$', got ' '");
    EXPECT("*1\r\n:3\r\n", "E:Protocol error: expected '$', got ':'");
    EXPECT("*1\r\n$-1\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$01\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$+1\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$1x\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$4\nPING\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$536870913\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$00\r\n", "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$123456789012345678\r\n",
           "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$1234567890123456789\r\n",
           "E:Protocol error: invalid bulk length");
    EXPECT("*1\r\n$0\r\n\r\n", "0:,;");
    EXPECT("*1\r\n$99999999999999999999999\r\n",
           "E:Protocol error: invalid bulk length");
    /* Exactly proto-max-bulk-len is allowed: the parser waits for it. */
    EXPECT("*1\r\n$536870912\r\n", "");
}

static void multibulk_count_errors(void **state)
{
    (void)state;
    EXPECT("*abc\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*3000000000\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*1048577\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*1048576\r\n", "");
    EXPECT("*01\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*-0\r\n", "E:Protocol error: invalid multibulk length");
    EXPECT("*123456789012345678\r\n",
           "E:Protocol error: invalid multibulk length");
}

static void fill(struct buf *b, char c, size_t n)
{
    assert_int_equal(buf_reserve(b, n), 0);
    memset(b->data + b->len, c, n);
    b->len += n;
}

static void expect_buf(const struct buf *b, const char *want)
{
    expect_transcript(b->data, b->len, want, strlen(want));
}

static void endless_lines_stop_at_the_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    /* Inline: exactly the limit pending is fine, one byte more is not. */
    fill(&b, 'a', CAIRN_PROTO_INLINE_LEN_MAX);
    expect_buf(&b, "");
    fill(&b, 'a', 1);
    expect_buf(&b, "E:Protocol error: too big inline request");
    buf_clear(&b);
    buf_append_str(&b, "*");
    fill(&b, '1', CAIRN_PROTO_INLINE_LEN_MAX);
    expect_buf(&b, "E:Protocol error: too big mbulk count string");
    buf_clear(&b);
    buf_append_str(&b, "*1\r\n$");
    fill(&b, '1', CAIRN_PROTO_INLINE_LEN_MAX);
    expect_buf(&b, "E:Protocol error: too big bulk count string");
    /* A line over the limit is refused even if its end came with it, so the
     * verdict does not depend on how the bytes were split into reads. */
    buf_clear(&b);
    fill(&b, 'a', CAIRN_PROTO_INLINE_LEN_MAX + 1);
    buf_append_str(&b, "\r\n");
    expect_buf(&b, "E:Protocol error: too big inline request");
    buf_clear(&b);
    fill(&b, 'a', CAIRN_PROTO_INLINE_LEN_MAX - 1);
    buf_append_str(&b, "\r\n");
    struct buf got;
    buf_init(&got, 0);
    transcript(b.data, b.len, 0, NULL, &got);
    assert_int_equal(got.len, strlen("65535:,;") + CAIRN_PROTO_INLINE_LEN_MAX - 1);
    buf_free(&got);
    buf_clear(&b);
    buf_append_str(&b, "*1\r\n$");
    fill(&b, '1', CAIRN_PROTO_INLINE_LEN_MAX);
    buf_append_str(&b, "\r\n");
    expect_buf(&b, "E:Protocol error: too big bulk count string");
    buf_clear(&b);
    buf_append_str(&b, "*");
    fill(&b, '1', CAIRN_PROTO_INLINE_LEN_MAX);
    buf_append_str(&b, "\r\n");
    expect_buf(&b, "E:Protocol error: too big mbulk count string");
    buf_free(&b);
}

static void nul_before_line_end_waits_like_redis(void **state)
{
    (void)state;
    /* Redis finds line ends with strchr, so a NUL hides them. */
    EXPECT("*1\r\n$\0\r\n", "");
    EXPECT("*\0" "1\r\n", "");
    EXPECT("PI\0NG\r\nPING\r\n", "");
    EXPECT("*1\r\n\0\r\n", "");
    struct buf b;
    buf_init(&b, 0);
    buf_append(&b, "*1\r\n$\0\r\n", 8);
    fill(&b, 'x', CAIRN_PROTO_INLINE_LEN_MAX);
    expect_buf(&b, "E:Protocol error: too big bulk count string");
    buf_clear(&b);
    buf_append(&b, "A\0\n", 3);
    fill(&b, 'x', CAIRN_PROTO_INLINE_LEN_MAX);
    expect_buf(&b, "E:Protocol error: too big inline request");
    buf_free(&b);
}

static void unauthenticated_limits(void **state)
{
    (void)state;
    struct feeder f;
    feeder_init(&f, NULL);
    f.p.unauthenticated = true;
    feed(&f, "*11\r\n", 5);
    assert_string_equal(f.log.data,
                        "E:Protocol error: unauthenticated multibulk length");
    feeder_free(&f);

    feeder_init(&f, NULL);
    f.p.unauthenticated = true;
    feed(&f, "*10\r\n$16384\r\n", 13);
    assert_int_equal(f.errors, 0);
    feeder_free(&f);

    feeder_init(&f, NULL);
    f.p.unauthenticated = true;
    feed(&f, "*1\r\n$16385\r\n", 12);
    assert_string_equal(f.log.data,
                        "E:Protocol error: unauthenticated bulk length");
    feeder_free(&f);

    /* The absolute limit is checked first, as in Redis. */
    feeder_init(&f, NULL);
    f.p.unauthenticated = true;
    feed(&f, "*3000000000\r\n", 13);
    assert_string_equal(f.log.data,
                        "E:Protocol error: invalid multibulk length");
    feeder_free(&f);
}

static void errors_are_sticky_until_reset(void **state)
{
    (void)state;
    const char bad[] = "*x\r\n";
    const char good[] = "PING\r\n";
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    assert_int_equal(resp_parse(&p, bad, 4), RESP_PARSE_ERROR);
    assert_int_equal(resp_parse(&p, good, 6), RESP_PARSE_ERROR);
    resp_parser_reset(&p);
    assert_int_equal(resp_parse(&p, good, 6), RESP_PARSE_OK);
    assert_int_equal(p.argc, 1);
    resp_parser_free(&p);
}

static void expect_limited(const char *in, const struct resp_limits *l,
                           const char *want)
{
    struct buf got;
    buf_init(&got, 0);
    transcript(in, strlen(in), 0, l, &got);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.data, want, got.len);
    buf_free(&got);
}

static void custom_limits_apply(void **state)
{
    (void)state;
    struct resp_limits l;
    resp_limits_default(&l);
    l.bulk_len_max = 3;
    l.argc_max = 2;
    l.inline_len_max = 8;
    expect_limited("*1\r\n$4\r\n", &l, "E:Protocol error: invalid bulk length");
    expect_limited("*1\r\n$3\r\n", &l, "");
    expect_limited("*3\r\n", &l, "E:Protocol error: invalid multibulk length");
    expect_limited("abcdefghi", &l, "E:Protocol error: too big inline request");
    expect_limited("a b c\n", &l, "E:Protocol error: too big inline request");
    expect_limited("a b\n", &l, "1:a,1:b,;");
}

/* ---- incremental behaviour ---- */

static const char *const split_inputs[] = {
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n*1\r\n$4\r\nPING\r\n",
    "PING\r\nSET \"a b\" 'c\\'d' \"\\x41\"\r\n*0\r\n\r\nECHO x\n",
    "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
    "*1\r\n$4\r\nPINGXX*-3\r\n*1\r\n$-1\r\n",
    "GET a\r\n\"unbalanced\r\n",
    "*2\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$1\0\r\n",
    "*1\r\n\r\n",
    "*2\r\n$0\r\n\r\n$012\r\n",
    "*1\r\n$18\r\n012345678901234567\r\n*1\r\n$1234567890123456789\r\n",
    "*4\r\n$1\r\na\r\n$2\r\nbb\r\n$3\r\nccc\r\n$4\r\ndddd\r\n*x\r\n",
};

static void every_split_point_gives_the_same_commands(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(split_inputs) / sizeof(split_inputs[0]); i++) {
        const char *in = split_inputs[i];
        size_t len = strlen(in);
        if (i == 5)
            len += 1 + strlen(in + len + 1); /* holds a NUL */
        struct buf want, bytewise;
        buf_init(&want, 0);
        buf_init(&bytewise, 0);
        transcript(in, len, 0, NULL, &want);
        assert_true(want.len > 0);
        for (size_t k = 0; k <= len; k++) {
            struct feeder f;
            feeder_init(&f, NULL);
            if (feed(&f, in, k) != RESP_PARSE_ERROR)
                feed(&f, in + k, len - k);
            if (f.log.len != want.len ||
                memcmp(f.log.data, want.data, want.len) != 0)
                fail_msg("input %zu split at %zu: got [%.*s] want [%.*s]", i,
                         k, (int)f.log.len, f.log.data, (int)want.len,
                         want.data);
            feeder_free(&f);
        }
        transcript(in, len, 1, NULL, &bytewise);
        assert_int_equal(bytewise.len, want.len);
        assert_memory_equal(bytewise.data, want.data, want.len);
        buf_free(&bytewise);
        buf_free(&want);
    }
}

static void big_bulk_waits_for_exactly_its_bytes(void **state)
{
    (void)state;
    const size_t n = 1u << 20;
    struct feeder f;
    feeder_init(&f, NULL);
    const char hdr[] = "*2\r\n$3\r\nSET\r\n$1048576\r\n";
    assert_int_equal(feed(&f, hdr, sizeof(hdr) - 1), RESP_PARSE_NEED_MORE);
    size_t want = resp_parser_bytes_wanted(&f.p);
    assert_int_equal(want, sizeof(hdr) - 1 + n + 2);
    char chunk[4096];
    memset(chunk, 'v', sizeof(chunk));
    for (size_t sent = 0; sent < n; sent += sizeof(chunk)) {
        assert_int_equal(feed(&f, chunk, sizeof(chunk)), RESP_PARSE_NEED_MORE);
        assert_int_equal(resp_parser_bytes_wanted(&f.p), want);
    }
    assert_int_equal(f.commands, 0);
    feed(&f, "\r\n", 2);
    assert_int_equal(f.commands, 1);
    assert_int_equal(f.in.len, 0);
    assert_int_equal(resp_parser_bytes_wanted(&f.p), 0);
    feeder_free(&f);
}

/* Encodes a random command as multibulk, or as inline when its words allow. */
static void random_command(struct cairn_rng *rng, struct buf *wire,
                           struct buf *want)
{
    size_t argc = 1 + cairn_rng_below(rng, 6);
    int as_inline = cairn_rng_chance(rng, 1, 3);
    char args[8][40];
    size_t lens[8];
    for (size_t i = 0; i < argc; i++) {
        lens[i] = (as_inline ? 1 : 0) + cairn_rng_below(rng, 39);
        for (size_t j = 0; j < lens[i]; j++)
            args[i][j] = as_inline ? (char)('a' + cairn_rng_below(rng, 26))
                                   : (char)cairn_rng_below(rng, 256);
    }
    if (as_inline) {
        for (size_t i = 0; i < argc; i++) {
            buf_append(wire, args[i], lens[i]);
            buf_append(wire, i + 1 < argc ? " " : "\r\n", i + 1 < argc ? 1 : 2);
        }
    } else {
        buf_printf(wire, "*%zu\r\n", argc);
        for (size_t i = 0; i < argc; i++) {
            buf_printf(wire, "$%zu\r\n", lens[i]);
            buf_append(wire, args[i], lens[i]);
            buf_append(wire, "\r\n", 2);
        }
    }
    for (size_t i = 0; i < argc; i++) {
        buf_printf(want, "%zu:", lens[i]);
        buf_append(want, args[i], lens[i]);
        buf_append(want, ",", 1);
    }
    buf_append(want, ";", 1);
}

static void random_pipelines_in_random_chunks(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, test_seed(20261125));
    for (int round = 0; round < 50; round++) {
        struct buf wire, want;
        buf_init(&wire, 0);
        buf_init(&want, 0);
        int count = 1 + (int)cairn_rng_below(&rng, 40);
        for (int i = 0; i < count; i++)
            random_command(&rng, &wire, &want);
        size_t chunk = 1 + cairn_rng_below(&rng, 64);
        struct buf got;
        buf_init(&got, 0);
        transcript(wire.data, wire.len, chunk, NULL, &got);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        buf_free(&got);
        buf_free(&wire);
        buf_free(&want);
    }
}

/* ---- memory ---- */

static void args_allocation_failure_is_an_error(void **state)
{
    (void)state;
    struct buf wire;
    buf_init(&wire, 0);
    buf_printf(&wire, "*100\r\n");
    for (int i = 0; i < 100; i++)
        buf_printf(&wire, "$1\r\n%c\r\n", 'a' + i % 26);
    int succeeded = 0;
    for (long n = 0; n < 50 && !succeeded; n++) {
        struct resp_parser p;
        resp_parser_init(&p, NULL);
        test_alloc_fail_after(n);
        enum resp_parse_result r = resp_parse(&p, wire.data, wire.len);
        long failures = test_alloc_failures();
        test_alloc_reset();
        if (r == RESP_PARSE_OK) {
            assert_int_equal(p.argc, 100);
            assert_int_equal(failures, 0);
            succeeded = 1;
        } else {
            assert_int_equal(r, RESP_PARSE_ERROR);
            assert_string_equal(p.error, "out of memory");
            assert_true(failures > 0);
        }
        resp_parser_free(&p);
    }
    assert_true(succeeded);
    buf_free(&wire);
}

static void big_args_array_is_not_kept(void **state)
{
    (void)state;
    struct feeder f;
    feeder_init(&f, NULL);
    struct buf wire;
    buf_init(&wire, 0);
    buf_printf(&wire, "*5000\r\n");
    for (int i = 0; i < 5000; i++)
        buf_printf(&wire, "$1\r\nx\r\n");
    feed(&f, wire.data, wire.len);
    assert_int_equal(f.commands, 1);
    assert_true(f.p.args_cap >= 5000);
    feed(&f, "PING\r\n", 6);
    assert_int_equal(f.commands, 2);
    assert_true(f.p.args_cap <= CAIRN_PROTO_ARGS_KEEP);
    buf_free(&wire);
    feeder_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multibulk_command_parses),
        cmocka_unit_test(pipelined_commands_come_one_at_a_time),
        cmocka_unit_test(empty_multibulk_is_skipped_not_an_error),
        cmocka_unit_test(bytes_after_a_bulk_are_skipped_unchecked),
        cmocka_unit_test(binary_bulk_with_crlf_inside),
        cmocka_unit_test(inline_commands_split_on_spaces),
        cmocka_unit_test(inline_quotes_follow_sdssplitargs),
        cmocka_unit_test(inline_unbalanced_quotes_are_refused),
        cmocka_unit_test(inline_decoding_leaves_the_buffer_alone),
        cmocka_unit_test(quoted_inline_allocation_failure_is_an_error),
        cmocka_unit_test(bulk_header_errors),
        cmocka_unit_test(multibulk_count_errors),
        cmocka_unit_test(endless_lines_stop_at_the_limit),
        cmocka_unit_test(nul_before_line_end_waits_like_redis),
        cmocka_unit_test(unauthenticated_limits),
        cmocka_unit_test(errors_are_sticky_until_reset),
        cmocka_unit_test(custom_limits_apply),
        cmocka_unit_test(every_split_point_gives_the_same_commands),
        cmocka_unit_test(big_bulk_waits_for_exactly_its_bytes),
        cmocka_unit_test(random_pipelines_in_random_chunks),
        cmocka_unit_test(args_allocation_failure_is_an_error),
        cmocka_unit_test(big_args_array_is_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
