/*
 * test_raft_codec.c: unit tests for the Raft wire codec (src/raft/codec.c).
 *
 * What is proved:
 *   - every message type round-trips with edge values (0, maxima, empty and
 *     full bodies), and re-encoding a decoded frame gives identical bytes;
 *   - every proper prefix of a valid frame, and the frame with any trailing
 *     byte, is rejected; so is every single-bit flip;
 *   - a wrong version gives CAIRN_EVERSION, huge counts and lengths give
 *     CAIRN_ETOOBIG even when the checksum is right, and intact frames that
 *     break the rules of raft.h give CAIRN_EPROTO;
 *   - random valid messages (seeded; CAIRN_TEST_SEED replays) round-trip,
 *     and random bytes with a valid envelope never crash the decoder.
 *
 * With CAIRN_CODEC_CORPUS_DIR set, the frames of the round-trip test are
 * also written there, one file per message (the fuzzer's seed corpus).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "raft/codec.h"
#include "testlib.h"

#define FRAME_BUF (64 * 1024)

static uint8_t frame[FRAME_BUF];
static uint8_t frame2[FRAME_BUF];
static struct raft_codec_msg dec;
static struct raft_codec_msg dec2;

/* ---- sample messages ---- */

static const uint8_t payload[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static struct raft_entry sample_entries[4];

static void msg_header(struct raft_msg *m, uint8_t type, uint64_t term)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->group_id = 7;
    m->from = 1;
    m->to = 2;
    m->term = term;
}

static void conf_fill(struct raft_conf *c, uint32_t n)
{
    memset(c, 0, sizeof(*c));
    c->n_members = n;
    for (uint32_t i = 0; i < n; i++) {
        c->members[i].id = i == n - 1 ? UINT64_MAX : i + 1;
        c->members[i].role = i % 3 == 2 ? RAFT_LEARNER : RAFT_VOTER;
    }
}

