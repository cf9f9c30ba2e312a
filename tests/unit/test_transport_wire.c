/* test_transport_wire.c: the transport's wire protocol against a hand-driven
 * client over the fake io.  The test speaks the protocol itself (frames,
 * HELLO, AUTH computed here with HMAC-SHA256 from the spec in transport.h),
 * so it checks the format independently of the implementation.  Covered:
 * a valid handshake then frames, delivered byte by byte too; the node's own
 * proof verified by the client; every way to fail the handshake (garbage,
 * oversize, bad checksum, version, role, ids, wrong secret, silence) closes
 * with a warning naming the address; oversize and corrupt frames after the
 * handshake; the pending-handshake cap; dial backoff; removing a peer from
 * inside its own receive callback; allocation failures at every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/sha256.h"
#include "node/io_fake.h"
#include "node/transport.h"
#include "testlib.h"

#define SELF 1
#define PEER 2
#define SECRET "cluster secret"
#define FRAME_MAX 1024

static char log_last[512];
static size_t log_warnings;

static void log_sink(void *ctx, enum cairn_log_level level, const char *msg)
{
    (void)ctx;
    if (level < CAIRN_LOG_WARNING)
        return;
    snprintf(log_last, sizeof(log_last), "%s", msg);
    log_warnings++;
}

struct fx {
    struct io_fake *f;
    struct transport *t;
    uint8_t got[8][64];
    size_t got_len[8];
    size_t got_count;
    uint64_t got_from;
    bool remove_on_recv;
};

static void on_recv(void *ctx, uint64_t from, const uint8_t *frame,
                    size_t len)
{
    struct fx *x = ctx;
    x->got_from = from;
    size_t i = x->got_count++ % 8;
    x->got_len[i] = len;
    memcpy(x->got[i], frame, len < 64 ? len : 64);
    if (x->remove_on_recv)
        transport_peer_remove(x->t, from);
}

static int fx_init(struct fx *x)
{
    memset(x, 0, sizeof(*x));
    log_last[0] = '\0';
    log_warnings = 0;
    cairn_log_set_sink(log_sink, NULL);
    x->f = io_fake_new(42, 1700000000000);
    if (x->f == NULL)
        return CAIRN_ENOMEM;
    struct transport_config cfg = {
        .self_id = SELF,
        .secret = (const uint8_t *)SECRET,
        .secret_len = strlen(SECRET),
        .frame_size_max = FRAME_MAX,
        .handshake_timeout_ms = 1000,
        .reconnect_min_ms = 100,
        .reconnect_max_ms = 1600,
    };
    int rc = transport_new(io_fake_io(x->f), &cfg, x, on_recv, NULL, &x->t);
    if (rc == 0)
        rc = transport_listen(x->t, "127.0.0.1", 17001);
    if (rc == 0)
        rc = transport_peer_set(x->t, PEER, "10.0.0.2", 17001);
    return rc;
}

static void fx_free(struct fx *x)
{
    transport_free(x->t);
    io_fake_free(x->f);
    cairn_log_set_sink(NULL, NULL);
}

/* ---- the client side of the protocol, written from transport.h ---- */

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
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Frames payload into out; returns the frame's size. */
static size_t frame(uint8_t *out, const void *payload, size_t len)
{
    put32(out, (uint32_t)len);
    memcpy(out + 8, payload, len);
    put32(out + 4, cairn_crc32c(cairn_crc32c(0, out, 4), payload, len));
    return 8 + len;
}

static void hello(uint8_t m[TRANSPORT_HELLO_SIZE], unsigned version,
                  uint8_t role, uint64_t id, uint8_t nonce_byte)
{
    memcpy(m, TRANSPORT_MAGIC, 4);
    m[4] = (uint8_t)version;
    m[5] = (uint8_t)(version >> 8);
    m[6] = role;
    m[7] = 0;
    put64(m + 8, id);
    memset(m + 16, nonce_byte, TRANSPORT_NONCE_SIZE);
}

static void proof(const char *secret, uint8_t role, const uint8_t *dn,
                  const uint8_t *an, uint64_t did, uint64_t aid,
                  uint8_t out[32])
{
    uint8_t msg[13 + 1 + 64 + 16];
    memcpy(msg, TRANSPORT_AUTH_LABEL, 13);
    msg[13] = role;
    memcpy(msg + 14, dn, 32);
    memcpy(msg + 46, an, 32);
    put64(msg + 78, did);
    put64(msg + 86, aid);
    cairn_hmac_sha256(secret, strlen(secret), msg, sizeof(msg), out);
}

