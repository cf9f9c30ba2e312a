/*
 * test_bad_input.c: hostile and broken clients against a real server.
 *
 * Each case sends one kind of bad input and checks that the client gets
 * Redis 7.0's exact reply (or is disconnected, where Redis disconnects), and
 * that afterwards the server still answers PING on a new connection.
 * Memory cases check the server's peak RSS (VmHWM) grows by a bounded amount
 * while a client tries to make it buffer hundreds of megabytes.
 *
 * Run with CAIRN_SERVER=/usr/bin/redis-server to check the expectations
 * against Redis itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/error.h"
#include "it.h"

/* Peak RSS growth allowed while a client tries to make the server buffer
 * ~200 MB (output) or many argument arrays; far below what unbounded
 * buffering would take, far above a bounded server's working set. */
#define RSS_GROWTH_MAX_KB (64 * 1024)

static struct server_proc srv;

static int srv_start(void **state)
{
    (void)state;
    return server_proc_start_target(&srv, NULL);
}

static int srv_stop(void **state)
{
    (void)state;
    int status = server_proc_stop(&srv, IT_STOP_TIMEOUT_MS);
    if (status != 0)
        fprintf(stderr, "server exited with status %d (see %s)\n", status,
                srv.log_path);
    return status == 0 ? 0 : -1;
}

/* Sends raw bytes on a new connection, expects the exact reply bytes and
 * then (if must_close) the connection to be closed; then PING elsewhere. */
static void raw_case_at(int port, const char *in, size_t in_len,
                        const char *want, bool must_close, const char *file,
                        int line)
{
    struct resp_client c;
    it_connect(&c, port);
    if (resp_client_send(&c, in, in_len) != 0)
        fail_msg("%s:%d: send failed", file, line);
    if (want != NULL)
        it_expect_reply_at(&c, want, file, line);
    if (must_close && resp_client_wait_closed(&c, IT_IO_TIMEOUT_MS) != 0)
        fail_msg("%s:%d: connection not closed after protocol error", file,
                 line);
    resp_client_close(&c);
    it_still_serving_at(port, file, line);
}
#define RAW(in, want) \
    raw_case_at(srv.port, in, sizeof(in) - 1, want, true, __FILE__, __LINE__)
#define RAW_OPEN(in, want) \
    raw_case_at(srv.port, in, sizeof(in) - 1, want, false, __FILE__, __LINE__)

