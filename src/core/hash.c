/*
 * hash.c: xxHash wrapper, CRC16-XMODEM (table-driven, polynomial 0x1021) and
 * CRC-32C (table-driven, reflected polynomial 0x82F63B78).  Tables are built
 * on first use; cairn is single-threaded.
 */
#include "core/hash.h"

#include <stdbool.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t cairn_hash64(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}

static uint16_t crc16_table[256];
static bool crc16_ready;

static void crc16_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int k = 0; k < 8; k++)
            c = (c & 0x8000) ? (uint16_t)((c << 1) ^ 0x1021) : (uint16_t)(c << 1);
        crc16_table[i] = c;
    }
    crc16_ready = true;
}

uint16_t cairn_crc16(const void *data, size_t len)
{
    if (!crc16_ready)
        crc16_init();
    const unsigned char *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
    return crc;
}

static uint32_t crc32c_table[256];
static bool crc32c_ready;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
    crc32c_ready = true;
}

uint32_t cairn_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (!crc32c_ready)
        crc32c_init();
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = (crc >> 8) ^ crc32c_table[(crc ^ p[i]) & 0xff];
    return ~crc;
}
