/*
 * test_resp_writer.c: unit tests for the RESP2/RESP3 reply writer.  Each
 * expected byte string was checked against Redis 7.0's replies to the same
 * kind of command (ZSCORE, HELLO, CLIENT INFO, HGETALL on a missing key).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "resp/resp.h"
#include "testlib.h"

struct out {
    struct buf b;
    struct resp_writer w;
};

static void out_init(struct out *o, int proto, size_t limit)
{
    buf_init(&o->b, limit);
    resp_writer_init(&o->w, &o->b, proto);
}

static void expect_bytes(struct out *o, const char *want, size_t want_len)
{
    assert_false(o->w.failed);
    if (o->b.len != want_len || memcmp(o->b.data, want, want_len) != 0)
        fail_msg("proto %d: got [%.*s] want [%.*s]", o->w.proto, (int)o->b.len,
                 o->b.data, (int)want_len, want);
    buf_free(&o->b);
}

#define EXPECT(o, lit) expect_bytes(o, lit, sizeof(lit) - 1)

static void scalars(void **state)
{
    (void)state;
    for (int proto = 2; proto <= 3; proto++) {
        struct out o;
        out_init(&o, proto, 0);
        resp_reply_ok(&o.w);
        resp_reply_simple(&o.w, "PONG");
        resp_reply_int(&o.w, 0);
        resp_reply_int(&o.w, INT64_MIN);
        resp_reply_int(&o.w, INT64_MAX);
        resp_reply_bulk(&o.w, "a\0b", 3);
        resp_reply_bulk(&o.w, "", 0);
        resp_reply_bulk_str(&o.w, "hi");
        resp_reply_bulk_i64(&o.w, -42);
        resp_reply_array(&o.w, 2);
        resp_reply_raw(&o.w, "+x\r\n", 4);
        EXPECT(&o, "+OK\r\n+PONG\r\n:0\r\n:-9223372036854775808\r\n"
                   ":9223372036854775807\r\n$3\r\na\0b\r\n$0\r\n\r\n"
                   "$2\r\nhi\r\n$3\r\n-42\r\n*2\r\n+x\r\n");
    }
}

static void nulls_by_protocol(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 2, 0);
    resp_reply_null(&o.w);
    resp_reply_null_array(&o.w);
    EXPECT(&o, "$-1\r\n*-1\r\n");
    out_init(&o, 3, 0);
    resp_reply_null(&o.w);
    resp_reply_null_array(&o.w);
    EXPECT(&o, "_\r\n_\r\n");
}

static void aggregates_by_protocol(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 2, 0);
    resp_reply_map(&o.w, 2);
    resp_reply_map(&o.w, 0);
    resp_reply_set(&o.w, 3);
    EXPECT(&o, "*4\r\n*0\r\n*3\r\n");
    out_init(&o, 3, 0);
    resp_reply_map(&o.w, 2);
    resp_reply_map(&o.w, 0);
    resp_reply_set(&o.w, 3);
    EXPECT(&o, "%2\r\n%0\r\n~3\r\n");
}

static void doubles_like_redis_7_0(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 2, 0);
    resp_reply_double(&o.w, 1.1);
    resp_reply_double(&o.w, 100);
    resp_reply_double(&o.w, INFINITY);
    resp_reply_double(&o.w, -INFINITY);
    resp_reply_double(&o.w, -0.0);
    EXPECT(&o, "$18\r\n1.1000000000000001\r\n$3\r\n100\r\n$3\r\ninf\r\n"
               "$4\r\n-inf\r\n$2\r\n-0\r\n");
    out_init(&o, 3, 0);
    resp_reply_double(&o.w, 1.1);
    resp_reply_double(&o.w, 100);
    resp_reply_double(&o.w, INFINITY);
    resp_reply_double(&o.w, -INFINITY);
    resp_reply_double(&o.w, 1e300);
    EXPECT(&o, ",1.1000000000000001\r\n,100\r\n,inf\r\n,-inf\r\n"
               ",1.0000000000000001e+300\r\n");
}

static void bools_and_verbatim(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 2, 0);
    resp_reply_bool(&o.w, true);
    resp_reply_bool(&o.w, false);
    resp_reply_verbatim(&o.w, "id=1\n", 5);
    EXPECT(&o, ":1\r\n:0\r\n$5\r\nid=1\n\r\n");
    out_init(&o, 3, 0);
    resp_reply_bool(&o.w, true);
    resp_reply_bool(&o.w, false);
    resp_reply_verbatim(&o.w, "id=1\n", 5);
    resp_reply_verbatim(&o.w, "", 0);
    EXPECT(&o, "#t\r\n#f\r\n=9\r\ntxt:id=1\n\r\n=4\r\ntxt:\r\n");
}

static void errors_are_one_clean_line(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 2, 0);
    resp_reply_error(&o.w, "ERR syntax error");
    resp_reply_error(&o.w, "-WRONGTYPE x");
    resp_reply_error(&o.w, "ERR a\r\nb");
    resp_reply_errorf(&o.w, "ERR unknown command '%s'", "fo\no");
    EXPECT(&o, "-ERR syntax error\r\n-WRONGTYPE x\r\n-ERR a  b\r\n"
               "-ERR unknown command 'fo o'\r\n");
}

static void long_formatted_error_is_whole(void **state)
{
    (void)state;
    char arg[1001];
    memset(arg, 'z', 1000);
    arg[1000] = '\0';
    struct out o;
    out_init(&o, 3, 0);
    resp_reply_errorf(&o.w, "ERR %s!", arg);
    assert_false(o.w.failed);
    assert_int_equal(o.b.len, 1 + 4 + 1000 + 1 + 2);
    assert_memory_equal(o.b.data + o.b.len - 3, "!\r\n", 3);
    buf_free(&o.b);
}

static void full_buffer_fails_whole_elements(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 2, 16);
    resp_reply_ok(&o.w);                  /* 5 bytes */
    resp_reply_bulk(&o.w, "0123456789", 10); /* 16: does not fit */
    assert_true(o.w.failed);
    assert_int_equal(o.b.len, 5);
    /* Nothing is appended after a hole, even what would fit. */
    resp_reply_int(&o.w, 1);
    resp_reply_null(&o.w);
    resp_reply_simple(&o.w, "x");
    resp_reply_error(&o.w, "ERR x");
    assert_int_equal(o.b.len, 5);
    assert_memory_equal(o.b.data, "+OK\r\n", 5);
    buf_free(&o.b);
}

