/*
 * hash.h: the hash functions of cairn.  Keys are hashed with xxHash (XXH3)
 * under a seed fixed by configuration, so a run is reproducible: the same
 * seed and the same commands give the same table layout and SCAN order.
 */
#ifndef CAIRN_CORE_HASH_H
#define CAIRN_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t cairn_hash64(const void *data, size_t len, uint64_t seed);

/* CRC16-XMODEM, the key-to-slot function Redis Cluster clients compute. */
uint16_t cairn_crc16(const void *data, size_t len);

/* CRC-32C (Castagnoli) for checksums of data on disk and on the wire.
 * crc is the running value: start with 0. */
uint32_t cairn_crc32c(uint32_t crc, const void *data, size_t len);

/* The same function computed without CPU instructions; for tests that prove
 * the fast path and the portable path agree. */
uint32_t cairn_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