/* Fills *m with the k-th sample message; returns false past the last. */
static bool sample_msg(unsigned k, struct raft_msg *m)
{
    switch (k) {
    case 0:
        msg_header(m, RAFT_MSG_VOTE, 5);
        m->vote.last_log_index = UINT64_MAX;
        m->vote.last_log_term = 5;
        m->vote.transfer = true;
        return true;
    case 1:
        msg_header(m, RAFT_MSG_PREVOTE, UINT64_MAX);
        m->group_id = UINT64_MAX;
        m->from = UINT64_MAX;
        m->to = 1;
        return true;
    case 2:
        msg_header(m, RAFT_MSG_VOTE_RESP, 0);
        m->vote_resp.granted = true;
        return true;
    case 3:
        msg_header(m, RAFT_MSG_PREVOTE_RESP, 1);
        return true;
    case 4: /* a heartbeat-like empty append */
        msg_header(m, RAFT_MSG_APPEND, 3);
        m->append.prev_index = 10;
        m->append.prev_term = 2;
        m->append.commit_index = 9;
        return true;
    case 5:
        msg_header(m, RAFT_MSG_APPEND, 9);
        sample_entries[0] = (struct raft_entry){2, 11, RAFT_ENTRY_NORMAL, 5, payload};
        sample_entries[1] = (struct raft_entry){3, 12, RAFT_ENTRY_NOOP, 0, NULL};
        sample_entries[2] = (struct raft_entry){3, 13, RAFT_ENTRY_CONFIG, 13, payload};
        sample_entries[3] = (struct raft_entry){9, 14, RAFT_ENTRY_NORMAL, 36, payload};
        m->append.prev_index = 10;
        m->append.prev_term = 2;
        m->append.commit_index = UINT64_MAX;
        m->append.n_entries = 4;
        m->append.entries = sample_entries;
        return true;
    case 6:
        msg_header(m, RAFT_MSG_APPEND_RESP, 4);
        m->append_resp = (struct raft_msg_append_resp){true, 14, 0, 0, 0, 14};
        return true;
    case 7:
        msg_header(m, RAFT_MSG_APPEND_RESP, 4);
        m->append_resp = (struct raft_msg_append_resp){false, 0, 10, 2, 7, UINT64_MAX};
        return true;
    case 8: /* a middle chunk with a full configuration */
        msg_header(m, RAFT_MSG_SNAPSHOT, 6);
        m->snapshot.meta.last_index = 100;
        m->snapshot.meta.last_term = 6;
        conf_fill(&m->snapshot.meta.conf, RAFT_MEMBERS_MAX);
        m->snapshot.meta.size = 1000;
        m->snapshot.offset = 100;
        m->snapshot.len = 20;
        m->snapshot.data = payload;
        return true;
    case 9: /* the last chunk, one member */
        msg_header(m, RAFT_MSG_SNAPSHOT, 6);
        m->snapshot.meta.last_index = UINT64_MAX;
        m->snapshot.meta.last_term = 1;
        conf_fill(&m->snapshot.meta.conf, 1);
        m->snapshot.meta.size = 36;
        m->snapshot.offset = 0;
        m->snapshot.len = 36;
        m->snapshot.data = payload;
        m->snapshot.done = true;
        return true;
    case 10: /* an empty snapshot, empty configuration */
        msg_header(m, RAFT_MSG_SNAPSHOT, 1);
        m->snapshot.done = true;
        return true;
    case 11:
        msg_header(m, RAFT_MSG_SNAPSHOT_RESP, 6);
        m->snapshot_resp = (struct raft_msg_snapshot_resp){UINT64_MAX, 1000, true, true};
        return true;
    case 12:
        msg_header(m, RAFT_MSG_HEARTBEAT, 8);
        m->heartbeat = (struct raft_msg_heartbeat){UINT64_MAX, 0x0102030405060708ull};
        return true;
    case 13:
        msg_header(m, RAFT_MSG_HEARTBEAT_RESP, 8);
        m->heartbeat_resp.read_ctx = UINT64_MAX;
        return true;
    case 14:
        msg_header(m, RAFT_MSG_TIMEOUT_NOW, 8);
        return true;
    case 15:
        msg_header(m, RAFT_MSG_READ_INDEX, 8);
        m->read_index.request_id = UINT64_MAX;
        return true;
    case 16:
        msg_header(m, RAFT_MSG_READ_INDEX_RESP, 8);
        m->read_index_resp = (struct raft_msg_read_index_resp){1, 77, 0};
        return true;
    case 17:
        msg_header(m, RAFT_MSG_READ_INDEX_RESP, 8);
        m->read_index_resp = (struct raft_msg_read_index_resp){UINT64_MAX, 0,
                                                               CAIRN_ESTALE};
        return true;
    default:
        return false;
    }
}

/* ---- comparison ---- */

static void entries_equal(const struct raft_msg_append *a,
                          const struct raft_msg_append *b)
{
    assert_int_equal(a->n_entries, b->n_entries);
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        assert_int_equal(x->term, y->term);
        assert_int_equal(x->index, y->index);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->len, y->len);
        if (x->len > 0)
            assert_memory_equal(x->data, y->data, x->len);
        else
            assert_null(y->data);
    }
}

static void snapshot_equal(const struct raft_msg_snapshot *a,
                           const struct raft_msg_snapshot *b)
{
    assert_int_equal(a->meta.last_index, b->meta.last_index);
    assert_int_equal(a->meta.last_term, b->meta.last_term);
    assert_int_equal(a->meta.size, b->meta.size);
    assert_int_equal(a->meta.conf.n_members, b->meta.conf.n_members);
    for (uint32_t i = 0; i < a->meta.conf.n_members; i++) {
        assert_int_equal(a->meta.conf.members[i].id, b->meta.conf.members[i].id);
        assert_int_equal(a->meta.conf.members[i].role,
                         b->meta.conf.members[i].role);
    }
    assert_int_equal(a->offset, b->offset);
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->done, b->done);
    if (a->len > 0)
        assert_memory_equal(a->data, b->data, a->len);
}

