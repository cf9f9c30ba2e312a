/*
 * storage_format.c: encoding and validating decoding of the storage files'
 * headers and records (layouts in storage_int.h).
 *
 * Pure functions: no io, no allocation.  Decoders take bytes from a disk and
 * therefore never assert on them; every field is range-checked and every
 * checksum verified.  Encoders assert on their inputs (our own state) and
 * the tests decode what they encode.  storage_seg_scan is the one loop over
 * file contents; it is what the fuzzer (fuzz/storage_segment.c) drives.
 */
#include "node/storage_int.h"

#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"

static const char meta_magic[8] = {'C', 'A', 'I', 'R', 'N', 'M', 'T', 'A'};
static const char seg_magic[8] = {'C', 'A', 'I', 'R', 'N', 'L', 'O', 'G'};
static const char snap_magic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'N', 'P'};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* CRC of a header of len bytes whose own CRC field (4 bytes at crc_at) is
 * taken as zero. */
static uint32_t header_crc(const uint8_t *p, size_t len, size_t crc_at)
{
    static const uint8_t zero[4];
    uint32_t c = cairn_crc32c(0, p, crc_at);
    c = cairn_crc32c(c, zero, 4);
    return cairn_crc32c(c, p + crc_at + 4, len - crc_at - 4);
}