/* A client that dials the node as PEER.  Returns the conn after the client
 * sent HELLO + AUTH (computed with secret), checking the node's HELLO. */
struct client {
    struct io_fake_conn *c;
    uint8_t node_nonce[32];
    uint8_t my_nonce[32];
};

static void client_handshake(struct fx *x, struct client *cl,
                             const char *secret)
{
    cl->c = io_fake_connect(x->f, "10.0.0.2:40000");
    assert_non_null(cl->c);
    size_t n;
    const uint8_t *out = (const uint8_t *)io_fake_output(cl->c, &n);
    assert_int_equal(n, 8 + TRANSPORT_HELLO_SIZE);
    assert_int_equal(get32(out), TRANSPORT_HELLO_SIZE);
    assert_memory_equal(out + 8, TRANSPORT_MAGIC, 4);
    assert_int_equal(out[8 + 6], TRANSPORT_ROLE_ACCEPTOR);
    assert_int_equal(get32(out + 8 + 8), SELF);
    memcpy(cl->node_nonce, out + 8 + 16, 32);
    io_fake_output_clear(cl->c);

    uint8_t m[TRANSPORT_HELLO_SIZE], buf[128], p[32];
    hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_DIALER, PEER, 0x77);
    memcpy(cl->my_nonce, m + 16, 32);
    assert_int_equal(io_fake_send(cl->c, buf, frame(buf, m, sizeof(m))), 0);
    proof(secret, TRANSPORT_ROLE_DIALER, cl->my_nonce, cl->node_nonce, PEER,
          SELF, p);
    io_fake_send(cl->c, buf, frame(buf, p, sizeof(p)));
}

static void client_open(struct fx *x, struct client *cl)
{
    client_handshake(x, cl, SECRET);
    /* The node's AUTH proves it knows the secret too. */
    size_t n;
    const uint8_t *out = (const uint8_t *)io_fake_output(cl->c, &n);
    assert_int_equal(n, 8 + 32);
    uint8_t want[32];
    proof(SECRET, TRANSPORT_ROLE_ACCEPTOR, cl->my_nonce, cl->node_nonce, PEER,
          SELF, want);
    assert_memory_equal(out + 8, want, 32);
    assert_false(io_fake_closed(cl->c));
    io_fake_output_clear(cl->c);
}

/* ---- tests ---- */

static void valid_handshake_then_frames(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct client cl;
    client_open(&x, &cl);
    uint8_t buf[256];
    size_t n = frame(buf, "hello", 5);
    n += frame(buf + n, "", 0);
    n += frame(buf + n, "world!", 6);
    assert_int_equal(io_fake_send(cl.c, buf, n), 0);
    assert_int_equal(x.got_count, 3);
    assert_int_equal(x.got_from, PEER);
    assert_int_equal(x.got_len[0], 5);
    assert_memory_equal(x.got[0], "hello", 5);
    assert_int_equal(x.got_len[1], 0);
    assert_memory_equal(x.got[2], "world!", 6);
    /* One byte per read: the same frames, reassembled. */
    io_fake_set_read_size(cl.c, 1);
    assert_int_equal(io_fake_send(cl.c, buf, n), 0);
    assert_int_equal(x.got_count, 6);
    assert_memory_equal(x.got[5], "world!", 6);
    struct transport_stats st;
    transport_stats_get(x.t, &st);
    assert_int_equal(st.frames_received, 6);
    assert_int_equal(st.handshakes_ok, 1);
    assert_int_equal(log_warnings, 0);
    /* The accepted direction is receive-only; the outgoing one is not up
     * (the fake io cannot dial), so sends are refused, not queued. */
    assert_int_equal(transport_send(x.t, PEER, "x", 1), CAIRN_ECLOSED);
    fx_free(&x);
}

/* Sends bytes as the first thing a client says; expects a close with a
 * warning naming the client's address and containing why. */
static void expect_refused(const void *bytes, size_t len, const char *why)
{
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct io_fake_conn *c = io_fake_connect(x.f, "10.9.9.9:555");
    io_fake_send(c, bytes, len);
    assert_true(io_fake_closed(c));
    assert_non_null(strstr(log_last, "10.9.9.9:555"));
    if (strstr(log_last, why) == NULL)
        fail_msg("log '%s' lacks '%s'", log_last, why);
    assert_int_equal(x.got_count, 0);
    fx_free(&x);
}