static void body_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    switch (a->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        assert_int_equal(a->vote.last_log_index, b->vote.last_log_index);
        assert_int_equal(a->vote.last_log_term, b->vote.last_log_term);
        assert_int_equal(a->vote.transfer, b->vote.transfer);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        assert_int_equal(a->vote_resp.granted, b->vote_resp.granted);
        break;
    case RAFT_MSG_APPEND:
        assert_int_equal(a->append.prev_index, b->append.prev_index);
        assert_int_equal(a->append.prev_term, b->append.prev_term);
        assert_int_equal(a->append.commit_index, b->append.commit_index);
        entries_equal(&a->append, &b->append);
        break;
    case RAFT_MSG_APPEND_RESP:
        assert_int_equal(a->append_resp.success, b->append_resp.success);
        assert_int_equal(a->append_resp.match_index, b->append_resp.match_index);
        assert_int_equal(a->append_resp.reject_index, b->append_resp.reject_index);
        assert_int_equal(a->append_resp.hint_term, b->append_resp.hint_term);
        assert_int_equal(a->append_resp.hint_index, b->append_resp.hint_index);
        assert_int_equal(a->append_resp.last_index, b->append_resp.last_index);
        break;
    case RAFT_MSG_SNAPSHOT:
        snapshot_equal(&a->snapshot, &b->snapshot);
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        assert_int_equal(a->snapshot_resp.last_index, b->snapshot_resp.last_index);
        assert_int_equal(a->snapshot_resp.next_offset, b->snapshot_resp.next_offset);
        assert_int_equal(a->snapshot_resp.installed, b->snapshot_resp.installed);
        assert_int_equal(a->snapshot_resp.rejected, b->snapshot_resp.rejected);
        break;
    case RAFT_MSG_HEARTBEAT:
        assert_int_equal(a->heartbeat.commit_index, b->heartbeat.commit_index);
        assert_int_equal(a->heartbeat.read_ctx, b->heartbeat.read_ctx);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        assert_int_equal(a->heartbeat_resp.read_ctx, b->heartbeat_resp.read_ctx);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_READ_INDEX:
        assert_int_equal(a->read_index.request_id, b->read_index.request_id);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        assert_int_equal(a->read_index_resp.request_id, b->read_index_resp.request_id);
        assert_int_equal(a->read_index_resp.index, b->read_index_resp.index);
        assert_int_equal(a->read_index_resp.status, b->read_index_resp.status);
        break;
    default:
        fail_msg("unknown type %u", a->type);
    }
}

static void msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->group_id, b->group_id);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->term, b->term);
    body_equal(a, b);
}

/* Encodes m, decodes it, compares, re-encodes and compares the bytes.
 * Leaves the frame in frame[] and returns its length. */
static size_t round_trip(const struct raft_msg *m)
{
    assert_true(raft_codec_check(m));
    int n = raft_codec_encode(m, frame, sizeof(frame));
    assert_true(n >= (int)RAFT_CODEC_FRAME_MIN);
    assert_int_equal((size_t)n, raft_codec_size(m));
    int rc = raft_codec_decode(frame, (size_t)n, &dec);
    if (rc != 0)
        fail_msg("decode of a fresh %s frame: %s", raft_msg_type_name(m->type),
                 cairn_errname(rc));
    msg_equal(m, &dec.msg);
    int n2 = raft_codec_encode(&dec.msg, frame2, sizeof(frame2));
    assert_int_equal(n2, n);
    assert_memory_equal(frame, frame2, (size_t)n);
    size_t flen = 0;
    assert_int_equal(raft_codec_peek(frame, (size_t)n, &flen), 0);
    assert_int_equal(flen, (size_t)n);
    return (size_t)n;
}

