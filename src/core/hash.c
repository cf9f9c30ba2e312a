/*
 * hash.c: xxHash wrapper, CRC16-XMODEM (table-driven, polynomial 0x1021) and
 * CRC-32C (reflected polynomial 0x82F63B78; see below).  Tables are built
 * on first use; cairn is single-threaded.
 */
#include "core/hash.h"

#include <stdbool.h>
#include <string.h>

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

/* CRC-32C runs over every log record, peer frame and snapshot byte, so it is
 * on the replication hot path.  On x86-64 with SSE4.2 the CPU's crc32
 * instruction does 8 bytes per step; elsewhere "slicing by 8" tables do the
 * same 8 bytes with eight lookups.  Both compute the same function (checked
 * against each other by test_core), so files and frames move freely between
 * machines. */
static uint32_t crc32c_table[8][256];
static bool crc32c_ready;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HW 1
static bool crc32c_hw;
#endif

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc32c_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = (c >> 8) ^ crc32c_table[0][c & 0xff];
            crc32c_table[t][i] = c;
        }
    }
#ifdef CRC32C_HW
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
    crc32c_ready = true;
}

static uint64_t load_le64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, sizeof(v)); /* one unaligned load */
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
#endif
}

/* crc is the inverted running value. */
static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len >= 8) {
        uint64_t v = load_le64(p) ^ crc;
        crc = crc32c_table[7][v & 0xff] ^ crc32c_table[6][(v >> 8) & 0xff] ^
              crc32c_table[5][(v >> 16) & 0xff] ^
              crc32c_table[4][(v >> 24) & 0xff] ^
              crc32c_table[3][(v >> 32) & 0xff] ^
              crc32c_table[2][(v >> 40) & 0xff] ^
              crc32c_table[1][(v >> 48) & 0xff] ^ crc32c_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#ifdef CRC32C_HW
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw_run(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        c = __builtin_ia32_crc32di(c, load_le64(p));
        p += 8;
        len -= 8;
    }
    /* The tail (< 8 bytes) in at most three steps; x86 is little-endian,
     * so a wider step takes the bytes in the same order as single ones. */
    uint32_t c32 = (uint32_t)c;
    if (len & 4) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        c32 = __builtin_ia32_crc32si(c32, v);
        p += 4;
    }
    if (len & 2) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        c32 = __builtin_ia32_crc32hi(c32, v);
        p += 2;
    }
    if (len & 1)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}
#endif

uint32_t cairn_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (!crc32c_ready)
        crc32c_init();
#ifdef CRC32C_HW
    if (crc32c_hw)
        return ~crc32c_hw_run(~crc, data, len);
#endif
    return ~crc32c_sw(~crc, data, len);
}

uint32_t cairn_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    if (!crc32c_ready)
        crc32c_init();
    return ~crc32c_sw(~crc, data, len);
}
