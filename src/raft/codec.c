/*
 * codec.c: encoding and decoding of Raft messages (frame layout in codec.h).
 *
 * Bodies, after the 40-byte header (u64 and u32 little-endian, b = one byte
 * boolean 0/1):
 *
 *   VOTE, PREVOTE            last_log_index u64, last_log_term u64, transfer b
 *   VOTE_RESP, PREVOTE_RESP  granted b
 *   APPEND                   prev_index u64, prev_term u64, commit_index u64,
 *                            n_entries u32, then n times:
 *                              term u64, type u8, len u32, len bytes
 *                            (entry i has index prev_index + 1 + i)
 *   APPEND_RESP              success b, match_index, reject_index, hint_term,
 *                            hint_index, last_index (u64 each)
 *   SNAPSHOT                 last_index u64, last_term u64, conf (u32 count,
 *                            then count x (id u64, role u8): the layout of
 *                            raft_conf_encode), size u64, offset u64,
 *                            done b, len u32, len bytes
 *   SNAPSHOT_RESP            last_index u64, next_offset u64, installed b,
 *                            rejected b
 *   HEARTBEAT                commit_index u64, read_ctx u64
 *   HEARTBEAT_RESP           read_ctx u64
 *   TIMEOUT_NOW              (empty)
 *   READ_INDEX               request_id u64
 *   READ_INDEX_RESP          request_id u64, index u64, status i32
 *
 * Invariants:
 *   - raft_codec_check() is the single definition of a well-formed message:
 *     the encoder asserts it, the decoder returns CAIRN_EPROTO unless it
 *     holds, so decode(encode(m)) always succeeds and encode(decode(b)) == b.
 *   - The decoder reads only inside [in, in + len): every read goes through
 *     struct rd, which checks the remaining length first.  Counts are
 *     bounded (RAFT_APPEND_ENTRIES_MAX, RAFT_MEMBERS_MAX) before they index
 *     anything, lengths are compared with what is left before they are used.
 *   - Nothing is allocated; the work is linear in the input size.
 *
 * Tuned for: many small messages (heartbeats, acks) and batches of small
 * entries; a frame is written in one pass once its size is known.
 */
#include "raft/codec.h"

#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"

/* Number of CAIRN_E* codes; a READ_INDEX_RESP status must be one of them. */
#define COUNT_ONE(name, num, msg) +1
enum { CODEC_ERRORS_COUNT = 0 CAIRN_ERRORS(COUNT_ONE) };
#undef COUNT_ONE

/* Fixed body sizes (APPEND and SNAPSHOT add their variable parts). */
#define BODY_VOTE 17u
#define BODY_VOTE_RESP 1u
#define BODY_APPEND_FIXED 28u
#define ENTRY_HEADER 13u
#define BODY_APPEND_RESP 41u
#define BODY_SNAPSHOT_FIXED 41u /* without the conf members and data */
#define MEMBER_SIZE 9u
#define BODY_SNAPSHOT_RESP 18u
#define BODY_HEARTBEAT 16u
#define BODY_HEARTBEAT_RESP 8u
#define BODY_READ_INDEX 8u
#define BODY_READ_INDEX_RESP 20u

/* ---------------------------------------------------------------------------
 * Well-formedness (shared by both directions).
 * ------------------------------------------------------------------------- */

static bool conf_ok(const struct raft_conf *c)
{
    if (c->n_members > RAFT_MEMBERS_MAX)
        return false;
    for (uint32_t i = 0; i < c->n_members; i++) {
        const struct raft_member *m = &c->members[i];
        if (m->id == 0)
            return false;
        if (m->role != RAFT_VOTER && m->role != RAFT_LEARNER)
            return false;
        if (i > 0 && c->members[i - 1].id >= m->id)
            return false; /* sorted and unique, as raft.h keeps them */
    }
    return true;
}

/* §5.3: entries follow prev_index without gaps, terms never decrease along
 * a log, and a leader never sends an entry newer than its own term. */
