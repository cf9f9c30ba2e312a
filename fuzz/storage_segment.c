/*
 * storage_segment.c: libFuzzer target for the storage file decoders
 * (src/node/storage_format.c): log segments, meta slots, snapshot headers,
 * all read back from a disk that may hold anything.
 *
 * Input: the bytes of one file.  They are decoded as a segment (header,
 * then a record scan both as the last segment and as an earlier one), as a
 * meta file (both slots) and as a snapshot header.  So that mutations get
 * past the record checksums, the input is also scanned after resealing: the
 * header and data CRCs of every record that fits are recomputed first.
 *
 * Invariants checked (abort on failure, so libFuzzer reports them):
 *   - decoding never reads outside the input (ASan) and never asserts;
 *   - a scan stops inside the input and reports consecutive indexes with
 *     non-decreasing terms, each entry's data inside the input;
 *   - scanning as the last segment accepts whatever scanning as an earlier
 *     one accepts, with the same end and no torn tail; a torn tail is
 *     refused as an earlier segment;
 *   - every record accepted re-encodes to the identical header bytes, and
 *     every meta slot or snapshot header accepted re-encodes identically.
 *
 * Seed corpus: fuzz/corpus/storage_segment/ (files written by
 * tests/unit/test_storage.c when CAIRN_STORAGE_CORPUS_DIR is set).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "node/storage_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

struct seen {
    const uint8_t *buf;
    size_t len;
    uint64_t n;
    uint64_t last_index;
    uint64_t last_term;
};

static int on_entry(void *ctx, const struct raft_entry *e, uint64_t offset)
{
    struct seen *s = ctx;
    CHECK(offset >= STORAGE_SEG_HEADER_SIZE);
    CHECK(offset + STORAGE_REC_HEADER_SIZE + e->len <= s->len);
    if (s->n > 0) {
        CHECK(e->index == s->last_index + 1);
        CHECK(e->term >= s->last_term);
    }
    if (e->len > 0) {
        const uint8_t *d = e->data;
        CHECK(d >= s->buf + STORAGE_SEG_HEADER_SIZE + STORAGE_REC_HEADER_SIZE);
        CHECK(d + e->len <= s->buf + s->len);
        uint8_t hdr[STORAGE_REC_HEADER_SIZE];
        storage_rec_header_encode(e, hdr);
        CHECK(memcmp(hdr, d - STORAGE_REC_HEADER_SIZE, sizeof(hdr)) == 0);
    }
    s->n++;
    s->last_index = e->index;
    s->last_term = e->term;
    return 0;
}

static void scan_both(const uint8_t *in, size_t size, uint64_t first)
{
    struct seen a = {.buf = in, .len = size};
    struct seen b = {.buf = in, .len = size};
    struct storage_scan last, mid;
    int rc_last = storage_seg_scan(in, size, first, true, on_entry, &a, &last);
    int rc_mid = storage_seg_scan(in, size, first, false, on_entry, &b, &mid);
    CHECK(rc_last == 0 || rc_last == CAIRN_ECORRUPT);
    CHECK(rc_mid == 0 || rc_mid == CAIRN_ECORRUPT);
    if (rc_last == 0) {
        CHECK(last.end <= size);
        CHECK(last.n_records * STORAGE_REC_HEADER_SIZE <= size);
        CHECK(last.last_index == first - 1 + last.n_records);
    }
    if (rc_mid == 0) {
        CHECK(rc_last == 0);
        CHECK(!mid.torn && !last.torn);
        CHECK(mid.end == last.end && mid.end == size);
    }
    if (rc_last == 0 && last.torn)
        CHECK(rc_mid != 0);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the CRCs of every record that fits, in place. */
static void reseal(uint8_t *in, size_t size)
{
    size_t off = STORAGE_SEG_HEADER_SIZE;
    /* Each pass moves past one record header: at most size / 32 passes. */
    while (off + STORAGE_REC_HEADER_SIZE <= size) {
        uint8_t *h = in + off;
        uint32_t len = (uint32_t)h[8] | (uint32_t)h[9] << 8 |
                       (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
        if (len > size - off - STORAGE_REC_HEADER_SIZE)
            len = (uint32_t)(size - off - STORAGE_REC_HEADER_SIZE);
        put32(h + 8, len);
        put32(h + 4, len > 0 ? cairn_crc32c(0, h + STORAGE_REC_HEADER_SIZE,
                                           len) : 0);
        put32(h, cairn_crc32c(0, h + 4, STORAGE_REC_HEADER_SIZE - 4));
        off += STORAGE_REC_HEADER_SIZE + len;
    }
}

static void meta_and_snapshot(const uint8_t *in, size_t size)
{
    for (size_t off = 0; off + STORAGE_META_SLOT_SIZE <= size &&
                         off <= STORAGE_META_SLOT_SIZE;
         off += STORAGE_META_SLOT_SIZE) {
        struct storage_meta m;
        if (storage_meta_decode(in + off, STORAGE_META_SLOT_SIZE, 7, &m) == 0) {
            uint8_t again[STORAGE_META_SLOT_SIZE];
            storage_meta_encode(7, &m, again);
            /* All but the CRC (a slot of the older layout carries its
             * CRC over a shorter range; decode checked whichever). */
            CHECK(memcmp(again, in + off, 12) == 0);
            CHECK(memcmp(again + 16, in + off + 16,
                         STORAGE_META_SLOT_USED - 16) == 0);
        }
    }
    struct storage_snap_header h;
    if (storage_snap_header_decode(in, size, &h) == 0) {
        uint8_t again[STORAGE_SNAP_HEADER_SIZE];
        storage_snap_header_encode(&h, again);
        CHECK(memcmp(again, in, STORAGE_SNAP_HEADER_SIZE) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap block so ASan sees any overread. */
    uint8_t *in = malloc(size > 0 ? size : 1);
    CHECK(in != NULL);
    if (size > 0)
        memcpy(in, data, size);
    struct storage_seg_header h;
    uint64_t first = 1;
    if (storage_seg_header_decode(in, size, &h) == 0) {
        uint8_t again[STORAGE_SEG_HEADER_SIZE];
        storage_seg_header_encode(&h, again);
        CHECK(memcmp(again, in, sizeof(again)) == 0);
        first = h.first_index;
    }
    scan_both(in, size, first);
    meta_and_snapshot(in, size);
    if (size >= STORAGE_SEG_HEADER_SIZE) {
        reseal(in, size);
        scan_both(in, size, first);
    }
    free(in);
    return 0;
}