static void bad_hellos_are_refused(void **state)
{
    (void)state;
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, "exceeds");
    uint8_t m[TRANSPORT_HELLO_SIZE], buf[128];
    hello(m, TRANSPORT_VERSION + 1, TRANSPORT_ROLE_DIALER, PEER, 1);
    expect_refused(buf, frame(buf, m, sizeof(m)), "version");
    hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_ACCEPTOR, PEER, 1);
    expect_refused(buf, frame(buf, m, sizeof(m)), "role");
    hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_DIALER, 99, 1);
    expect_refused(buf, frame(buf, m, sizeof(m)), "not configured");
    hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_DIALER, SELF, 1);
    expect_refused(buf, frame(buf, m, sizeof(m)), "own node id");
    hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_DIALER, PEER, 1);
    m[0] = 'X';
    expect_refused(buf, frame(buf, m, sizeof(m)), "bad HELLO");
    hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_DIALER, PEER, 1);
    size_t n = frame(buf, m, sizeof(m));
    buf[20] ^= 0x10;
    expect_refused(buf, n, "checksum");
    n = frame(buf, m, 20);
    expect_refused(buf, n, "bad HELLO");
    /* A length just past the handshake limit, with no payload yet. */
    put32(buf, TRANSPORT_HS_FRAME_MAX + 1);
    expect_refused(buf, 8, "exceeds");
}

static void wrong_secret_is_refused(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct client cl;
    client_handshake(&x, &cl, "not the secret");
    assert_true(io_fake_closed(cl.c));
    assert_non_null(strstr(log_last, "authentication failed"));
    assert_non_null(strstr(log_last, "10.0.0.2:40000"));
    /* The node sent its AUTH before checking ours (both sides prove at
     * once); with the wrong secret the client could not verify it either. */
    size_t n;
    const uint8_t *out = (const uint8_t *)io_fake_output(cl.c, &n);
    assert_int_equal(n, 8 + 32);
    uint8_t would[32];
    proof("not the secret", TRANSPORT_ROLE_ACCEPTOR, cl.my_nonce,
          cl.node_nonce, PEER, SELF, would);
    assert_memory_not_equal(out + 8, would, 32);
    struct transport_stats st;
    transport_stats_get(x.t, &st);
    assert_int_equal(st.handshakes_ok, 0);
    assert_int_equal(st.handshakes_failed, 1);
    fx_free(&x);
}

static void silence_hits_handshake_timeout(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct io_fake_conn *c = io_fake_connect(x.f, "10.0.0.7:1");
    io_fake_advance(x.f, 999);
    assert_false(io_fake_closed(c));
    io_fake_advance(x.f, 1);
    assert_true(io_fake_closed(c));
    assert_non_null(strstr(log_last, "timed out"));
    assert_non_null(strstr(log_last, "10.0.0.7:1"));
    /* A completed handshake disarms the timer. */
    struct client cl;
    client_open(&x, &cl);
    io_fake_advance(x.f, 5000);
    assert_false(io_fake_closed(cl.c));
    fx_free(&x);
}

static void bad_frames_after_handshake_close(void **state)
{
    (void)state;
    uint8_t buf[FRAME_MAX + 16];
    static uint8_t payload[FRAME_MAX + 1];
    for (int kase = 0; kase < 3; kase++) {
        struct fx x;
        assert_int_equal(fx_init(&x), 0);
        struct client cl;
        client_open(&x, &cl);
        size_t n;
        if (kase == 0) { /* exactly at the limit: fine */
            n = frame(buf, payload, FRAME_MAX);
            io_fake_send(cl.c, buf, n);
            assert_false(io_fake_closed(cl.c));
            assert_int_equal(x.got_count, 1);
            assert_int_equal(x.got_len[0], FRAME_MAX);
            put32(buf, FRAME_MAX + 1); /* one past: closed on the header */
            io_fake_send(cl.c, buf, 8);
            assert_non_null(strstr(log_last, "exceeds"));
        } else if (kase == 1) { /* corrupt payload */
            n = frame(buf, "abcdef", 6);
            buf[10] ^= 1;
            io_fake_send(cl.c, buf, n);
            assert_non_null(strstr(log_last, "checksum"));
        } else { /* a length corrupted downwards fails the checksum */
            n = frame(buf, "abcdef", 6);
            put32(buf, 5);
            io_fake_send(cl.c, buf, n);
            assert_non_null(strstr(log_last, "checksum"));
        }
        assert_true(io_fake_closed(cl.c));
        assert_non_null(strstr(log_last, "10.0.0.2:40000"));
        struct transport_stats st;
        transport_stats_get(x.t, &st);
        assert_int_equal(st.conns_closed_bad_frame, 1);
        fx_free(&x);
    }
}

