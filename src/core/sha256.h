/*
 * sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the peer
 * handshake's challenge-response.  Pure functions over caller-owned state: no
 * allocation, no I/O.  Not tuned for bulk hashing (the handshake hashes a
 * few hundred bytes per connection).
 *
 * Invariants: ctx->buf_len < 64 between calls (a full block is always
 * compressed at once); the bit length counts every byte passed to update.
 */
#ifndef CAIRN_CORE_SHA256_H
#define CAIRN_CORE_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_SIZE 32
#define CAIRN_SHA256_BLOCK_SIZE 64

struct cairn_sha256 {
    uint32_t h[8];
    uint64_t len_bytes;
    uint8_t buf[CAIRN_SHA256_BLOCK_SIZE];
    size_t buf_len;
};

void cairn_sha256_init(struct cairn_sha256 *ctx);
void cairn_sha256_update(struct cairn_sha256 *ctx, const void *data,
                         size_t len);
/* Writes the digest and wipes ctx. */
void cairn_sha256_final(struct cairn_sha256 *ctx,
                        uint8_t out[CAIRN_SHA256_SIZE]);
/* One-shot. */
void cairn_sha256(const void *data, size_t len,
                  uint8_t out[CAIRN_SHA256_SIZE]);

/* HMAC-SHA256, incremental: the key may have any length (longer than a block
 * it is hashed first, as RFC 2104 says). */
struct cairn_hmac_sha256 {
    struct cairn_sha256 inner;
    uint8_t okey[CAIRN_SHA256_BLOCK_SIZE]; /* key ^ opad */
};
void cairn_hmac_sha256_init(struct cairn_hmac_sha256 *ctx, const void *key,
                            size_t key_len);
void cairn_hmac_sha256_update(struct cairn_hmac_sha256 *ctx, const void *data,
                              size_t len);
/* Writes the MAC and wipes ctx. */
void cairn_hmac_sha256_final(struct cairn_hmac_sha256 *ctx,
                             uint8_t out[CAIRN_SHA256_SIZE]);
void cairn_hmac_sha256(const void *key, size_t key_len, const void *data,
                       size_t len, uint8_t out[CAIRN_SHA256_SIZE]);

/* Compares len bytes in time that depends only on len (for MACs). */
bool cairn_mem_equal_ct(const void *a, const void *b, size_t len);

#endif