static void negative_and_huge_lengths(void **state)
{
    (void)state;
    RAW("*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*1\r\n$-100\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*1\r\n$600000000\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*1\r\n$99999999999999999999\r\n",
        "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    RAW("*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    /* A negative count is an empty request in Redis, not an error. */
    RAW_OPEN("*-10\r\nPING\r\n", "+PONG\r\n");
}

static void too_many_arguments(void **state)
{
    (void)state;
    /* Past INT_MAX arguments both Redis 7.0 and cairn refuse at once. */
    RAW("*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    RAW("*9223372036854775807\r\n",
        "-ERR Protocol error: invalid multibulk length\r\n");
}

static void wrong_bulk_header(void **state)
{
    (void)state;
    RAW("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
        "-ERR Protocol error: expected '$', got 'f'\r\n");
    RAW("*1\r\n:3\r\n", "-ERR Protocol error: expected '$', got ':'\r\n");
    RAW("*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n");
}

static void missing_crlf_after_bulk(void **state)
{
    (void)state;
    /* Redis skips the two bytes after bulk data without checking them. */
    RAW_OPEN("*1\r\n$4\r\nPINGXX", "+PONG\r\n");
    /* Here the skipped bytes were the next header's: what is left parses
     * as inline lines, as in Redis. */
    struct resp_client c;
    it_connect(&c, srv.port);
    static const char in[] = "*1\r\n$4\r\nPING*1\r\n$4\r\nPING\r\n";
    assert_int_equal(resp_client_send(&c, in, sizeof(in) - 1), 0);
    it_expect_reply(&c, "+PONG\r\n");
    it_expect_reply(&c, "-ERR unknown command '$4', with args beginning "
                        "with: \r\n");
    it_expect_reply(&c, "+PONG\r\n");
    resp_client_close(&c);
    it_still_serving(srv.port);
}

static void binary_garbage(void **state)
{
    (void)state;
    RAW("*\xff\xfe\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    RAW("*1\r\n\x80\x81\r\n",
        "-ERR Protocol error: expected '$', got '\x80'\r\n");
    RAW_OPEN("\xff\xfe\x01 x\r\n", "-ERR unknown command '\xff\xfe\x01', "
                                   "with args beginning with: 'x' \r\n");
    /* 70 KB of garbage without a line end: refused as too big. */
    struct buf g;
    buf_init(&g, 0);
    for (int i = 0; i < 70 * 1024; i++) {
        char ch = (char)(0x80 + (i * 7) % 0x7f); /* no CR, LF, NUL or '*' */
        buf_append(&g, &ch, 1);
    }
    raw_case_at(srv.port, g.data, g.len,
                "-ERR Protocol error: too big inline request\r\n", true,
                __FILE__, __LINE__);
    buf_free(&g);
}

/* Redis drops a connection that sends "POST" or "Host:" as a command (an
 * HTTP request: cross-protocol scripting from a browser), without a reply. */
static void http_requests_are_dropped(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "POST / HTTP/1.1\r\nHost: x\r\n\r\n",
        "host: example.com\r\n",
        "*1\r\n$4\r\npost\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct resp_client c;
        it_connect(&c, srv.port);
        assert_int_equal(resp_client_send(&c, reqs[i], strlen(reqs[i])), 0);
        if (resp_client_wait_closed(&c, IT_IO_TIMEOUT_MS) != 0)
            fail_msg("connection kept open after %s",
                     resp_client_show(reqs[i], strlen(reqs[i])));
        if (c.in.len != 0 || c.dropped != 0)
            fail_msg("reply to %s: %s", resp_client_show(reqs[i], 8),
                     c.in.len > 0 ? resp_client_show(c.in.data, c.in.len)
                                  : "(dropped)");
        resp_client_close(&c);
        it_still_serving(srv.port);
    }
}

static void long_header_lines(void **state)
{
    (void)state;
    struct buf g;
    buf_init(&g, 0);
    buf_append_str(&g, "*");
    for (int i = 0; i < 70 * 1024; i++)
        buf_append(&g, "1", 1);
    raw_case_at(srv.port, g.data, g.len,
                "-ERR Protocol error: too big mbulk count string\r\n", true,
                __FILE__, __LINE__);
    buf_clear(&g);
    buf_append_str(&g, "*1\r\n$");
    for (int i = 0; i < 70 * 1024; i++)
        buf_append(&g, "1", 1);
    raw_case_at(srv.port, g.data, g.len,
                "-ERR Protocol error: too big bulk count string\r\n", true,
                __FILE__, __LINE__);
    buf_free(&g);
}

static void inline_lines(void **state)
{
    (void)state;
    RAW("SET a \"foo\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n");
    RAW("SET a 'foo'x\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n");
    /* An unterminated line and then end of input: no reply, just close. */
    struct resp_client c;
    it_connect(&c, srv.port);
    assert_int_equal(resp_client_send(&c, "PING", 4), 0);
    resp_client_shutdown_write(&c);
    it_expect_closed(&c);
    assert_int_equal(c.in.len, 0);
    assert_int_equal(c.dropped, 0);
    resp_client_close(&c);
    it_still_serving(srv.port);
    /* 70 KB without a newline. */
    struct buf g;
    buf_init(&g, 0);
    for (int i = 0; i < 70 * 1024; i++)
        buf_append(&g, "a", 1);
    raw_case_at(srv.port, g.data, g.len,
                "-ERR Protocol error: too big inline request\r\n", true,
                __FILE__, __LINE__);
    buf_free(&g);
}

