/*
 * sha256.c: SHA-256 as specified by FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1,
 * 6.2), HMAC as specified by RFC 2104.  Written for clarity over speed: one
 * block at a time, message schedule of 64 words on the stack.
 *
 * Invariants: buf_len < CAIRN_SHA256_BLOCK_SIZE on entry and exit of every
 * public function (ASSERTed); secrets and intermediate state are wiped when a
 * final() returns, so a MAC key does not linger in a stack frame we own.
 */
#include "core/sha256.h"

#include <string.h>

#include "core/assert.h"

/* FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Wipes memory in a way the compiler may not drop as a dead store: the
 * empty asm claims to read the memory, so the memset must happen (one
 * wide store per word instead of a volatile store per byte). */
static void wipe(void *p, size_t n)
{
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

/* §6.2.2: processes one 64-byte block into the hash state. */
static void compress(uint32_t h[8], const uint8_t block[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = load_be32(block + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    uint32_t e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + K[i] + w[i];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
    wipe(w, sizeof(w));
}

void cairn_sha256_init(struct cairn_sha256 *ctx)
{
    /* §5.3.3: the initial hash value. */
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                   0xa54ff53a, 0x510e527f, 0x9b05688c,
                                   0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->h, H0, sizeof(H0));
    ctx->len_bytes = 0;
    ctx->buf_len = 0;
}

void cairn_sha256_update(struct cairn_sha256 *ctx, const void *data,
                         size_t len)
{
    ASSERT(ctx->buf_len < CAIRN_SHA256_BLOCK_SIZE);
    const uint8_t *p = data;
    ctx->len_bytes += len;
    if (ctx->buf_len > 0) {
        size_t take = CAIRN_SHA256_BLOCK_SIZE - ctx->buf_len;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buf_len, p, take);
        ctx->buf_len += take;
        p += take;
        len -= take;
        if (ctx->buf_len < CAIRN_SHA256_BLOCK_SIZE)
            return;
        compress(ctx->h, ctx->buf);
        ctx->buf_len = 0;
    }
    for (; len >= CAIRN_SHA256_BLOCK_SIZE; len -= CAIRN_SHA256_BLOCK_SIZE) {
        compress(ctx->h, p);
        p += CAIRN_SHA256_BLOCK_SIZE;
    }
    if (len > 0)
        memcpy(ctx->buf, p, len);
    ctx->buf_len = len;
    ASSERT(ctx->buf_len < CAIRN_SHA256_BLOCK_SIZE);
}

void cairn_sha256_final(struct cairn_sha256 *ctx,
                        uint8_t out[CAIRN_SHA256_SIZE])
{
    ASSERT(ctx->buf_len < CAIRN_SHA256_BLOCK_SIZE);
    /* §5.1.1: a 1 bit, zeros, then the message length in bits (64-bit BE),
     * so that the padded message is a whole number of blocks. */
    uint64_t bits = ctx->len_bytes * 8;
    size_t n = ctx->buf_len;
    ctx->buf[n++] = 0x80;
    if (n > 56) {
        memset(ctx->buf + n, 0, CAIRN_SHA256_BLOCK_SIZE - n);
        compress(ctx->h, ctx->buf);
        n = 0;
    }
    memset(ctx->buf + n, 0, 56 - n);
    store_be32(ctx->buf + 56, (uint32_t)(bits >> 32));
    store_be32(ctx->buf + 60, (uint32_t)bits);
    compress(ctx->h, ctx->buf);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->h[i]);
    wipe(ctx, sizeof(*ctx));
}

void cairn_sha256(const void *data, size_t len, uint8_t out[CAIRN_SHA256_SIZE])
{
    struct cairn_sha256 ctx;
    cairn_sha256_init(&ctx);
    cairn_sha256_update(&ctx, data, len);
    cairn_sha256_final(&ctx, out);
}

void cairn_hmac_sha256_init(struct cairn_hmac_sha256 *ctx, const void *key,
                            size_t key_len)
{
    ASSERT(key != NULL || key_len == 0);
    /* RFC 2104 §2: a key longer than the block is replaced by its hash; a
     * shorter one is padded with zeros to the block size. */
    uint8_t k[CAIRN_SHA256_BLOCK_SIZE] = {0};
    if (key_len > CAIRN_SHA256_BLOCK_SIZE)
        cairn_sha256(key, key_len, k);
    else if (key_len > 0)
        memcpy(k, key, key_len);
    uint8_t ikey[CAIRN_SHA256_BLOCK_SIZE];
    for (size_t i = 0; i < CAIRN_SHA256_BLOCK_SIZE; i++) {
        ikey[i] = k[i] ^ 0x36;
        ctx->okey[i] = k[i] ^ 0x5c;
    }
    cairn_sha256_init(&ctx->inner);
    cairn_sha256_update(&ctx->inner, ikey, sizeof(ikey));
    wipe(k, sizeof(k));
    wipe(ikey, sizeof(ikey));
}

void cairn_hmac_sha256_update(struct cairn_hmac_sha256 *ctx, const void *data,
                              size_t len)
{
    cairn_sha256_update(&ctx->inner, data, len);
}

void cairn_hmac_sha256_final(struct cairn_hmac_sha256 *ctx,
                             uint8_t out[CAIRN_SHA256_SIZE])
{
    uint8_t ihash[CAIRN_SHA256_SIZE];
    cairn_sha256_final(&ctx->inner, ihash);
    struct cairn_sha256 outer;
    cairn_sha256_init(&outer);
    cairn_sha256_update(&outer, ctx->okey, sizeof(ctx->okey));
    cairn_sha256_update(&outer, ihash, sizeof(ihash));
    cairn_sha256_final(&outer, out);
    wipe(ihash, sizeof(ihash));
    wipe(ctx, sizeof(*ctx));
}

void cairn_hmac_sha256(const void *key, size_t key_len, const void *data,
                       size_t len, uint8_t out[CAIRN_SHA256_SIZE])
{
    struct cairn_hmac_sha256 ctx;
    cairn_hmac_sha256_init(&ctx, key, key_len);
    cairn_hmac_sha256_update(&ctx, data, len);
    cairn_hmac_sha256_final(&ctx, out);
}

bool cairn_mem_equal_ct(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}
