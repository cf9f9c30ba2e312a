/*
 * test_resp_reply_frame.c: the integration tests' reply framer
 * (resp_client_reply_len in tests/lib) against the reply writer.
 *
 * The integration tests compare servers by the exact bytes of each reply,
 * so the framer must find where a reply ends for every RESP2 and RESP3
 * type, never earlier (a split reply) and never later (two replies glued).
 * Here the writer produces replies, the framer must measure them exactly,
 * and every proper prefix must be reported incomplete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "resp/resp.h"
#include "resp_client.h"

/* The reply must frame to exactly its length; every prefix to 0. */
static void expect_framed(const char *p, size_t len)
{
    size_t got = resp_client_reply_len(p, len);
    if (got != len)
        fail_msg("framed %zu of %zu bytes: %s", got, len,
                 resp_client_show(p, len));
    for (size_t k = 0; k < len; k++) {
        size_t part = resp_client_reply_len(p, k);
        if (part != 0)
            fail_msg("prefix of %zu bytes framed as %zu: %s", k, part,
                     resp_client_show(p, len));
    }
}

/* Writes one composite reply with the writer in both protocols. */
static void composite(struct resp_writer *w)
{
    resp_reply_map(w, 2);
    resp_reply_bulk_str(w, "a");
    resp_reply_set(w, 3);
    resp_reply_int(w, -7);
    resp_reply_double(w, 1.5);
    resp_reply_bool(w, true);
    resp_reply_bulk_str(w, "b");
    resp_reply_array(w, 4);
    resp_reply_null(w);
    resp_reply_null_array(w);
    resp_reply_verbatim(w, "x\r\ny", 4);
    resp_reply_array(w, 0);
}

static void writer_replies_frame_exactly(void **state)
{
    (void)state;
    for (int proto = 2; proto <= 3; proto++) {
        struct buf b;
        buf_init(&b, 0);
        struct resp_writer w;
        resp_writer_init(&w, &b, proto);
        composite(&w);
        assert_false(w.failed);
        expect_framed(b.data, b.len);
        /* Two replies back to back: the first is framed alone. */
        size_t first = b.len;
        resp_reply_ok(&w);
        assert_int_equal(resp_client_reply_len(b.data, b.len), first);
        buf_free(&b);
    }
}

static void every_type_frames(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "+OK\r\n", "-ERR x\r\n", ":12\r\n", "$3\r\nabc\r\n", "$-1\r\n",
        "*-1\r\n", "_\r\n", ",1.5\r\n", "#t\r\n", "(123\r\n",
        "=8\r\ntxt:ab\r\n\r\n", "!5\r\nERR x\r\n", "*0\r\n", "%0\r\n",
        "~2\r\n+a\r\n+b\r\n", ">2\r\n+m\r\n:1\r\n",
        "|1\r\n+key\r\n+val\r\n:42\r\n",          /* attribute, then value */
        "*2\r\n*2\r\n:1\r\n:2\r\n%1\r\n+k\r\n*1\r\n$0\r\n\r\n",
        "$4\r\n\r\n\r\n\r\n",                      /* CRLF inside a bulk */
    };
    for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
        expect_framed(replies[i], strlen(replies[i]));
}

static void garbage_is_not_a_reply(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "?x\r\n", "$x\r\n", "*-2\r\n", "$-5\r\n", "*99999999999\r\n",
        "$\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(resp_client_reply_len(bad[i], strlen(bad[i])),
                         (size_t)-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writer_replies_frame_exactly),
        cmocka_unit_test(every_type_frames),
        cmocka_unit_test(garbage_is_not_a_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