static void wrong_arity(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, srv.port);
    static const char *const cases[][2] = {
        {"GET", "get"},       {"SET k", "set"},   {"MSET a", "mset"},
        {"MSET a b c", "mset"}, {"EXPIRE k", "expire"}, {"TTL", "ttl"},
        {"INCR", "incr"},     {"ECHO", "echo"},   {"GETRANGE k 0", "getrange"},
        {"DEL", "del"},       {"SELECT", "select"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want),
                 "-ERR wrong number of arguments for '%s' command\r\n",
                 cases[i][1]);
        it_expect(&c, cases[i][0], want);
    }
    it_expect(&c, "NOSUCHCMD a b",
              "-ERR unknown command 'NOSUCHCMD', with args beginning with: "
              "'a' 'b' \r\n");
    it_expect(&c, "PING", "+PONG\r\n");
    resp_client_close(&c);
}

static void wrong_argument_types(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, srv.port);
    it_expect(&c, "SET bad:s hello", "+OK\r\n");
    it_expect(&c, "INCR bad:s",
              "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "INCRBY bad:n abc",
              "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "INCRBYFLOAT bad:n abc", "-ERR value is not a valid float\r\n");
    it_expect(&c, "INCRBYFLOAT bad:s 1", "-ERR value is not a valid float\r\n");
    it_expect(&c, "EXPIRE bad:s abc",
              "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "SET bad:s v EX abc",
              "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "SET bad:s v EX 0",
              "-ERR invalid expire time in 'set' command\r\n");
    it_expect(&c, "SET bad:s v EX -5",
              "-ERR invalid expire time in 'set' command\r\n");
    it_expect(&c, "SET bad:s v NX XX", "-ERR syntax error\r\n");
    it_expect(&c, "GETRANGE bad:s a 1",
              "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "SETRANGE bad:s -1 x", "-ERR offset is out of range\r\n");
    it_expect(&c, "GET bad:s", "$5\r\nhello\r\n");
    it_expect(&c, "DEL bad:s", ":1\r\n");
    resp_client_close(&c);
}

static void incr_overflow(void **state)
{
    (void)state;
    struct resp_client c;
    it_connect(&c, srv.port);
    it_expect(&c, "SET ov 9223372036854775807", "+OK\r\n");
    it_expect(&c, "INCR ov", "-ERR increment or decrement would overflow\r\n");
    it_expect(&c, "INCRBY ov 1",
              "-ERR increment or decrement would overflow\r\n");
    it_expect(&c, "GET ov", "$19\r\n9223372036854775807\r\n");
    it_expect(&c, "SET ov -9223372036854775808", "+OK\r\n");
    it_expect(&c, "DECR ov", "-ERR increment or decrement would overflow\r\n");
    it_expect(&c, "DECRBY ov 1",
              "-ERR increment or decrement would overflow\r\n");
    it_expect(&c, "SET ov 0", "+OK\r\n");
    it_expect(&c, "DECRBY ov -9223372036854775808",
              "-ERR decrement would overflow\r\n");
    it_expect(&c, "SET ov 9223372036854775808", "+OK\r\n");
    it_expect(&c, "INCR ov", "-ERR value is not an integer or out of range\r\n");
    it_expect(&c, "DEL ov", ":1\r\n");
    resp_client_close(&c);
}

static void noauth_with_requirepass(void **state)
{
    (void)state;
    static const char *const args[] = {"--requirepass", "s3cret", NULL};
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, args), 0);
    struct resp_client c;
    it_connect(&c, s.port);
    it_expect(&c, "GET k", "-NOAUTH Authentication required.\r\n");
    it_expect(&c, "SET k v", "-NOAUTH Authentication required.\r\n");
    it_expect(&c, "PING", "-NOAUTH Authentication required.\r\n");
    it_expect(&c, "AUTH wrong",
              "-WRONGPASS invalid username-password pair or user is "
              "disabled.\r\n");
    it_expect(&c, "AUTH s3cret", "+OK\r\n");
    it_expect(&c, "GET k", "$-1\r\n");
    resp_client_close(&c);

    /* Before AUTH, big requests are refused by the protocol layer. */
    raw_case_at(s.port, "*11\r\n", 5,
                "-ERR Protocol error: unauthenticated multibulk length\r\n",
                true, __FILE__, __LINE__);
    raw_case_at(s.port, "*2\r\n$3\r\nGET\r\n$16385\r\n", 22,
                "-ERR Protocol error: unauthenticated bulk length\r\n", true,
                __FILE__, __LINE__);
    it_connect(&c, s.port);
    it_expect(&c, "AUTH s3cret", "+OK\r\n");
    resp_client_close(&c);
    assert_int_equal(server_proc_stop(&s, IT_STOP_TIMEOUT_MS), 0);
}