static bool append_ok(const struct raft_msg *m)
{
    const struct raft_msg_append *a = &m->append;
    if (a->n_entries > RAFT_APPEND_ENTRIES_MAX)
        return false;
    if (a->n_entries > 0 && a->entries == NULL)
        return false;
    if (a->prev_index > UINT64_MAX - a->n_entries)
        return false;
    if (a->prev_term > m->term)
        return false;
    uint64_t last_term = a->prev_term;
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *e = &a->entries[i];
        if (e->index != a->prev_index + 1 + i)
            return false;
        if (e->term < last_term || e->term > m->term)
            return false;
        if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
            return false;
        if (e->len > CAIRN_RAFT_ENTRY_SIZE_MAX)
            return false;
        if (e->len > 0 && e->data == NULL)
            return false;
        last_term = e->term;
    }
    return true;
}

static bool snapshot_ok(const struct raft_msg *m)
{
    const struct raft_msg_snapshot *s = &m->snapshot;
    if (!conf_ok(&s->meta.conf))
        return false;
    if (s->meta.last_term > m->term)
        return false;
    if (s->len > RAFT_CODEC_FRAME_MAX)
        return false;
    if (s->len > 0 && s->data == NULL)
        return false;
    if (s->offset > s->meta.size || s->len > s->meta.size - s->offset)
        return false; /* the chunk lies inside the snapshot */
    return s->done == (s->offset + s->len == s->meta.size);
}

bool raft_codec_check(const struct raft_msg *m)
{
    if (m->from == 0 || m->to == 0)
        return false;
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        return m->vote.last_log_term <= m->term;
    case RAFT_MSG_APPEND:
        return append_ok(m);
    case RAFT_MSG_SNAPSHOT:
        return snapshot_ok(m);
    case RAFT_MSG_READ_INDEX_RESP:
        return m->read_index_resp.status <= 0 &&
               m->read_index_resp.status >= -CODEC_ERRORS_COUNT;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_APPEND_RESP:
    case RAFT_MSG_SNAPSHOT_RESP:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_HEARTBEAT_RESP:
    case RAFT_MSG_TIMEOUT_NOW:
    case RAFT_MSG_READ_INDEX:
        return true;
    default:
        return false;
    }
}

/* ---------------------------------------------------------------------------
 * Encoding.
 * ------------------------------------------------------------------------- */

static size_t body_size(const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        return BODY_VOTE;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        return BODY_VOTE_RESP;
    case RAFT_MSG_APPEND: {
        size_t n = BODY_APPEND_FIXED;
        for (uint32_t i = 0; i < m->append.n_entries; i++)
            n += ENTRY_HEADER + (size_t)m->append.entries[i].len;
        return n;
    }
    case RAFT_MSG_APPEND_RESP:
        return BODY_APPEND_RESP;
    case RAFT_MSG_SNAPSHOT:
        return BODY_SNAPSHOT_FIXED +
               (size_t)m->snapshot.meta.conf.n_members * MEMBER_SIZE +
               m->snapshot.len;
    case RAFT_MSG_SNAPSHOT_RESP:
        return BODY_SNAPSHOT_RESP;
    case RAFT_MSG_HEARTBEAT:
        return BODY_HEARTBEAT;
    case RAFT_MSG_HEARTBEAT_RESP:
        return BODY_HEARTBEAT_RESP;
    case RAFT_MSG_TIMEOUT_NOW:
        return 0;
    case RAFT_MSG_READ_INDEX:
        return BODY_READ_INDEX;
    case RAFT_MSG_READ_INDEX_RESP:
        return BODY_READ_INDEX_RESP;
    default:
        UNREACHABLE();
    }
}

size_t raft_codec_size(const struct raft_msg *m)
{
    ASSERT(raft_codec_check(m));
    return RAFT_CODEC_HEADER_SIZE + body_size(m) + RAFT_CODEC_CRC_SIZE;
}

/* A cursor over an output buffer already known to be large enough. */
struct wr {
    uint8_t *p;
    size_t off;
};

static void put_u8(struct wr *w, uint8_t v)
{
    w->p[w->off++] = v;
}

/* Little-endian fields written out byte by byte in one expression each:
 * compilers merge these into single loads and stores (a loop over
 * w->off++ is not merged, and stores through w->p may alias w->off). */