/* Checks magic, version and CRC of a header; 0 or an error code. */
/* Bytes [from, to) must be zero: the decoders accept one encoding only. */
static bool zero_from(const uint8_t *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static int header_check(const uint8_t *in, size_t len, size_t need,
                        const char magic[8])
{
    if (len < need)
        return CAIRN_ECORRUPT;
    if (memcmp(in, magic, 8) != 0)
        return CAIRN_ECORRUPT;
    if (get32(in + 12) != header_crc(in, need, 12))
        return CAIRN_ECORRUPT;
    if (get32(in + 8) != STORAGE_FORMAT_VERSION)
        return CAIRN_EVERSION;
    return 0;
}

/* ---- meta slot ---- */

void storage_meta_encode(uint64_t group_id, const struct storage_meta *m,
                         uint8_t out[STORAGE_META_SLOT_SIZE])
{
    ASSERT((m->snap_index == 0) == (m->snap_term == 0));
    ASSERT(m->first_seg > 0);
    memset(out, 0, STORAGE_META_SLOT_SIZE);
    memcpy(out, meta_magic, 8);
    put32(out + 8, STORAGE_FORMAT_VERSION);
    put64(out + 16, m->seq);
    put64(out + 24, group_id);
    put64(out + 32, m->term);
    put64(out + 40, m->vote);
    put64(out + 48, m->commit);
    put64(out + 56, m->snap_id);
    put64(out + 64, m->snap_index);
    put64(out + 72, m->snap_term);
    put64(out + 80, m->first_seg);
    int n = raft_conf_encode(&m->conf, out + 92, RAFT_CONF_ENCODED_SIZE_MAX);
    ASSERT(n > 0);
    put32(out + 88, (uint32_t)n);
    put64(out + STORAGE_META_REJOIN_OFF, m->rejoin);
    put32(out + 12, header_crc(out, STORAGE_META_SLOT_USED, 12));
}

int storage_meta_decode(const uint8_t *in, size_t len, uint64_t group_id,
                        struct storage_meta *out)
{
    int rc = header_check(in, len, STORAGE_META_SLOT_USED, meta_magic);
    /* The older layout: no rejoin field, the CRC over the shorter range
     * (a flipped bit in the field then fails both checks). */
    if (rc == CAIRN_ECORRUPT && len >= STORAGE_META_SLOT_USED &&
        get64(in + STORAGE_META_REJOIN_OFF) == 0)
        rc = header_check(in, len, STORAGE_META_SLOT_USED_V1, meta_magic);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->seq = get64(in + 16);
    out->term = get64(in + 32);
    out->vote = get64(in + 40);
    out->commit = get64(in + 48);
    out->snap_id = get64(in + 56);
    out->snap_index = get64(in + 64);
    out->snap_term = get64(in + 72);
    out->first_seg = get64(in + 80);
    uint32_t conf_len = get32(in + 88);
    if (get64(in + 24) != group_id || out->first_seg == 0)
        return CAIRN_ECORRUPT;
    if ((out->snap_index == 0) != (out->snap_term == 0) ||
        (out->snap_id == 0) != (out->snap_index == 0))
        return CAIRN_ECORRUPT;
    if (conf_len > RAFT_CONF_ENCODED_SIZE_MAX ||
        raft_conf_decode(in + 92, conf_len, &out->conf) != 0 ||
        !zero_from(in, 92 + conf_len, STORAGE_META_REJOIN_OFF))
        return CAIRN_ECORRUPT;
    out->rejoin = get64(in + STORAGE_META_REJOIN_OFF);
    return 0;
}

/* ---- segment header ---- */

void storage_seg_header_encode(const struct storage_seg_header *h,
                               uint8_t out[STORAGE_SEG_HEADER_SIZE])
{
    ASSERT(h->seq > 0);
    ASSERT(h->first_index > 0);
    memset(out, 0, STORAGE_SEG_HEADER_SIZE);
    memcpy(out, seg_magic, 8);
    put32(out + 8, STORAGE_FORMAT_VERSION);
    put64(out + 16, h->group_id);
    put64(out + 24, h->seq);
    put64(out + 32, h->first_index);
    put64(out + 40, h->prev_end);
    put32(out + 12, header_crc(out, STORAGE_SEG_HEADER_SIZE, 12));
}

int storage_seg_header_decode(const uint8_t *in, size_t len,
                              struct storage_seg_header *out)
{
    int rc = header_check(in, len, STORAGE_SEG_HEADER_SIZE, seg_magic);
    if (rc != 0)
        return rc;
    out->group_id = get64(in + 16);
    out->seq = get64(in + 24);
    out->first_index = get64(in + 32);
    out->prev_end = get64(in + 40);
    if (out->seq == 0 || out->first_index == 0 ||
        out->first_index == UINT64_MAX)
        return CAIRN_ECORRUPT;
    return 0;
}

/* ---- records ---- */

void storage_rec_header_encode(const struct raft_entry *e,
                               uint8_t out[STORAGE_REC_HEADER_SIZE])
{
    ASSERT(e->type >= RAFT_ENTRY_NORMAL && e->type <= RAFT_ENTRY_CONFIG);
    ASSERT(e->len == 0 || e->data != NULL);
    memset(out, 0, STORAGE_REC_HEADER_SIZE);
    put32(out + 4, e->len > 0 ? cairn_crc32c(0, e->data, e->len) : 0);
    put32(out + 8, e->len);
    out[12] = e->type;
    put64(out + 16, e->term);
    put64(out + 24, e->index);
    put32(out, cairn_crc32c(0, out + 4, STORAGE_REC_HEADER_SIZE - 4));
}

static int scan_bad(struct storage_scan *out, uint64_t off, const char *why)
{
    out->bad_offset = off;
    out->why = why;
    return CAIRN_ECORRUPT;
}

/* Decodes the record at off; 1 when it is an incomplete tail, 0 when whole
 * and valid (e filled), CAIRN_ECORRUPT otherwise. */
static int rec_decode(const uint8_t *buf, uint64_t len, uint64_t off,
                      struct raft_entry *e, struct storage_scan *out)
{
    if (len - off < STORAGE_REC_HEADER_SIZE)
        return 1;
    const uint8_t *h = buf + off;
    if (get32(h) != cairn_crc32c(0, h + 4, STORAGE_REC_HEADER_SIZE - 4))
        return scan_bad(out, off, "record header checksum mismatch");
    e->len = get32(h + 8);
    e->type = h[12];
    e->term = get64(h + 16);
    e->index = get64(h + 24);
    if (len - off - STORAGE_REC_HEADER_SIZE < e->len)
        return 1;
    e->data = e->len > 0 ? h + STORAGE_REC_HEADER_SIZE : NULL;
    if (e->len > 0 && get32(h + 4) != cairn_crc32c(0, e->data, e->len))
        return scan_bad(out, off, "record data checksum mismatch");
    if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG ||
        h[13] != 0 || h[14] != 0 || h[15] != 0)
        return scan_bad(out, off, "record of unknown type");
    return 0;
}