/* Waits (bounded) until INFO reports exactly n connected clients. */
static bool wait_clients(struct resp_client *mon, long n)
{
    for (int round = 0; round < 400; round++) {
        const char *info = resp_client_call(mon, "INFO clients");
        char v[32];
        if (info != NULL && it_info_field(info, "connected_clients", v,
                                          sizeof(v)) && atol(v) == n)
            return true;
        server_proc_pause_ms(25);
    }
    return false;
}

static long info_number(struct resp_client *mon, const char *section,
                        const char *field)
{
    char line[64];
    snprintf(line, sizeof(line), "INFO %s", section);
    const char *info = resp_client_call(mon, line);
    char v[32];
    if (info == NULL || !it_info_field(info, field, v, sizeof(v)))
        return -1;
    return atol(v);
}

/* Waits (bounded) until the server has accepted more than `accepted`
 * connections in total and is back to `clients` connected: the new client
 * came and went.  Checking the first half matters: right after connect()
 * the server may not have accepted the client yet, and counting clients
 * alone would then succeed before anything happened. */
static bool wait_came_and_went(struct resp_client *mon, long accepted,
                               long clients)
{
    for (int round = 0; round < 400; round++) {
        if (info_number(mon, "stats", "total_connections_received") >
                accepted &&
            info_number(mon, "clients", "connected_clients") == clients)
            return true;
        server_proc_pause_ms(25);
    }
    return false;
}

static void client_that_never_reads_is_disconnected(void **state)
{
    (void)state;
    static const char *const args[] = {"--client-output-buffer-limit",
                                       "normal 8mb 4mb 0", NULL};
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, args), 0);
    struct resp_client mon, greedy;
    it_connect(&mon, s.port);
    /* A 512 KB value, read back 400 times: ~200 MB of replies. */
    const size_t value_len = 512 * 1024;
    char *value = malloc(value_len);
    assert_non_null(value);
    memset(value, 'v', value_len);
    const char *argv[] = {"SET", "big", value};
    size_t lens[] = {3, 3, value_len};
    assert_int_equal(resp_client_send_argv(&mon, 3, argv, lens), 0);
    it_expect_reply(&mon, "+OK\r\n");
    free(value);
    long peak_before = server_proc_peak_rss_kb(&s);
    assert_true(peak_before > 0);
    long accepted = info_number(&mon, "stats", "total_connections_received");
    assert_true(accepted > 0);

    it_connect(&greedy, s.port);
    struct buf req;
    buf_init(&req, 0);
    for (int i = 0; i < 400; i++)
        buf_append_str(&req, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    assert_int_equal(resp_client_send(&greedy, req.data, req.len), 0);
    buf_free(&req);
    /* Do not read: the server must drop the client at its output limit. */
    if (!wait_came_and_went(&mon, accepted, 1))
        fail_msg("the client that never reads was not disconnected");
    long peak_after = server_proc_peak_rss_kb(&s);
    fprintf(stderr, "peak RSS %ld KiB -> %ld KiB\n", peak_before, peak_after);
    assert_true(peak_after - peak_before < RSS_GROWTH_MAX_KB);
    it_expect_closed(&greedy); /* drains what the kernel still holds */
    resp_client_close(&greedy);
    it_expect(&mon, "STRLEN big", ":524288\r\n");
    resp_client_close(&mon);
    it_still_serving(s.port);
    assert_int_equal(server_proc_stop(&s, IT_STOP_TIMEOUT_MS), 0);
}

