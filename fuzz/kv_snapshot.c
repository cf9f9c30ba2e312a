/*
 * kv_snapshot.c: libFuzzer target for the cache snapshot loader.
 *
 * Input layout: byte 0 picks a split point (as a fraction of the rest) and,
 * in bit 7, whether to reseal: recompute the trailer's CRC-32C so that the
 * fuzzer reaches the field checks behind the checksum.  The rest is the
 * snapshot.
 *
 * Invariants checked (abort on failure, so libFuzzer reports them):
 *   - the loader returns 0 or one of ECORRUPT / EVERSION / ETOOBIG / ENOMEM,
 *     never crashes, and leaves the target kv unchanged on error;
 *   - the input loaded in one piece, in two pieces split at the chosen point
 *     and (for short inputs) one byte at a time gives the same result and
 *     the same state;
 *   - an accepted input yields a kv whose invariants hold (kv_check), and
 *     writing it back gives a snapshot of the same length (records are
 *     canonical, only their order may differ) that loads to the same digest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "kv/kv.h"
#include "kv/kv_int.h"
#include "kv/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

#define NOW 1000
#define FUZZ_STRING_LEN_MAX (1u << 20) /* bounds memory per input */
#define FUZZ_BYTEWISE_MAX 512

static struct kv *kv_make(uint64_t seed)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.hash_seed = seed;
    cfg.string_len_max = FUZZ_STRING_LEN_MAX;
    struct kv *kv = kv_new(&cfg);
    CHECK(kv != NULL);
    return kv;
}

/* Loads in pieces of at most piece bytes (0: one piece, split at split).
 * Returns the result code; *out gets the kv on success. */
static int load_split(const uint8_t *in, size_t n, size_t split,
                      size_t piece, struct kv **out)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.hash_seed = 7;
    cfg.string_len_max = FUZZ_STRING_LEN_MAX;
    struct kv_snap_loader *l;
    CHECK(kv_snapshot_loader_new(&cfg, NOW, &l) == 0);
    int rc = 0;
    size_t off = 0;
    while (off < n && rc == 0) {
        size_t len = piece != 0 ? piece : (off == 0 ? split : n - off);
        if (len == 0 || len > n - off)
            len = n - off;
        rc = kv_snapshot_loader_feed(l, in + off, len);
        off += len;
        CHECK(rc <= 1);
        if (rc == 1 && off < n)
            rc = kv_snapshot_loader_feed(l, in + off, n - off);
    }
    *out = NULL;
    if (rc >= 0)
        rc = kv_snapshot_loader_finish(l, out, NULL);
    kv_snapshot_loader_free(l);
    CHECK(rc == 0 || rc == CAIRN_ECORRUPT || rc == CAIRN_EVERSION ||
          rc == CAIRN_ETOOBIG || rc == CAIRN_ENOMEM);
    return rc;
}

static void write_back(struct kv *kv, size_t expect_len)
{
    struct buf b;
    buf_init(&b, 0);
    struct kv_snap_writer *w;
    CHECK(kv_snapshot_begin(kv, 0, &w) == 0);
    int rc;
    while ((rc = kv_snapshot_next(w, &b, 333)) == 1)
        ;
    CHECK(rc == 0);
    kv_snapshot_end(w);
    CHECK(b.len == expect_len);
    struct kv *again = kv_make(99);
    CHECK(kv_snapshot_load(again, b.data, b.len, NOW, NULL) == 0);
    CHECK(kv_digest(again) == kv_digest(kv));
    kv_free(again);
    buf_free(&b);
}

static void one_input(const uint8_t *in, size_t n, size_t split)
{
    struct kv *live = kv_make(7);
    CHECK(kv_set(live, 0, "live", 4, "1", 1, KV_NO_EXPIRE, 0, NOW) == 0);
    uint64_t d_live = kv_digest(live);
    int rc = kv_snapshot_load(live, in, n, NOW, NULL);
    if (rc != 0)
        CHECK(kv_digest(live) == d_live);
    struct kv *a;
    int rc2 = load_split(in, n, split, 0, &a);
    CHECK(rc2 == rc);
    if (n <= FUZZ_BYTEWISE_MAX) {
        struct kv *b;
        CHECK(load_split(in, n, split, 1, &b) == rc);
        if (b != NULL) {
            CHECK(kv_digest(b) == kv_digest(a));
            kv_free(b);
        }
    }
    if (rc == 0) {
        CHECK(a != NULL);
        CHECK(kv_check(a));
        CHECK(kv_check(live));
        CHECK(kv_digest(live) == kv_digest(a));
        write_back(a, n);
    }
    kv_free(a);
    kv_free(live);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    uint8_t *in = malloc(n > 0 ? n : 1); /* exact size: ASan sees overreads */
    CHECK(in != NULL);
    if (n > 0)
        memcpy(in, data + 1, n);
    if ((data[0] & 0x80) && n >= 5) {
        uint32_t c = cairn_crc32c(0, in, n - 4);
        for (int i = 0; i < 4; i++)
            in[n - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
    }
    size_t split = n * (data[0] & 0x7F) / 127;
    one_input(in, n, split);
    free(in);
    return 0;
}