int storage_seg_scan(const uint8_t *buf, uint64_t len, uint64_t first_index,
                     bool last, storage_scan_fn fn, void *ctx,
                     struct storage_scan *out)
{
    memset(out, 0, sizeof(*out));
    ASSERT(first_index > 0);
    out->last_index = first_index - 1;
    out->end = STORAGE_SEG_HEADER_SIZE;
    if (len < STORAGE_SEG_HEADER_SIZE)
        return scan_bad(out, 0, "segment shorter than its header");
    uint64_t off = STORAGE_SEG_HEADER_SIZE;
    uint64_t term = 0;
    /* Each pass consumes at least one record header: at most len / 32. */
    while (off < len) {
        struct raft_entry e;
        int rc = rec_decode(buf, len, off, &e, out);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (!last)
                return scan_bad(out, off, "incomplete record");
            out->torn = true;
            return 0;
        }
        if (e.index != out->last_index + 1)
            return scan_bad(out, off, "record index out of sequence");
        if (e.term < term || e.term == 0)
            return scan_bad(out, off, "record term goes back");
        if (fn != NULL) {
            rc = fn(ctx, &e, off);
            if (rc != 0)
                return rc;
        }
        term = e.term;
        off += STORAGE_REC_HEADER_SIZE + e.len;
        out->end = off;
        out->last_index = e.index;
        out->n_records++;
    }
    return 0;
}

/* ---- snapshot header ---- */

void storage_snap_header_encode(const struct storage_snap_header *h,
                                uint8_t out[STORAGE_SNAP_HEADER_SIZE])
{
    ASSERT(h->id > 0);
    ASSERT(h->last_index > 0 && h->last_term > 0);
    memset(out, 0, STORAGE_SNAP_HEADER_SIZE);
    memcpy(out, snap_magic, 8);
    put32(out + 8, STORAGE_FORMAT_VERSION);
    put64(out + 16, h->group_id);
    put64(out + 24, h->id);
    put64(out + 32, h->last_index);
    put64(out + 40, h->last_term);
    put64(out + 48, h->size);
    put32(out + 56, h->data_crc);
    int n = raft_conf_encode(&h->conf, out + 64, RAFT_CONF_ENCODED_SIZE_MAX);
    ASSERT(n > 0);
    put32(out + 60, (uint32_t)n);
    put32(out + 12, header_crc(out, STORAGE_SNAP_HEADER_SIZE, 12));
}

STATIC_ASSERT(64 + RAFT_CONF_ENCODED_SIZE_MAX <= STORAGE_SNAP_HEADER_SIZE,
              "snapshot header holds the largest configuration");
STATIC_ASSERT(STORAGE_META_SLOT_USED <= STORAGE_META_SLOT_SIZE,
              "meta slot holds the largest configuration");

int storage_snap_header_decode(const uint8_t *in, size_t len,
                               struct storage_snap_header *out)
{
    int rc = header_check(in, len, STORAGE_SNAP_HEADER_SIZE, snap_magic);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->group_id = get64(in + 16);
    out->id = get64(in + 24);
    out->last_index = get64(in + 32);
    out->last_term = get64(in + 40);
    out->size = get64(in + 48);
    out->data_crc = get32(in + 56);
    uint32_t conf_len = get32(in + 60);
    if (out->id == 0 || out->last_index == 0 || out->last_term == 0 ||
        out->size > STORAGE_SNAPSHOT_SIZE_MAX)
        return CAIRN_ECORRUPT;
    if (conf_len > RAFT_CONF_ENCODED_SIZE_MAX ||
        raft_conf_decode(in + 64, conf_len, &out->conf) != 0 ||
        !zero_from(in, 64 + conf_len, STORAGE_SNAP_HEADER_SIZE))
        return CAIRN_ECORRUPT;
    return 0;
}