static void write_corpus_file(const char *dir, unsigned k, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/frame-%02u", dir, k);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(frame, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* ---- tests ---- */

static void every_type_round_trips_with_edge_values(void **state)
{
    (void)state;
    const char *corpus = getenv("CAIRN_CODEC_CORPUS_DIR");
    bool seen[RAFT_MSG_TYPE_MAX + 1] = {false};
    struct raft_msg m;
    unsigned k = 0;
    for (; sample_msg(k, &m); k++) {
        size_t n = round_trip(&m);
        seen[m.type] = true;
        if (corpus != NULL)
            write_corpus_file(corpus, k, n);
    }
    for (unsigned t = 1; t <= RAFT_MSG_TYPE_MAX; t++)
        if (!seen[t])
            fail_msg("no sample of message type %u", t);
}

static void every_truncation_and_extension_fails(void **state)
{
    (void)state;
    struct raft_msg m;
    for (unsigned k = 0; sample_msg(k, &m); k++) {
        size_t n = round_trip(&m);
        for (size_t cut = 0; cut < n; cut++) {
            int rc = raft_codec_decode(frame, cut, &dec);
            if (rc >= 0)
                fail_msg("sample %u cut at %zu of %zu decoded", k, cut, n);
            size_t flen;
            rc = raft_codec_peek(frame, cut, &flen);
            assert_int_equal(rc, cut < 8 ? CAIRN_EAGAIN : 0);
        }
        frame[n] = 0;
        assert_int_equal(raft_codec_decode(frame, n + 1, &dec), CAIRN_ECORRUPT);
    }
}

static void every_single_bit_flip_is_caught(void **state)
{
    (void)state;
    struct raft_msg m;
    for (unsigned k = 0; sample_msg(k, &m); k++) {
        size_t n = round_trip(&m);
        for (size_t bit = 0; bit < n * 8; bit++) {
            frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            int rc = raft_codec_decode(frame, n, &dec);
            if (rc >= 0)
                fail_msg("sample %u: flip of bit %zu not caught", k, bit);
            frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        assert_int_equal(raft_codec_decode(frame, n, &dec), 0);
    }
}

/* Rewrites the checksum of frame[0..n) after a deliberate edit, so the
 * decoder's checks past the envelope are reached. */
static void reseal(size_t n)
{
    uint32_t c = cairn_crc32c(0, frame, n - 4);
    for (int i = 0; i < 4; i++)
        frame[n - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void bad_envelope_gives_the_right_code(void **state)
{
    (void)state;
    struct raft_msg m;
    sample_msg(12, &m); /* a heartbeat */
    size_t n = round_trip(&m);
    frame[1] = RAFT_CODEC_VERSION + 1;
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_EVERSION);
    size_t flen;
    assert_int_equal(raft_codec_peek(frame, n, &flen), CAIRN_EVERSION);
    frame[1] = 0;
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_EVERSION);
    frame[1] = RAFT_CODEC_VERSION;
    frame[0] = 'x';
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ECORRUPT);
    frame[0] = RAFT_CODEC_MAGIC;
    put32(frame + 4, RAFT_CODEC_FRAME_MAX + 1);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ETOOBIG);
    assert_int_equal(raft_codec_peek(frame, n, &flen), CAIRN_ETOOBIG);
    put32(frame + 4, RAFT_CODEC_FRAME_MIN - 1);
    assert_int_equal(raft_codec_peek(frame, n, &flen), CAIRN_ECORRUPT);
    put32(frame + 4, (uint32_t)n);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), 0);
    frame[n - 1] ^= 0x80; /* the checksum itself */
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ECORRUPT);
}

static void huge_counts_and_lengths_are_too_big(void **state)
{
    (void)state;
    struct raft_msg m;
    sample_msg(5, &m); /* append with 4 entries */
    size_t n = round_trip(&m);
    const size_t count_at = RAFT_CODEC_HEADER_SIZE + 24;
    put32(frame + count_at, UINT32_MAX);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ETOOBIG);
    put32(frame + count_at, RAFT_APPEND_ENTRIES_MAX + 1);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ETOOBIG);
    put32(frame + count_at, 5); /* one more than present: short body */
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_EPROTO);
    put32(frame + count_at, 4);
    const size_t len_at = count_at + 4 + 9; /* first entry's len */
    put32(frame + len_at, UINT32_MAX);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ETOOBIG);
    put32(frame + len_at, 1000); /* within limits, past the buffer */
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_EPROTO);

    sample_msg(9, &m); /* snapshot: conf count, then data length */
    n = round_trip(&m);
    const size_t conf_at = RAFT_CODEC_HEADER_SIZE + 16;
    put32(frame + conf_at, UINT32_MAX);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_ETOOBIG);
    put32(frame + conf_at, 1);
    const size_t dlen_at = conf_at + 4 + 9 + 8 + 8 + 1;
    put32(frame + dlen_at, UINT32_MAX);
    reseal(n);
    assert_int_equal(raft_codec_decode(frame, n, &dec), CAIRN_EPROTO);
}