static void newer_connection_replaces_older(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct client a, b;
    client_open(&x, &a);
    client_open(&x, &b);
    assert_true(io_fake_closed(a.c));
    assert_false(io_fake_closed(b.c));
    uint8_t buf[32];
    io_fake_send(b.c, buf, frame(buf, "z", 1));
    assert_int_equal(x.got_count, 1);
    fx_free(&x);
}

static void pending_handshakes_are_capped(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct io_fake_conn *c[TRANSPORT_PENDING_CONNS_MAX + 1];
    for (int i = 0; i <= TRANSPORT_PENDING_CONNS_MAX; i++)
        c[i] = io_fake_connect(x.f, "10.0.0.3:9");
    for (int i = 0; i < TRANSPORT_PENDING_CONNS_MAX; i++)
        assert_false(io_fake_closed(c[i]));
    assert_true(io_fake_closed(c[TRANSPORT_PENDING_CONNS_MAX]));
    assert_non_null(strstr(log_last, "pending"));
    /* They all time out; then a new one is accepted again. */
    io_fake_advance(x.f, 1000);
    for (int i = 0; i < TRANSPORT_PENDING_CONNS_MAX; i++)
        assert_true(io_fake_closed(c[i]));
    struct client cl;
    client_open(&x, &cl);
    fx_free(&x);
}

static void dials_back_off_exponentially(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    /* The fake refuses every dial.  With 100 ms doubling to 1600 ms and
     * jitter in [b/2, b], 10 s of retrying takes between 7 and 16 dials:
     * first at 0, then <= 100+200+400+800+1600*k. */
    io_fake_advance(x.f, 10000);
    struct transport_stats st;
    transport_stats_get(x.t, &st);
    if (st.dials < 7 || st.dials > 16)
        fail_msg("dials = %llu", (unsigned long long)st.dials);
    /* The fake refuses the address: said once, not at every retry. */
    assert_int_equal(log_warnings, 1);
    assert_non_null(strstr(log_last, "cannot dial peer 2 at 10.0.0.2:17001"));
    assert_false(transport_peer_up(x.t, PEER));
    /* Removing the peer stops the dialling. */
    transport_peer_remove(x.t, PEER);
    io_fake_advance(x.f, 10000);
    struct transport_stats st2;
    transport_stats_get(x.t, &st2);
    assert_int_equal(st2.dials, st.dials);
    fx_free(&x);
}

static void peer_removed_from_its_receive_callback(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_init(&x), 0);
    struct client cl;
    client_open(&x, &cl);
    x.remove_on_recv = true;
    uint8_t buf[64];
    size_t n = frame(buf, "one", 3);
    n += frame(buf + n, "two", 3);
    io_fake_send(cl.c, buf, n);
    /* The first frame removed the peer, closing its connection: the second
     * frame in the same read is not delivered. */
    assert_int_equal(x.got_count, 1);
    assert_true(io_fake_closed(cl.c));
    fx_free(&x);
}

static void config_is_validated(void **state)
{
    (void)state;
    struct io_fake *f = io_fake_new(1, 0);
    struct transport *t = NULL;
    struct transport_config cfg = {.self_id = 0, .secret = (const uint8_t *)"k",
                                   .secret_len = 1};
    assert_int_equal(transport_new(io_fake_io(f), &cfg, NULL, on_recv, NULL, &t),
                     CAIRN_EINVAL);
    cfg.self_id = 1;
    cfg.secret_len = 0;
    assert_int_equal(transport_new(io_fake_io(f), &cfg, NULL, on_recv, NULL, &t),
                     CAIRN_EINVAL);
    cfg.secret_len = 1;
    cfg.reconnect_min_ms = 500;
    cfg.reconnect_max_ms = 100;
    assert_int_equal(transport_new(io_fake_io(f), &cfg, NULL, on_recv, NULL, &t),
                     CAIRN_EINVAL);
    cfg.reconnect_max_ms = 0;
    assert_int_equal(transport_new(io_fake_io(f), &cfg, NULL, on_recv, NULL, &t),
                     0);
    assert_int_equal(transport_peer_set(t, 1, "h", 1), CAIRN_EINVAL);
    assert_int_equal(transport_peer_set(t, 0, "h", 1), CAIRN_EINVAL);
    for (uint64_t id = 2; id < 2 + TRANSPORT_PEERS_MAX; id++)
        assert_int_equal(transport_peer_set(t, id, "h", 1), 0);
    assert_int_equal(transport_peer_set(t, 999, "h", 1), CAIRN_EFULL);
    assert_int_equal(transport_listen(t, "h", 1), 0);
    assert_int_equal(transport_listen(t, "h", 1), CAIRN_EEXIST);
    transport_free(t);
    io_fake_free(f);
}