static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_u32(struct wr *w, uint32_t v)
{
    store_le32(w->p + w->off, v);
    w->off += 4;
}

static void put_u64(struct wr *w, uint64_t v)
{
    store_le32(w->p + w->off, (uint32_t)v);
    store_le32(w->p + w->off + 4, (uint32_t)(v >> 32));
    w->off += 8;
}

static void put_bytes(struct wr *w, const void *data, uint32_t len)
{
    if (len > 0)
        memcpy(w->p + w->off, data, len);
    w->off += len;
}

static void put_append(struct wr *w, const struct raft_msg_append *a)
{
    put_u64(w, a->prev_index);
    put_u64(w, a->prev_term);
    put_u64(w, a->commit_index);
    put_u32(w, a->n_entries);
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *e = &a->entries[i];
        put_u64(w, e->term);
        put_u8(w, e->type);
        put_u32(w, e->len);
        put_bytes(w, e->data, e->len);
    }
}

static void put_snapshot(struct wr *w, const struct raft_msg_snapshot *s)
{
    put_u64(w, s->meta.last_index);
    put_u64(w, s->meta.last_term);
    put_u32(w, s->meta.conf.n_members);
    for (uint32_t i = 0; i < s->meta.conf.n_members; i++) {
        put_u64(w, s->meta.conf.members[i].id);
        put_u8(w, s->meta.conf.members[i].role);
    }
    put_u64(w, s->meta.size);
    put_u64(w, s->offset);
    put_u8(w, s->done ? 1 : 0);
    put_u32(w, s->len);
    put_bytes(w, s->data, s->len);
}

static void put_body(struct wr *w, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        put_u64(w, m->vote.last_log_index);
        put_u64(w, m->vote.last_log_term);
        put_u8(w, m->vote.transfer ? 1 : 0);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        put_u8(w, m->vote_resp.granted ? 1 : 0);
        break;
    case RAFT_MSG_APPEND:
        put_append(w, &m->append);
        break;
    case RAFT_MSG_APPEND_RESP:
        put_u8(w, m->append_resp.success ? 1 : 0);
        put_u64(w, m->append_resp.match_index);
        put_u64(w, m->append_resp.reject_index);
        put_u64(w, m->append_resp.hint_term);
        put_u64(w, m->append_resp.hint_index);
        put_u64(w, m->append_resp.last_index);
        break;
    case RAFT_MSG_SNAPSHOT:
        put_snapshot(w, &m->snapshot);
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        put_u64(w, m->snapshot_resp.last_index);
        put_u64(w, m->snapshot_resp.next_offset);
        put_u8(w, m->snapshot_resp.installed ? 1 : 0);
        put_u8(w, m->snapshot_resp.rejected ? 1 : 0);
        break;
    case RAFT_MSG_HEARTBEAT:
        put_u64(w, m->heartbeat.commit_index);
        put_u64(w, m->heartbeat.read_ctx);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        put_u64(w, m->heartbeat_resp.read_ctx);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_READ_INDEX:
        put_u64(w, m->read_index.request_id);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        put_u64(w, m->read_index_resp.request_id);
        put_u64(w, m->read_index_resp.index);
        put_u32(w, (uint32_t)m->read_index_resp.status);
        break;
    default:
        UNREACHABLE();
    }
}

int raft_codec_encode(const struct raft_msg *m, uint8_t *out, size_t cap)
{
    size_t size = raft_codec_size(m); /* asserts raft_codec_check(m) */
    if (size > RAFT_CODEC_FRAME_MAX)
        return CAIRN_ETOOBIG;
    if (size > cap)
        return CAIRN_EFULL;
    struct wr w = {out, 0};
    put_u8(&w, RAFT_CODEC_MAGIC);
    put_u8(&w, RAFT_CODEC_VERSION);
    put_u8(&w, m->type);
    put_u8(&w, 0);
    put_u32(&w, (uint32_t)size);
    put_u64(&w, m->group_id);
    put_u64(&w, m->from);
    put_u64(&w, m->to);
    put_u64(&w, m->term);
    ASSERT(w.off == RAFT_CODEC_HEADER_SIZE);
    put_body(&w, m);
    ASSERT(w.off == size - RAFT_CODEC_CRC_SIZE);
    put_u32(&w, cairn_crc32c(0, out, w.off));
    return (int)size;
}

