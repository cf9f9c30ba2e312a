/* test_core_sha256.c: SHA-256 against the FIPS 180-4 example vectors (and the
 * long-message vector of the NIST examples), HMAC-SHA256 against all seven
 * RFC 4231 test cases, incremental hashing split at every offset against the
 * one-shot digest, and the constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/sha256.h"
#include "testlib.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_sha(const void *data, size_t len, const char *want)
{
    uint8_t d[CAIRN_SHA256_SIZE];
    char got[2 * CAIRN_SHA256_SIZE + 1];
    cairn_sha256(data, len, d);
    hex(d, sizeof(d), got);
    assert_string_equal(got, want);
}

static void sha256_fips_vectors(void **state)
{
    (void)state;
    check_sha("abc", 3,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_sha("", 0,
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha(two, strlen(two),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_sha(four, strlen(four),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void sha256_million_a(void **state)
{
    (void)state;
    /* One million 'a', fed in uneven pieces so the block buffer is used. */
    struct cairn_sha256 ctx;
    cairn_sha256_init(&ctx);
    char chunk[997];
    memset(chunk, 'a', sizeof(chunk));
    size_t left = 1000000;
    while (left > 0) {
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        cairn_sha256_update(&ctx, chunk, n);
        left -= n;
    }
    uint8_t d[CAIRN_SHA256_SIZE];
    char got[2 * CAIRN_SHA256_SIZE + 1];
    cairn_sha256_final(&ctx, d);
    hex(d, sizeof(d), got);
    assert_string_equal(
        got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void sha256_split_matches_oneshot(void **state)
{
    (void)state;
    /* Lengths around the padding boundary (55, 56, 64) and every split. */
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(msg); len += 1) {
        uint8_t want[CAIRN_SHA256_SIZE];
        cairn_sha256(msg, len, want);
        for (size_t cut = 0; cut <= len; cut += (len > 70 ? 13 : 1)) {
            struct cairn_sha256 ctx;
            uint8_t got[CAIRN_SHA256_SIZE];
            cairn_sha256_init(&ctx);
            cairn_sha256_update(&ctx, msg, cut);
            cairn_sha256_update(&ctx, msg + cut, len - cut);
            cairn_sha256_final(&ctx, got);
            assert_memory_equal(got, want, sizeof(want));
        }
    }
}

struct hmac_case {
    uint8_t key[131];
    size_t key_len;
    const char *data;
    size_t data_len;
    const char *mac; /* hex; case 5 compares only the first 128 bits */
};

static void check_hmac(const struct hmac_case *c)
{
    uint8_t d[CAIRN_SHA256_SIZE];
    char got[2 * CAIRN_SHA256_SIZE + 1];
    cairn_hmac_sha256(c->key, c->key_len, c->data, c->data_len, d);
    hex(d, sizeof(d), got);
    got[strlen(c->mac)] = '\0';
    assert_string_equal(got, c->mac);
}

static void hmac_rfc4231_vectors(void **state)
{
    (void)state;
    struct hmac_case c;
    char data[160];

    memset(&c, 0, sizeof(c));
    memset(c.key, 0x0b, 20);
    c.key_len = 20;
    c.data = "Hi There";
    c.data_len = 8;
    c.mac = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
    check_hmac(&c);

    memset(&c, 0, sizeof(c));
    memcpy(c.key, "Jefe", 4);
    c.key_len = 4;
    c.data = "what do ya want for nothing?";
    c.data_len = strlen(c.data);
    c.mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    check_hmac(&c);

    memset(&c, 0, sizeof(c));
    memset(c.key, 0xaa, 20);
    c.key_len = 20;
    memset(data, 0xdd, 50);
    c.data = data;
    c.data_len = 50;
    c.mac = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
    check_hmac(&c);

    memset(&c, 0, sizeof(c));
    for (int i = 0; i < 25; i++)
        c.key[i] = (uint8_t)(i + 1);
    c.key_len = 25;
    memset(data, 0xcd, 50);
    c.data = data;
    c.data_len = 50;
    c.mac = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
    check_hmac(&c);

    memset(&c, 0, sizeof(c));
    memset(c.key, 0x0c, 20);
    c.key_len = 20;
    c.data = "Test With Truncation";
    c.data_len = strlen(c.data);
    c.mac = "a3b6167473100ee06e0c796c2955552b";
    check_hmac(&c);

    memset(&c, 0, sizeof(c));
    memset(c.key, 0xaa, 131);
    c.key_len = 131;
    c.data = "Test Using Larger Than Block-Size Key - Hash Key First";
    c.data_len = strlen(c.data);
    c.mac = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
    check_hmac(&c);

    c.data = "This is a test using a larger than block-size key and a larger "
             "than block-size data. The key needs to be hashed before being "
             "used by the HMAC algorithm.";
    c.data_len = strlen(c.data);
    c.mac = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";
    check_hmac(&c);
}

static void hmac_incremental_matches_oneshot(void **state)
{
    (void)state;
    const char *key = "cluster-secret";
    const char *msg = "cairn-peer-v1 and some nonces and ids, long enough to "
                      "cross one sixty-four byte block boundary at least";
    uint8_t want[CAIRN_SHA256_SIZE], got[CAIRN_SHA256_SIZE];
    cairn_hmac_sha256(key, strlen(key), msg, strlen(msg), want);
    for (size_t cut = 0; cut <= strlen(msg); cut++) {
        struct cairn_hmac_sha256 h;
        cairn_hmac_sha256_init(&h, key, strlen(key));
        cairn_hmac_sha256_update(&h, msg, cut);
        cairn_hmac_sha256_update(&h, msg + cut, strlen(msg) - cut);
        cairn_hmac_sha256_final(&h, got);
        assert_memory_equal(got, want, sizeof(want));
    }
    /* A different key gives a different MAC (the key is really used). */
    cairn_hmac_sha256("cluster-secreT", 14, msg, strlen(msg), got);
    assert_memory_not_equal(got, want, sizeof(want));
}

static void mem_equal_ct_compares(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(cairn_mem_equal_ct(a, b, sizeof(a)));
    assert_true(cairn_mem_equal_ct(a, b, 0));
    for (size_t i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x01;
        assert_false(cairn_mem_equal_ct(a, b, sizeof(a)));
        b[i] ^= 0x01;
    }
    b[31] ^= 0x80;
    assert_false(cairn_mem_equal_ct(a, b, sizeof(a)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_fips_vectors),
        cmocka_unit_test(sha256_million_a),
        cmocka_unit_test(sha256_split_matches_oneshot),
        cmocka_unit_test(hmac_rfc4231_vectors),
        cmocka_unit_test(hmac_incremental_matches_oneshot),
        cmocka_unit_test(mem_equal_ct_compares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