static void huge_query_buffer_is_cut_off(void **state)
{
    (void)state;
    static const char *const args[] = {"--client-query-buffer-limit", "1mb",
                                       NULL};
    struct server_proc s;
    assert_int_equal(server_proc_start_target(&s, args), 0);
    struct resp_client c;
    it_connect(&c, s.port);
    /* A 400 MB bulk is allowed by proto-max-bulk-len, but not by the 1 MB
     * query buffer limit: the server must close before buffering it. */
    static const char hdr[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400000000\r\n";
    assert_int_equal(resp_client_send(&c, hdr, sizeof(hdr) - 1), 0);
    char *chunk = malloc(1 << 20);
    assert_non_null(chunk);
    memset(chunk, 'q', 1 << 20);
    int rc = 0;
    for (int i = 0; i < 16 && rc == 0; i++)
        rc = resp_client_send(&c, chunk, 1 << 20);
    free(chunk);
    /* Either a send already failed (reset) or the close is on its way. */
    assert_true(rc == 0 || rc == CAIRN_ECLOSED);
    it_expect_closed(&c);
    resp_client_close(&c);
    it_still_serving(s.port);
    assert_true(server_proc_alive(&s));
    assert_int_equal(server_proc_stop(&s, IT_STOP_TIMEOUT_MS), 0);
}

static void huge_counts_do_not_preallocate(void **state)
{
    (void)state;
    /* 20 clients each announce 1M arguments and send one: a server that
     * reserved the announced argument array up front would grow by
     * hundreds of MB. */
    enum { CLIENTS = 20 };
    struct resp_client c[CLIENTS], mon;
    it_connect(&mon, srv.port);
    long base = info_number(&mon, "clients", "connected_clients");
    assert_true(base >= 1);
    long before = server_proc_peak_rss_kb(&srv);
    for (int i = 0; i < CLIENTS; i++) {
        it_connect(&c[i], srv.port);
        static const char in[] = "*1048576\r\n$1\r\na\r\n";
        assert_int_equal(resp_client_send(&c[i], in, sizeof(in) - 1), 0);
    }
    assert_true(wait_clients(&mon, base + CLIENTS));
    long after = server_proc_peak_rss_kb(&srv);
    fprintf(stderr, "peak RSS %ld KiB -> %ld KiB\n", before, after);
    assert_true(after - before < RSS_GROWTH_MAX_KB);
    for (int i = 0; i < CLIENTS; i++)
        resp_client_close(&c[i]);
    resp_client_close(&mon);
    it_still_serving(srv.port);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(negative_and_huge_lengths),
        cmocka_unit_test(too_many_arguments),
        cmocka_unit_test(wrong_bulk_header),
        cmocka_unit_test(missing_crlf_after_bulk),
        cmocka_unit_test(binary_garbage),
        cmocka_unit_test(http_requests_are_dropped),
        cmocka_unit_test(long_header_lines),
        cmocka_unit_test(inline_lines),
        cmocka_unit_test(wrong_arity),
        cmocka_unit_test(wrong_argument_types),
        cmocka_unit_test(incr_overflow),
        cmocka_unit_test(huge_counts_do_not_preallocate),
        cmocka_unit_test(noauth_with_requirepass),
        cmocka_unit_test(client_that_never_reads_is_disconnected),
        cmocka_unit_test(huge_query_buffer_is_cut_off),
    };
    fprintf(stderr, "server under test: %s\n", server_proc_cairn_path());
    return cmocka_run_group_tests(tests, srv_start, srv_stop);
}