/* A fault hook of our own that can be switched off around io_fake_output
 * (which allocates in the fake, not in the code under test). */
static long hook_left;
static long hook_fails;
static bool hook_off;

static bool hook_fail(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    if (hook_off)
        return false;
    if (hook_left > 0) {
        hook_left--;
        return false;
    }
    hook_fails++;
    return true;
}

/* Every allocation on the path (new, listen, peer_set, accept, timers, a
 * frame buffer) may fail: the transport reports or closes, never crashes or
 * leaks. */
static void allocation_failures_are_handled(void **state)
{
    (void)state;
    static uint8_t payload[600];
    uint8_t buf[700];
    for (long n = 0; n < 200; n++) {
        struct cairn_alloc_stats before;
        cairn_alloc_stats_get(&before);
        hook_left = n;
        hook_fails = 0;
        hook_off = false;
        cairn_alloc_set_fail_hook(hook_fail, NULL);
        struct fx x;
        int rc = fx_init(&x);
        bool done = false;
        if (rc == 0) {
            struct io_fake_conn *c = io_fake_connect(x.f, "10.0.0.2:40000");
            size_t len = 0;
            const uint8_t *out = NULL;
            hook_off = true;
            if (c != NULL)
                out = (const uint8_t *)io_fake_output(c, &len);
            hook_off = false;
            if (len == 8 + TRANSPORT_HELLO_SIZE) {
                uint8_t m[TRANSPORT_HELLO_SIZE], pr[32], nn[32];
                memcpy(nn, out + 8 + 16, 32);
                hello(m, TRANSPORT_VERSION, TRANSPORT_ROLE_DIALER, PEER, 3);
                io_fake_send(c, buf, frame(buf, m, sizeof(m)));
                proof(SECRET, TRANSPORT_ROLE_DIALER, m + 16, nn, PEER, SELF,
                      pr);
                io_fake_send(c, buf, frame(buf, pr, sizeof(pr)));
                io_fake_set_read_size(c, 100); /* forces the slow path */
                io_fake_send(c, buf, frame(buf, payload, sizeof(payload)));
                if (hook_fails == 0)
                    assert_int_equal(x.got_count, 1);
            }
            done = hook_fails == 0;
        } else {
            assert_true(rc == CAIRN_ENOMEM);
        }
        cairn_alloc_set_fail_hook(NULL, NULL);
        if (x.t != NULL)
            fx_free(&x);
        else {
            io_fake_free(x.f);
            cairn_log_set_sink(NULL, NULL);
        }
        struct cairn_alloc_stats after;
        cairn_alloc_stats_get(&after);
        assert_int_equal(after.allocs_live, before.allocs_live);
        if (done) {
            /* new, secret, listener, peer, timer, conn, hs timer, frame
             * buffer, and the fake's own: several points were swept. */
            if (n < 8)
                fail_msg("sweep ended after only %ld allocations", n);
            return;
        }
    }
    fail_msg("allocation sweep did not finish");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_handshake_then_frames),
        cmocka_unit_test(bad_hellos_are_refused),
        cmocka_unit_test(wrong_secret_is_refused),
        cmocka_unit_test(silence_hits_handshake_timeout),
        cmocka_unit_test(bad_frames_after_handshake_close),
        cmocka_unit_test(newer_connection_replaces_older),
        cmocka_unit_test(pending_handshakes_are_capped),
        cmocka_unit_test(dials_back_off_exponentially),
        cmocka_unit_test(peer_removed_from_its_receive_callback),
        cmocka_unit_test(config_is_validated),
        cmocka_unit_test(allocation_failures_are_handled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
