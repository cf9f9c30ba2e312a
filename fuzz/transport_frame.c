/*
 * transport_frame.c: libFuzzer target for the peer transport's receive path
 * (src/node/transport.c): frame assembly, checksums, limits and the
 * handshake, fed as the incoming stream of an accepted connection over the
 * fake io.
 *
 * Input: byte 0 picks a mode, byte 1 the size of each read (1..256), the
 * rest is the stream:
 *   mode 0: raw bytes from the first byte of the connection (handshake);
 *   mode 1: the harness completes a valid handshake, then raw bytes;
 *   mode 2: valid handshake, then records (u16le length + bytes) that the
 *           harness frames with a correct checksum, so mutations get past
 *           the CRC to the length limit and the delivery path;
 *   mode 3: records framed with correct checksums from the start, so
 *           mutated HELLO and AUTH contents reach the handshake checks.
 *
 * Invariants checked (abort on failure, so libFuzzer reports them):
 *   - no crash, no assertion, no out-of-bounds access (ASan/UBSan);
 *   - memory held while the stream is fed stays under frame_size_max plus
 *     a constant (no unbounded buffering);
 *   - frames are delivered only after a valid handshake (never in modes 0
 *     and 3, where the fuzzer cannot forge the HMAC), and none is longer
 *     than frame_size_max;
 *   - everything is released when the transport is freed.
 *
 * Seed corpus: fuzz/corpus/transport_frame/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/sha256.h"
#include "node/io_fake.h"
#include "node/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

#define FRAME_MAX 4096
#define SECRET "fuzz secret"
#define CHUNK 512 /* bytes handed to the fake per send: keeps its inbox small */

static size_t frames_delivered;
static uint8_t sink_byte;

static void on_recv(void *ctx, uint64_t from, const uint8_t *frame,
                    size_t len)
{
    (void)ctx;
    CHECK(from == 2);
    CHECK(len <= FRAME_MAX);
    for (size_t i = 0; i < len; i++) /* touch every byte: ASan checks */
        sink_byte ^= frame[i];
    frames_delivered++;
}

static void log_drop(void *ctx, enum cairn_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

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

static void send_chunked(struct io_fake_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !io_fake_closed(c)) {
        size_t k = n < CHUNK ? n : CHUNK;
        io_fake_send(c, p, k);
        p += k;
        n -= k;
    }
}

/* Sends one correctly framed payload. */
static void send_frame(struct io_fake_conn *c, const uint8_t *p, size_t n)
{
    uint8_t hdr[8];
    put32(hdr, (uint32_t)n);
    put32(hdr + 4, cairn_crc32c(cairn_crc32c(0, hdr, 4), p, n));
    send_chunked(c, hdr, sizeof(hdr));
    send_chunked(c, p, n);
}

/* Plays the dialer (id 2) through a valid handshake. */
static void handshake(struct io_fake_conn *c)
{
    size_t n;
    const uint8_t *out = (const uint8_t *)io_fake_output(c, &n);
    CHECK(n == 8 + TRANSPORT_HELLO_SIZE);
    uint8_t node_nonce[32];
    memcpy(node_nonce, out + 8 + 16, 32);
    uint8_t m[TRANSPORT_HELLO_SIZE];
    memcpy(m, TRANSPORT_MAGIC, 4);
    m[4] = TRANSPORT_VERSION;
    m[5] = 0;
    m[6] = TRANSPORT_ROLE_DIALER;
    m[7] = 0;
    put64(m + 8, 2);
    memset(m + 16, 0xab, 32);
    send_frame(c, m, sizeof(m));
    uint8_t msg[13 + 1 + 64 + 16], mac[32];
    memcpy(msg, TRANSPORT_AUTH_LABEL, 13);
    msg[13] = TRANSPORT_ROLE_DIALER;
    memcpy(msg + 14, m + 16, 32);
    memcpy(msg + 46, node_nonce, 32);
    put64(msg + 78, 2);
    put64(msg + 86, 1);
    cairn_hmac_sha256(SECRET, strlen(SECRET), msg, sizeof(msg), mac);
    send_frame(c, mac, sizeof(mac));
    CHECK(!io_fake_closed(c));
}

static void send_records(struct io_fake_conn *c, const uint8_t *p, size_t n)
{
    static uint8_t big[FRAME_MAX + 64];
    while (n >= 2 && !io_fake_closed(c)) {
        size_t len = (size_t)p[0] | ((size_t)p[1] << 8);
        p += 2;
        n -= 2;
        if (len > n) {
            /* Too little input: pad with zeros up to one past the limit at
             * most, so the oversize path is reachable too. */
            if (len > FRAME_MAX + 1)
                len = FRAME_MAX + 1;
            memset(big, 0, len);
            memcpy(big, p, n < len ? n : len);
            send_frame(c, big, len);
            return;
        }
        send_frame(c, p, len);
        p += len;
        n -= len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0] & 3;
    size_t read_size = (size_t)data[1] + 1;
    data += 2;
    size -= 2;
    cairn_log_set_sink(log_drop, NULL);
    frames_delivered = 0;

    struct cairn_alloc_stats base;
    cairn_alloc_stats_get(&base);
    struct io_fake *f = io_fake_new(7, 0);
    CHECK(f != NULL);
    struct transport_config cfg = {.self_id = 1,
                                   .secret = (const uint8_t *)SECRET,
                                   .secret_len = strlen(SECRET),
                                   .frame_size_max = FRAME_MAX};
    struct transport *t = NULL;
    CHECK(transport_new(io_fake_io(f), &cfg, NULL, on_recv, NULL, &t) == 0);
    CHECK(transport_listen(t, "127.0.0.1", 1) == 0);
    CHECK(transport_peer_set(t, 2, "10.0.0.2", 1) == 0);
    struct io_fake_conn *c = io_fake_connect(f, "10.0.0.2:9");
    CHECK(c != NULL);
    io_fake_set_read_size(c, read_size);
    if (mode == 1 || mode == 2)
        handshake(c);
    struct cairn_alloc_stats before;
    cairn_alloc_stats_get(&before);
    if (mode == 0 || mode == 1)
        send_chunked(c, data, size);
    else
        send_records(c, data, size);
    struct cairn_alloc_stats after;
    cairn_alloc_stats_get(&after);
    /* The fake's inbox (<= CHUNK + a frame header) and output buffers grow a
     * little; the transport holds at most one frame. */
    CHECK(after.bytes_live <= before.bytes_live + FRAME_MAX + 16384);
    if (mode == 0 || mode == 3)
        CHECK(frames_delivered == 0);
    io_fake_advance(f, 10000); /* handshake timer, dial retries */
    transport_free(t);
    io_fake_free(f);
    struct cairn_alloc_stats end;
    cairn_alloc_stats_get(&end);
    CHECK(end.allocs_live == base.allocs_live);
    cairn_log_set_sink(NULL, NULL);
    return 0;
}