/* ---------------------------------------------------------------------------
 * Decoding.
 * ------------------------------------------------------------------------- */

/* A bounds-checked cursor: a read past the end sets bad and yields zeros,
 * so a parse runs to its end and is rejected once, at the end. */
struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
};

static bool rd_has(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint8_t get_u8(struct rd *r)
{
    return rd_has(r, 1) ? r->p[r->off++] : 0;
}

static uint32_t get_u32(struct rd *r)
{
    if (!rd_has(r, 4))
        return 0;
    uint32_t v = load_le32(r->p + r->off);
    r->off += 4;
    return v;
}

static uint64_t get_u64(struct rd *r)
{
    if (!rd_has(r, 8))
        return 0;
    uint64_t v = load_le32(r->p + r->off) |
                 (uint64_t)load_le32(r->p + r->off + 4) << 32;
    r->off += 8;
    return v;
}

/* A boolean byte: anything but 0 or 1 marks the frame bad. */
static bool get_bool(struct rd *r)
{
    uint8_t v = get_u8(r);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

/* Points at len bytes of the input (NULL for 0) and skips them. */
static const void *get_bytes(struct rd *r, uint32_t len)
{
    if (len == 0 || !rd_has(r, len))
        return NULL;
    const void *p = r->p + r->off;
    r->off += len;
    return p;
}

static int get_append(struct rd *r, struct raft_codec_msg *out)
{
    struct raft_msg_append *a = &out->msg.append;
    a->prev_index = get_u64(r);
    a->prev_term = get_u64(r);
    a->commit_index = get_u64(r);
    a->n_entries = get_u32(r);
    a->entries = out->entries;
    if (a->n_entries > RAFT_APPEND_ENTRIES_MAX)
        return CAIRN_ETOOBIG;
    if (a->prev_index > UINT64_MAX - a->n_entries)
        return CAIRN_EPROTO;
    for (uint32_t i = 0; i < a->n_entries && !r->bad; i++) {
        struct raft_entry *e = &out->entries[i];
        e->index = a->prev_index + 1 + i;
        e->term = get_u64(r);
        e->type = get_u8(r);
        e->len = get_u32(r);
        if (e->len > CAIRN_RAFT_ENTRY_SIZE_MAX)
            return CAIRN_ETOOBIG;
        e->data = get_bytes(r, e->len);
    }
    return 0;
}

static int get_snapshot(struct rd *r, struct raft_msg_snapshot *s)
{
    s->meta.last_index = get_u64(r);
    s->meta.last_term = get_u64(r);
    s->meta.conf.n_members = get_u32(r);
    if (s->meta.conf.n_members > RAFT_MEMBERS_MAX)
        return CAIRN_ETOOBIG;
    for (uint32_t i = 0; i < s->meta.conf.n_members; i++) {
        s->meta.conf.members[i].id = get_u64(r);
        s->meta.conf.members[i].role = get_u8(r);
    }
    s->meta.size = get_u64(r);
    s->offset = get_u64(r);
    s->done = get_bool(r);
    s->len = get_u32(r);
    s->data = get_bytes(r, s->len);
    return 0;
}

static int get_body(struct rd *r, struct raft_codec_msg *out)
{
    struct raft_msg *m = &out->msg;
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        m->vote.last_log_index = get_u64(r);
        m->vote.last_log_term = get_u64(r);
        m->vote.transfer = get_bool(r);
        return 0;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        m->vote_resp.granted = get_bool(r);
        return 0;
    case RAFT_MSG_APPEND:
        return get_append(r, out);
    case RAFT_MSG_APPEND_RESP:
        m->append_resp.success = get_bool(r);
        m->append_resp.match_index = get_u64(r);
        m->append_resp.reject_index = get_u64(r);
        m->append_resp.hint_term = get_u64(r);
        m->append_resp.hint_index = get_u64(r);
        m->append_resp.last_index = get_u64(r);
        return 0;
    case RAFT_MSG_SNAPSHOT:
        return get_snapshot(r, &m->snapshot);
    case RAFT_MSG_SNAPSHOT_RESP:
        m->snapshot_resp.last_index = get_u64(r);
        m->snapshot_resp.next_offset = get_u64(r);
        m->snapshot_resp.installed = get_bool(r);
        m->snapshot_resp.rejected = get_bool(r);
        return 0;
    case RAFT_MSG_HEARTBEAT:
        m->heartbeat.commit_index = get_u64(r);
        m->heartbeat.read_ctx = get_u64(r);
        return 0;
    case RAFT_MSG_HEARTBEAT_RESP:
        m->heartbeat_resp.read_ctx = get_u64(r);
        return 0;
    case RAFT_MSG_TIMEOUT_NOW:
        return 0;
    case RAFT_MSG_READ_INDEX:
        m->read_index.request_id = get_u64(r);
        return 0;
    case RAFT_MSG_READ_INDEX_RESP:
        m->read_index_resp.request_id = get_u64(r);
        m->read_index_resp.index = get_u64(r);
        m->read_index_resp.status = (int32_t)get_u32(r);
        return 0;
    default:
        return CAIRN_EPROTO; /* an unknown type in an intact frame */
    }
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

int raft_codec_peek(const uint8_t *in, size_t len, size_t *frame_len)
{
    if (len < 8)
        return CAIRN_EAGAIN;
    if (in[0] != RAFT_CODEC_MAGIC)
        return CAIRN_ECORRUPT;
    /* The version comes before anything else is trusted: a future version
     * may lay out even the rest of the header differently. */
    if (in[1] != RAFT_CODEC_VERSION)
        return CAIRN_EVERSION;
    uint32_t n = load_u32(in + 4);
    if (n < RAFT_CODEC_FRAME_MIN)
        return CAIRN_ECORRUPT;
    if (n > RAFT_CODEC_FRAME_MAX)
        return CAIRN_ETOOBIG;
    *frame_len = n;
    return 0;
}

/* Checks the envelope: a plausible header, exactly len bytes, the crc. */
static int check_frame(const uint8_t *in, size_t len)
{
    size_t frame_len = 0;
    int rc = raft_codec_peek(in, len, &frame_len);
    if (rc == CAIRN_EAGAIN)
        return CAIRN_ECORRUPT; /* a truncated frame */
    if (rc != 0)
        return rc;
    if (frame_len != len)
        return CAIRN_ECORRUPT;
    uint32_t want = load_u32(in + len - RAFT_CODEC_CRC_SIZE);
    if (cairn_crc32c(0, in, len - RAFT_CODEC_CRC_SIZE) != want)
        return CAIRN_ECORRUPT;
    return 0;
}

int raft_codec_decode(const uint8_t *in, size_t len, struct raft_codec_msg *out)
{
    int rc = check_frame(in, len);
    if (rc != 0)
        return rc;
    /* From here on the bytes are what the peer sent; what is wrong with
     * them is the peer's protocol error, not line noise. */
    if (in[3] != 0)
        return CAIRN_EPROTO;
    memset(&out->msg, 0, sizeof(out->msg));
    struct rd r = {in, len - RAFT_CODEC_CRC_SIZE, 4 + 4, false};
    out->msg.type = in[2];
    out->msg.group_id = get_u64(&r);
    out->msg.from = get_u64(&r);
    out->msg.to = get_u64(&r);
    out->msg.term = get_u64(&r);
    ASSERT(!r.bad && r.off == RAFT_CODEC_HEADER_SIZE);
    rc = get_body(&r, out);
    if (rc != 0)
        return rc;
    if (r.bad || r.off != r.len)
        return CAIRN_EPROTO; /* short body, or bytes left over */
    if (!raft_codec_check(&out->msg))
        return CAIRN_EPROTO;
    ASSERT(raft_codec_size(&out->msg) == len);
    return 0;
}