static void simple_line_that_does_not_fit(void **state)
{
    (void)state;
    struct out o;
    out_init(&o, 3, 8);
    resp_reply_simple(&o.w, "too long for eight");
    assert_true(o.w.failed);
    assert_int_equal(o.b.len, 0);
    buf_free(&o.b);
}

static void allocation_failure_sets_failed(void **state)
{
    (void)state;
    char big[300];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int which = 0; which < 3; which++) {
        struct out o;
        out_init(&o, 3, 0);
        test_alloc_fail_after(0);
        if (which == 0)
            resp_reply_bulk(&o.w, "x", 1);
        else if (which == 1)
            resp_reply_errorf(&o.w, "ERR %s", big); /* heap path */
        else
            resp_reply_verbatim(&o.w, "x", 1);
        long failures = test_alloc_failures();
        test_alloc_reset();
        assert_true(o.w.failed);
        assert_true(failures > 0);
        assert_int_equal(o.b.len, 0);
        buf_free(&o.b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars),
        cmocka_unit_test(nulls_by_protocol),
        cmocka_unit_test(aggregates_by_protocol),
        cmocka_unit_test(doubles_like_redis_7_0),
        cmocka_unit_test(bools_and_verbatim),
        cmocka_unit_test(errors_are_one_clean_line),
        cmocka_unit_test(long_formatted_error_is_whole),
        cmocka_unit_test(full_buffer_fails_whole_elements),
        cmocka_unit_test(simple_line_that_does_not_fit),
        cmocka_unit_test(allocation_failure_sets_failed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