/* Edits frame[at] to v in a fresh frame of sample k and expects rc. */
static void expect_edit(unsigned k, size_t at, uint8_t v, int rc)
{
    struct raft_msg m;
    sample_msg(k, &m);
    size_t n = round_trip(&m);
    assert_true(at < n - 4);
    frame[at] = v;
    reseal(n);
    int got = raft_codec_decode(frame, n, &dec);
    if (got != rc)
        fail_msg("sample %u byte %zu := %u: got %s, want %s", k, at, v,
                 cairn_errname(got), cairn_errname(rc));
}

static void intact_frames_breaking_the_rules_are_protocol_errors(void **state)
{
    (void)state;
    const size_t h = RAFT_CODEC_HEADER_SIZE;
    expect_edit(14, 2, 0, CAIRN_EPROTO);                 /* type 0 */
    expect_edit(14, 2, RAFT_MSG_TYPE_MAX + 1, CAIRN_EPROTO);
    expect_edit(14, 3, 1, CAIRN_EPROTO);                 /* flags */
    expect_edit(14, 16, 0, CAIRN_EPROTO);                /* from = 0 */
    expect_edit(14, 24, 0, CAIRN_EPROTO);                /* to = 2 -> 0 */
    expect_edit(0, h + 16, 2, CAIRN_EPROTO);             /* transfer = 2 */
    expect_edit(0, h + 8, 6, CAIRN_EPROTO);              /* last_log_term > term */
    expect_edit(2, h, 0xff, CAIRN_EPROTO);               /* granted */
    expect_edit(6, h, 2, CAIRN_EPROTO);                  /* success */
    expect_edit(5, h + 28 + 8, 0, CAIRN_EPROTO);         /* entry type 0 */
    expect_edit(5, h + 28 + 8, 4, CAIRN_EPROTO);         /* entry type 4 */
    expect_edit(5, h + 28, 1, CAIRN_EPROTO);             /* term 1 < prev_term 2 */
    expect_edit(5, h + 28, 10, CAIRN_EPROTO);            /* term 10 > msg term 9 */
    expect_edit(5, h + 8, 10, CAIRN_EPROTO);             /* prev_term > term */
    expect_edit(8, h + 20, 0, CAIRN_EPROTO);             /* member id 1 -> 0 */
    expect_edit(9, h + 28, 3, CAIRN_EPROTO);             /* member role 3 */
    expect_edit(8, h + 20 + 9, 1, CAIRN_EPROTO);         /* ids not ascending */
    const size_t done1 = h + 20 + 9 + 16; /* sample 9's done byte */
    expect_edit(9, done1, 0, CAIRN_EPROTO);              /* last chunk not done */
    expect_edit(9, done1, 2, CAIRN_EPROTO);              /* done = 2 */
    const size_t done8 = h + 20 + 9 * RAFT_MEMBERS_MAX + 16;
    expect_edit(8, done8, 1, CAIRN_EPROTO);              /* middle chunk done */
    expect_edit(8, done8 - 1, 0xff, CAIRN_EPROTO);       /* offset past size */
    expect_edit(11, h + 16, 2, CAIRN_EPROTO);            /* installed */
    expect_edit(16, h + 16, 1, CAIRN_EPROTO);            /* status +1 */
    expect_edit(16, h + 16, 0xff, CAIRN_EPROTO);         /* status 255 */
    expect_edit(17, h + 16, 0xff, 0);                    /* status -1 */
    expect_edit(17, h + 16, 0x80, CAIRN_EPROTO);         /* status -128 */
    expect_edit(6, h + 1, 0xff, 0);                      /* any index is fine */
}

