/* test_core.c: unit tests for src/core (buffers, numbers, rng, hashes, errors,
 * the allocator's fault hook). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "testlib.h"

static void buf_append_respects_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "hello", 5), 0);
    assert_int_equal(buf_append(&b, "world", 5), 0);
    assert_int_equal(buf_append(&b, "!", 1), CAIRN_EFULL);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "helloworld", 10);
    buf_consume(&b, 5);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "world", 5);
    buf_free(&b);
}

static void buf_append_fails_after_limit_lowered(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    b.limit = 4; /* as when CONFIG SET lowers a limit under a full buffer */
    assert_int_equal(buf_append(&b, "x", 1), CAIRN_EFULL);
    assert_int_equal(b.len, 10);
    buf_free(&b);
}

static void buf_append_reports_enomem_and_keeps_contents(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    test_alloc_fail_after(0);
    char big[4096] = {0};
    assert_int_equal(buf_append(&b, big, sizeof(big)), CAIRN_ENOMEM);
    test_alloc_reset();
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    buf_free(&b);
}

static void buf_printf_formats(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_printf(&b, "%s=%d", "x", 42), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "x=42", 4);
    buf_free(&b);
}

static void str_to_i64_follows_redis_rules(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(cairn_str_to_i64("0", 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cairn_str_to_i64("-42", 3, &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(cairn_str_to_i64("9223372036854775807", 19, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(cairn_str_to_i64("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(cairn_str_to_i64("9223372036854775808", 19, &v), CAIRN_ERANGE);
    assert_int_equal(cairn_str_to_i64("-9223372036854775809", 20, &v), CAIRN_ERANGE);
    assert_int_equal(cairn_str_to_i64("01", 2, &v), CAIRN_EINVAL);
    assert_int_equal(cairn_str_to_i64("-0", 2, &v), CAIRN_EINVAL);
    assert_int_equal(cairn_str_to_i64(" 1", 2, &v), CAIRN_EINVAL);
    assert_int_equal(cairn_str_to_i64("+1", 2, &v), CAIRN_EINVAL);
    assert_int_equal(cairn_str_to_i64("", 0, &v), CAIRN_EINVAL);
    assert_int_equal(cairn_str_to_i64("1a", 2, &v), CAIRN_EINVAL);
}

static void i64_to_str_round_trips_extremes(void **state)
{
    (void)state;
    char tmp[24];
    int64_t vals[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1234567890123LL};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t n = cairn_i64_to_str(vals[i], tmp);
        int64_t back = 0;
        assert_int_equal(cairn_str_to_i64(tmp, n, &back), 0);
        assert_true(back == vals[i]);
    }
}

static void rng_is_deterministic_per_seed(void **state)
{
    (void)state;
    struct cairn_rng a, b, c;
    cairn_rng_seed(&a, 7);
    cairn_rng_seed(&b, 7);
    cairn_rng_seed(&c, 8);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = cairn_rng_next(&a);
        assert_true(x == cairn_rng_next(&b));
        differ |= x != cairn_rng_next(&c);
        uint64_t r = cairn_rng_range(&a, 10, 20);
        (void)cairn_rng_range(&b, 10, 20);
        assert_true(r >= 10 && r <= 20);
    }
    assert_true(differ);
}

static void crc_known_answers(void **state)
{
    (void)state;
    /* Check values from the CRC catalogue for "123456789". */
    assert_int_equal(cairn_crc16("123456789", 9), 0x31C3);
    assert_int_equal(cairn_crc32c(0, "123456789", 9), 0xE3069283u);
    /* Incremental CRC-32C equals one-shot. */
    uint32_t part = cairn_crc32c(0, "1234", 4);
    assert_int_equal(cairn_crc32c(part, "56789", 5), 0xE3069283u);
}

static void crc32c_fast_path_matches_portable(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, 42);
    unsigned char data[1031];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)cairn_rng_next(&rng);
    /* Every length and alignment up to a few words, and a long run. */
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len + off <= 40; len++) {
            uint32_t a = cairn_crc32c(7, data + off, len);
            uint32_t b = cairn_crc32c_portable(7, data + off, len);
            assert_int_equal(a, b);
        }
    }
    assert_int_equal(cairn_crc32c(0, data, sizeof(data)),
                     cairn_crc32c_portable(0, data, sizeof(data)));
    assert_int_equal(cairn_crc32c_portable(0, "123456789", 9), 0xE3069283u);
}

static void hash_depends_on_seed(void **state)
{
    (void)state;
    assert_true(cairn_hash64("key", 3, 1) == cairn_hash64("key", 3, 1));
    assert_true(cairn_hash64("key", 3, 1) != cairn_hash64("key", 3, 2));
}

static void every_error_has_a_message(void **state)
{
    (void)state;
    for (int code = -1; code >= CAIRN_ESTALE; code--) {
        assert_string_not_equal(cairn_strerror(code), "unknown error");
        assert_string_not_equal(cairn_errname(code), "CAIRN_E?");
    }
    assert_string_equal(cairn_strerror(CAIRN_ENOMEM), "out of memory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_respects_limit),
        cmocka_unit_test(buf_append_fails_after_limit_lowered),
        cmocka_unit_test(buf_append_reports_enomem_and_keeps_contents),
        cmocka_unit_test(buf_printf_formats),
        cmocka_unit_test(str_to_i64_follows_redis_rules),
        cmocka_unit_test(i64_to_str_round_trips_extremes),
        cmocka_unit_test(rng_is_deterministic_per_seed),
        cmocka_unit_test(crc_known_answers),
        cmocka_unit_test(crc32c_fast_path_matches_portable),
        cmocka_unit_test(hash_depends_on_seed),
        cmocka_unit_test(every_error_has_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
