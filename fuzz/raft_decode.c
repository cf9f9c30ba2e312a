/*
 * raft_decode.c: libFuzzer target for the Raft wire codec (src/raft/codec.c).
 *
 * Input: the bytes of one frame as a peer could send them.  Each input is
 * decoded twice: as it is (the envelope checks: magic, version, length,
 * checksum), and with its length field and checksum rewritten to fit, so
 * that mutations reach the body parser instead of dying at the checksum.
 *
 * Invariants checked (abort on failure, so libFuzzer reports them):
 *   - decoding never reads outside the input (ASan) and never asserts;
 *   - raft_codec_peek agrees with the decoder: a frame that decodes has
 *     the length peek announces;
 *   - a frame that decodes satisfies raft_codec_check, re-encodes to the
 *     identical bytes, and that copy decodes again to the same encoding.
 *
 * Seed corpus: fuzz/corpus/raft_decode/, one valid frame per sample message
 * of tests/unit/test_raft_codec.c (regenerate with CAIRN_CODEC_CORPUS_DIR
 * set when running that test).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "raft/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

/* Decoded messages are large (the entry array); keep them off the stack. */
static struct raft_codec_msg first;
static struct raft_codec_msg second;

static void reseal(uint8_t *in, size_t size)
{
    for (int i = 0; i < 4; i++)
        in[4 + i] = (uint8_t)(size >> (8 * i));
    uint32_t c = cairn_crc32c(0, in, size - RAFT_CODEC_CRC_SIZE);
    for (int i = 0; i < 4; i++)
        in[size - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static void one_input(const uint8_t *data, size_t size, bool fix)
{
    /* Copy into an exact-size heap block so ASan sees any overread. */
    uint8_t *in = malloc(size > 0 ? size : 1);
    CHECK(in != NULL);
    if (size > 0)
        memcpy(in, data, size);
    if (fix)
        reseal(in, size);
    int rc = raft_codec_decode(in, size, &first);
    size_t peek_len = 0;
    int prc = raft_codec_peek(in, size, &peek_len);
    if (rc != 0) {
        CHECK(rc < 0);
        free(in);
        return;
    }
    CHECK(prc == 0 && peek_len == size);
    CHECK(raft_codec_check(&first.msg));
    CHECK(raft_codec_size(&first.msg) == size);

    uint8_t *out = malloc(size);
    CHECK(out != NULL);
    int n = raft_codec_encode(&first.msg, out, size);
    CHECK(n == (int)size);
    CHECK(memcmp(in, out, size) == 0);
    CHECK(raft_codec_decode(out, size, &second) == 0);
    CHECK(second.msg.type == first.msg.type);
    CHECK(second.msg.term == first.msg.term);
    /* second points into out, first into in: encode second over in. */
    CHECK(raft_codec_encode(&second.msg, in, size) == (int)size);
    CHECK(memcmp(in, out, size) == 0);
    free(out);
    free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_input(data, size, false);
    if (size >= RAFT_CODEC_FRAME_MIN && size <= RAFT_CODEC_FRAME_MAX)
        one_input(data, size, true);
    return 0;
}