static void encode_refuses_small_buffers_and_huge_frames(void **state)
{
    (void)state;
    struct raft_msg m;
    sample_msg(5, &m);
    size_t n = raft_codec_size(&m);
    assert_int_equal(raft_codec_encode(&m, frame, n - 1), CAIRN_EFULL);
    assert_int_equal(raft_codec_encode(&m, frame, 0), CAIRN_EFULL);
    assert_int_equal(raft_codec_encode(&m, frame, n), (int)n);

    /* Three maximal entries exceed the frame limit; nothing is read from
     * their data because the size is refused first. */
    static struct raft_entry big[3];
    for (uint32_t i = 0; i < 3; i++)
        big[i] = (struct raft_entry){1, 1 + i, RAFT_ENTRY_NORMAL,
                                     CAIRN_RAFT_ENTRY_SIZE_MAX, payload};
    msg_header(&m, RAFT_MSG_APPEND, 1);
    m.append.n_entries = 3;
    m.append.entries = big;
    assert_true(raft_codec_size(&m) > RAFT_CODEC_FRAME_MAX);
    assert_int_equal(raft_codec_encode(&m, frame, sizeof(frame)), CAIRN_ETOOBIG);
}

static void check_rejects_malformed_messages(void **state)
{
    (void)state;
    struct raft_msg m;
    sample_msg(5, &m);
    assert_true(raft_codec_check(&m));
    struct raft_entry e[4];
    memcpy(e, sample_entries, sizeof(e));
    m.append.entries = e;
    e[2].index = 14; /* a gap */
    assert_false(raft_codec_check(&m));
    e[2].index = 13;
    e[1].len = 3; /* data NULL with len > 0 */
    assert_false(raft_codec_check(&m));
    e[1].len = 0;
    assert_true(raft_codec_check(&m));
    m.append.prev_index = UINT64_MAX - 1; /* indexes would wrap */
    assert_false(raft_codec_check(&m));
    m.type = 0;
    assert_false(raft_codec_check(&m));
    sample_msg(14, &m);
    m.to = 0;
    assert_false(raft_codec_check(&m));
}

/* ---- randomized ---- */

static uint8_t rnd_data[4096];
static struct raft_entry rnd_entries[64];

static uint64_t rnd_u64(struct cairn_rng *g)
{
    switch (cairn_rng_below(g, 4)) {
    case 0: return 0;
    case 1: return UINT64_MAX - cairn_rng_below(g, 3);
    case 2: return cairn_rng_below(g, 1000);
    default: return cairn_rng_next(g);
    }
}

static void rnd_append(struct cairn_rng *g, struct raft_msg *m)
{
    uint32_t n = (uint32_t)cairn_rng_below(g, ARRAY_LEN(rnd_entries) + 1);
    m->term = cairn_rng_below(g, 1000) + 1;
    m->append.prev_index = cairn_rng_below(g, 1u << 20);
    m->append.prev_term = cairn_rng_below(g, m->term + 1);
    m->append.commit_index = rnd_u64(g);
    m->append.n_entries = n;
    m->append.entries = rnd_entries;
    uint64_t t = m->append.prev_term;
    for (uint32_t i = 0; i < n; i++) {
        t += cairn_rng_below(g, m->term - t + 1) / 4;
        uint32_t len = (uint32_t)cairn_rng_below(g, 64);
        rnd_entries[i] = (struct raft_entry){
            t, m->append.prev_index + 1 + i,
            (uint8_t)cairn_rng_range(g, RAFT_ENTRY_NORMAL, RAFT_ENTRY_CONFIG),
            len, len > 0 ? rnd_data + cairn_rng_below(g, 1024) : NULL};
    }
}

static void rnd_snapshot(struct cairn_rng *g, struct raft_msg *m)
{
    struct raft_msg_snapshot *s = &m->snapshot;
    m->term = rnd_u64(g);
    s->meta.last_index = rnd_u64(g);
    s->meta.last_term = m->term == 0 ? 0 : cairn_rng_below(g, m->term);
    conf_fill(&s->meta.conf, (uint32_t)cairn_rng_below(g, RAFT_MEMBERS_MAX + 1));
    s->meta.size = cairn_rng_below(g, 1u << 30);
    s->offset = cairn_rng_below(g, s->meta.size + 1);
    s->len = (uint32_t)CAIRN_MIN(s->meta.size - s->offset,
                                 cairn_rng_below(g, 2048));
    s->data = s->len > 0 ? rnd_data : NULL;
    s->done = s->offset + s->len == s->meta.size;
}

static void rnd_msg(struct cairn_rng *g, struct raft_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = (uint8_t)cairn_rng_range(g, 1, RAFT_MSG_TYPE_MAX);
    m->group_id = rnd_u64(g);
    m->from = cairn_rng_below(g, 9) + 1;
    m->to = cairn_rng_below(g, 9) + 1;
    m->term = rnd_u64(g);
    /* Fill the union with random words; the type picks what counts. */
    uint64_t *w = (uint64_t *)(void *)&m->vote;
    for (size_t i = 0; i < sizeof(struct raft_msg_append_resp) / 8; i++)
        w[i] = rnd_u64(g);
    m->vote.transfer = cairn_rng_chance(g, 1, 2);
    m->append_resp.success = cairn_rng_chance(g, 1, 2);
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE)
        m->vote.last_log_term = m->term == 0 ? 0 : m->term - cairn_rng_below(g, 2);
    else if (m->type == RAFT_MSG_APPEND)
        rnd_append(g, m);
    else if (m->type == RAFT_MSG_SNAPSHOT)
        rnd_snapshot(g, m);
    else if (m->type == RAFT_MSG_SNAPSHOT_RESP)
        m->snapshot_resp.installed = cairn_rng_chance(g, 1, 2),
        m->snapshot_resp.rejected = cairn_rng_chance(g, 1, 2);
    else if (m->type == RAFT_MSG_READ_INDEX_RESP)
        m->read_index_resp.status = -(int32_t)cairn_rng_below(g, 21);
    else if (m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP)
        m->vote_resp.granted = cairn_rng_chance(g, 1, 2);
}

static void random_messages_round_trip(void **state)
{
    (void)state;
    struct cairn_rng g;
    cairn_rng_seed(&g, test_seed(20261125));
    for (size_t i = 0; i < sizeof(rnd_data); i++)
        rnd_data[i] = (uint8_t)cairn_rng_next(&g);
    struct raft_msg m;
    for (int i = 0; i < 20000; i++) {
        rnd_msg(&g, &m);
        round_trip(&m);
    }
}

/* Random bodies inside a valid envelope reach the body parser; none may
 * crash it, and whatever decodes must re-encode to the same bytes. */
static void random_bodies_never_crash(void **state)
{
    (void)state;
    struct cairn_rng g;
    cairn_rng_seed(&g, test_seed(7));
    size_t ok = 0;
    for (int i = 0; i < 50000; i++) {
        size_t body = cairn_rng_below(&g, 200);
        size_t n = RAFT_CODEC_FRAME_MIN + body;
        for (size_t k = 0; k < n; k++)
            frame[k] = (uint8_t)(cairn_rng_chance(&g, 1, 2) ? 0 : cairn_rng_next(&g));
        frame[0] = RAFT_CODEC_MAGIC;
        frame[1] = RAFT_CODEC_VERSION;
        frame[2] = (uint8_t)cairn_rng_range(&g, 1, RAFT_MSG_TYPE_MAX);
        frame[3] = 0;
        put32(frame + 4, (uint32_t)n);
        frame[16] = 1; /* from */
        frame[24] = 2; /* to */
        reseal(n);
        if (raft_codec_decode(frame, n, &dec) != 0)
            continue;
        ok++;
        int n2 = raft_codec_encode(&dec.msg, frame2, sizeof(frame2));
        assert_int_equal(n2, (int)n);
        assert_memory_equal(frame, frame2, n);
        assert_int_equal(raft_codec_decode(frame2, n, &dec2), 0);
    }
    assert_true(ok > 0); /* the generator does reach valid frames */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_round_trips_with_edge_values),
        cmocka_unit_test(every_truncation_and_extension_fails),
        cmocka_unit_test(every_single_bit_flip_is_caught),
        cmocka_unit_test(bad_envelope_gives_the_right_code),
        cmocka_unit_test(huge_counts_and_lengths_are_too_big),
        cmocka_unit_test(intact_frames_breaking_the_rules_are_protocol_errors),
        cmocka_unit_test(encode_refuses_small_buffers_and_huge_frames),
        cmocka_unit_test(check_rejects_malformed_messages),
        cmocka_unit_test(random_messages_round_trip),
        cmocka_unit_test(random_bodies_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
