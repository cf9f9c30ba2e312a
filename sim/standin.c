/*
 * standin.c: the stand-in server; see standin.h.  Not cairn: scaffolding to
 * test the simulator end to end.
 *
 * One command runs at a time from a FIFO queue fed by every session.  A
 * write computes its result and the key's new state, appends a record
 * [u32 payload length][u32 crc32c][payload] to the log, fsyncs, and only then
 * applies the state and replies.  Invariants: the table equals the replay of
 * the log's durable prefix plus nothing else (in the correct mode); a
 * session is freed only when closed and no queued command refers to it.
 */
#include "standin.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "sim_limits.h"
#include "world.h"

#define SI_KEYS_MAX 256
#define SI_ARGS_MAX 4
#define SI_ARG_LEN_MAX LIN_VALUE_LEN_MAX
#define SI_QUEUE_MAX 1024
#define SI_IN_MAX (SI_ARGS_MAX * (SI_ARG_LEN_MAX + 32))
#define SI_READ_CHUNK 65536
#define SI_LOG "standin.log"

enum { REC_SET = 1, REC_DEL = 2 };

struct entry {
    bool used;
    struct sim_bytes key;
    struct sim_bytes val;
};

struct session {
    struct sim_standin *s;
    struct io_conn *conn;
    struct sim_bytes in;
    bool closed;
    unsigned refs;
    struct session *prev;
    struct session *next;
};

struct req {
    struct session *sess;
    int argc;
    struct sim_bytes argv[SI_ARGS_MAX];
    struct req *next;
};

/* A write's effect, applied once it is durable. */
struct change {
    bool del;
    struct sim_bytes key;
    struct sim_bytes val;
};

struct sim_standin {
    struct io *io;
    struct sim_standin_config cfg;
    struct io_file *log;
    uint64_t log_end;
    struct sim_bytes load;
    uint8_t chunk[SI_READ_CHUNK];
    struct io_listener *l;
    struct entry table[SI_KEYS_MAX];
    struct session *sessions;
    struct req *q_head;
    struct req *q_tail;
    unsigned q_len;
    struct req *cur;          /* the write waiting for durability */
    struct change change;
    struct sim_bytes reply;
    struct sim_bytes rec;
    bool busy;
    bool failed;
    uint64_t commands;
};

static void pump(struct sim_standin *s);

static void fatal(struct sim_standin *s, int status)
{
    if (s->failed)
        return;
    s->failed = true;
    if (s->cfg.fatal_cb != NULL)
        s->cfg.fatal_cb(s->cfg.fatal_ctx, status);
}

/* ---- the table ---- */

static struct entry *lookup(struct sim_standin *s, const struct sim_bytes *k)
{
    for (unsigned i = 0; i < SI_KEYS_MAX; i++) {
        struct entry *e = &s->table[i];
        if (e->used && e->key.len == k->len &&
            (k->len == 0 || memcmp(e->key.data, k->data, k->len) == 0))
            return e;
    }
    return NULL;
}

/* Applies a change; returns false when the table is full. */
static bool apply(struct sim_standin *s, const struct change *c)
{
    struct entry *e = lookup(s, &c->key);
    if (c->del) {
        if (e != NULL) {
            sim_bytes_free(&e->key);
            sim_bytes_free(&e->val);
            e->used = false;
        }
        return true;
    }
    for (unsigned i = 0; e == NULL && i < SI_KEYS_MAX; i++) {
        if (!s->table[i].used) {
            e = &s->table[i];
            e->used = true;
            sim_bytes_copy(&e->key, &c->key);
        }
    }
    if (e == NULL)
        return false;
    sim_bytes_copy(&e->val, &c->val);
    return true;
}

/* ---- the log ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void record_encode(struct sim_bytes *out, const struct change *c)
{
    uint8_t hdr[8], lens[8];
    out->len = 0;
    sim_bytes_append(out, hdr, sizeof(hdr));
    uint8_t op = c->del ? REC_DEL : REC_SET;
    sim_bytes_append(out, &op, 1);
    put_u32(lens, (uint32_t)c->key.len);
    put_u32(lens + 4, (uint32_t)c->val.len);
    sim_bytes_append(out, lens, sizeof(lens));
    sim_bytes_append(out, c->key.data, c->key.len);
    sim_bytes_append(out, c->val.data, c->val.len);
    size_t payload = out->len - 8;
    put_u32(out->data, (uint32_t)payload);
    put_u32(out->data + 4, cairn_crc32c(0, out->data + 8, payload));
}

/* Decodes one record at p; returns its size, or 0 when torn or corrupt. */
static size_t record_decode(const uint8_t *p, size_t len, struct change *c)
{
    if (len < 8 + 9)
        return 0;
    uint32_t payload = get_u32(p);
    if (payload < 9 || payload > len - 8 ||
        get_u32(p + 4) != cairn_crc32c(0, p + 8, payload))
        return 0;
    const uint8_t *q = p + 8;
    uint32_t klen = get_u32(q + 1), vlen = get_u32(q + 5);
    if (q[0] != REC_SET && q[0] != REC_DEL)
        return 0;
    if ((uint64_t)klen + vlen + 9 != payload)
        return 0;
    c->del = q[0] == REC_DEL;
    c->key.len = c->val.len = 0;
    sim_bytes_append(&c->key, q + 9, klen);
    sim_bytes_append(&c->val, q + 9 + klen, vlen);
    return 8 + (size_t)payload;
}

static void replay(struct sim_standin *s)
{
    size_t off = 0;
    struct change c = {0};
    while (off < s->load.len) {
        size_t n = record_decode(s->load.data + off, s->load.len - off, &c);
        if (n == 0 || !apply(s, &c))
            break; /* a torn or corrupt tail: what follows is not ours */
        off += n;
    }
    sim_bytes_free(&c.key);
    sim_bytes_free(&c.val);
    s->log_end = off;
    sim_bytes_free(&s->load);
}

/* ---- replies ---- */

static void reply_bulk(struct sim_bytes *r, const struct sim_bytes *v)
{
    char head[32];
    if (v == NULL) {
        sim_bytes_append(r, "$-1\r\n", 5);
        return;
    }
    int n = snprintf(head, sizeof(head), "$%zu\r\n", v->len);
    sim_bytes_append(r, head, (size_t)n);
    sim_bytes_append(r, v->data, v->len);
    sim_bytes_append(r, "\r\n", 2);
}

static void reply_int(struct sim_bytes *r, int64_t v)
{
    char text[32];
    text[0] = ':';
    size_t n = cairn_i64_to_str(v, text + 1);
    sim_bytes_append(r, text, n + 1);
    sim_bytes_append(r, "\r\n", 2);
}

static void reply_str(struct sim_bytes *r, const char *s)
{
    sim_bytes_append(r, s, strlen(s));
}

static void send_reply(struct session *se, const struct sim_bytes *r)
{
    if (!se->closed && r->len > 0)
        (void)io_conn_write(se->conn, r->data, r->len);
}

/* ---- sessions ---- */

static void session_release(struct session *se)
{
    if (!se->closed || se->refs > 0)
        return;
    struct sim_standin *s = se->s;
    if (se->prev != NULL)
        se->prev->next = se->next;
    else
        s->sessions = se->next;
    if (se->next != NULL)
        se->next->prev = se->prev;
    sim_bytes_free(&se->in);
    cairn_free(se);
}

static void session_close(struct session *se)
{
    if (se->closed)
        return;
    io_conn_close(se->conn);
    se->conn = NULL;
    se->closed = true;
    session_release(se);
}

static void req_free(struct req *r)
{
    for (int i = 0; i < SI_ARGS_MAX; i++)
        sim_bytes_free(&r->argv[i]);
    r->sess->refs--;
    session_release(r->sess);
    cairn_free(r);
}

/* Parses one "*N $len arg ..." request at the start of p.  Returns bytes
 * used, 0 when incomplete, -1 on a protocol error. */
static long parse_request(const uint8_t *p, size_t len, struct req *r)
{
    size_t off = 0;
    int64_t n;
    for (int i = -1; i < r->argc; i++) {
        const uint8_t *nl = off < len ? memchr(p + off, '\n', len - off) : NULL;
        if (nl == NULL)
            return 0;
        size_t line = (size_t)(nl - (p + off));
        if (line < 2 || nl[-1] != '\r' || p[off] != (i < 0 ? '*' : '$') ||
            cairn_str_to_i64((const char *)p + off + 1, line - 2, &n) != 0)
            return -1;
        off += line + 1;
        if (i < 0) {
            if (n < 1 || n > SI_ARGS_MAX)
                return -1;
            r->argc = (int)n;
            continue;
        }
        if (n < 0 || n > SI_ARG_LEN_MAX)
            return -1;
        if (len - off < (size_t)n + 2)
            return 0;
        r->argv[i].len = 0;
        sim_bytes_append(&r->argv[i], p + off, (size_t)n);
        off += (size_t)n + 2;
    }
    return (long)off;
}

static void on_read(void *ctx, struct io_conn *c, const char *data, size_t len)
{
    struct session *se = ctx;
    struct sim_standin *s = se->s;
    (void)c;
    if (se->in.len + len > SI_IN_MAX) {
        session_close(se);
        return;
    }
    sim_bytes_append(&se->in, data, len);
    for (;;) {
        struct req *r = sim_xcalloc(1, sizeof(*r));
        long used = parse_request(se->in.data, se->in.len, r);
        if (used <= 0) {
            for (int i = 0; i < SI_ARGS_MAX; i++)
                sim_bytes_free(&r->argv[i]);
            cairn_free(r);
            if (used < 0)
                session_close(se);
            break;
        }
        sim_bytes_consume(&se->in, (size_t)used);
        r->sess = se;
        se->refs++;
        if (s->q_len == SI_QUEUE_MAX) {
            struct sim_bytes busy = {0};
            reply_str(&busy, "-BUSY queue full\r\n");
            send_reply(se, &busy);
            sim_bytes_free(&busy);
            req_free(r);
            continue;
        }
        if (s->q_tail != NULL)
            s->q_tail->next = r;
        else
            s->q_head = r;
        s->q_tail = r;
        s->q_len++;
    }
    pump(s);
}

static void on_eof(void *ctx, struct io_conn *c, int status)
{
    (void)c;
    (void)status;
    session_close(ctx);
}

static const struct io_conn_handlers handlers = {on_read, on_eof, NULL};

static void on_accept(void *ctx, struct io_conn *c)
{
    struct sim_standin *s = ctx;
    struct session *se = sim_xcalloc(1, sizeof(*se));
    se->s = s;
    se->conn = c;
    se->next = s->sessions;
    if (s->sessions != NULL)
        s->sessions->prev = se;
    s->sessions = se;
    io_conn_start(c, se, &handlers);
}

/* ---- commands ---- */

static bool arg_is(const struct sim_bytes *a, const char *name)
{
    size_t n = strlen(name);
    if (a->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = (char)a->data[i];
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (ch != name[i])
            return false;
    }
    return true;
}

static void change_set(struct change *c, const struct sim_bytes *key,
                       const void *val, size_t len)
{
    c->del = false;
    sim_bytes_copy(&c->key, key);
    c->val.len = 0;
    sim_bytes_append(&c->val, val, len);
}

/* Computes r's reply into s->reply; returns true when it is a write whose
 * change is in s->change. */
static bool execute(struct sim_standin *s, struct req *r)
{
    struct sim_bytes *a = r->argv, *out = &s->reply;
    struct entry *e = r->argc >= 2 ? lookup(s, &a[1]) : NULL;
    struct change *c = &s->change;
    if (arg_is(&a[0], "GET") && r->argc == 2) {
        reply_bulk(out, e != NULL ? &e->val : NULL);
    } else if (arg_is(&a[0], "SET") &&
               (r->argc == 3 || (r->argc == 4 && arg_is(&a[3], "NX")))) {
        if (r->argc == 4 && e != NULL) {
            reply_str(out, "$-1\r\n");
            return false;
        }
        change_set(c, &a[1], a[2].data, a[2].len);
        reply_str(out, "+OK\r\n");
        return true;
    } else if (arg_is(&a[0], "DEL") && r->argc == 2) {
        reply_int(out, e != NULL);
        if (e == NULL)
            return false;
        c->del = true;
        sim_bytes_copy(&c->key, &a[1]);
        return true;
    } else if (arg_is(&a[0], "INCR") && r->argc == 2) {
        int64_t v = 0;
        if (e != NULL &&
            cairn_str_to_i64((const char *)e->val.data, e->val.len, &v) != 0) {
            reply_str(out, "-ERR value is not an integer or out of range\r\n");
            return false;
        }
        if (v == INT64_MAX) {
            reply_str(out, "-ERR increment or decrement would overflow\r\n");
            return false;
        }
        char text[24];
        size_t n = cairn_i64_to_str(v + 1, text);
        change_set(c, &a[1], text, n);
        reply_int(out, v + 1);
        return true;
    } else if (arg_is(&a[0], "APPEND") && r->argc == 3) {
        struct sim_bytes nv = {0};
        if (e != NULL)
            sim_bytes_copy(&nv, &e->val);
        sim_bytes_append(&nv, a[2].data, a[2].len);
        change_set(c, &a[1], nv.data, nv.len);
        reply_int(out, (int64_t)nv.len);
        sim_bytes_free(&nv);
        return true;
    } else if (arg_is(&a[0], "GETSET") && r->argc == 3) {
        reply_bulk(out, e != NULL ? &e->val : NULL);
        change_set(c, &a[1], a[2].data, a[2].len);
        return true;
    } else {
        reply_str(out, "-ERR unknown command or wrong number of arguments\r\n");
    }
    return false;
}

static void finish_write(struct sim_standin *s)
{
    struct req *r = s->cur;
    s->cur = NULL;
    if (!apply(s, &s->change))
        UNREACHABLE(); /* keys are bounded by the workload */
    send_reply(r->sess, &s->reply);
    req_free(r);
    s->busy = false;
}

static void fsync_done(void *ctx, int status, size_t n)
{
    struct sim_standin *s = ctx;
    (void)n;
    if (status != 0) {
        fatal(s, status);
        return;
    }
    if (s->cfg.bug_ack_before_fsync)
        return; /* it already answered */
    finish_write(s);
    pump(s);
}

static void write_done(void *ctx, int status, size_t n)
{
    struct sim_standin *s = ctx;
    (void)n;
    if (status != 0) {
        fatal(s, status);
        return;
    }
    int rc = io_file_fsync(s->log, s, fsync_done);
    if (rc != 0)
        fatal(s, rc);
}

static void start_write(struct sim_standin *s, struct req *r)
{
    record_encode(&s->rec, &s->change);
    int rc = io_file_write(s->log, s->log_end, s->rec.data, s->rec.len, s,
                           write_done);
    if (rc != 0) {
        fatal(s, rc);
        return;
    }
    s->log_end += s->rec.len;
    s->cur = r;
    s->busy = true;
    if (s->cfg.bug_ack_before_fsync)
        finish_write(s); /* planted bug: visible and acknowledged early */
}

static void pump(struct sim_standin *s)
{
    while (!s->busy && !s->failed && s->q_head != NULL) {
        struct req *r = s->q_head;
        s->q_head = r->next;
        if (s->q_head == NULL)
            s->q_tail = NULL;
        s->q_len--;
        s->reply.len = 0;
        s->commands++;
        if (execute(s, r) && !r->sess->closed) {
            start_write(s, r);
            continue;
        }
        send_reply(r->sess, &s->reply);
        req_free(r);
    }
}

/* ---- start-up ---- */

static void load_done(struct sim_standin *s)
{
    if (s->cfg.bug_no_replay)
        s->load.len = 0; /* planted bug: the log is ignored */
    replay(s);
    int rc = io_listen(s->io, "0.0.0.0", s->cfg.port, 128, s, on_accept,
                       &s->l);
    if (rc != 0)
        fatal(s, rc);
}

static void read_done(void *ctx, int status, size_t n)
{
    struct sim_standin *s = ctx;
    if (status != 0) {
        fatal(s, status);
        return;
    }
    if (n == 0) {
        load_done(s);
        return;
    }
    sim_bytes_append(&s->load, s->chunk, n);
    int rc = io_file_read(s->log, s->load.len, s->chunk, sizeof(s->chunk), s,
                          read_done);
    if (rc != 0)
        fatal(s, rc);
}

static void open_done(void *ctx, struct io_file *f, int status)
{
    struct sim_standin *s = ctx;
    if (status != 0) {
        fatal(s, status);
        return;
    }
    s->log = f;
    int rc = io_file_read(f, 0, s->chunk, sizeof(s->chunk), s, read_done);
    if (rc != 0)
        fatal(s, rc);
}

struct sim_standin *sim_standin_start(struct io *io,
                                      const struct sim_standin_config *cfg)
{
    struct sim_standin *s = cairn_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->io = io;
    s->cfg = *cfg;
    int rc = io_file_open(io, SI_LOG, IO_OPEN_READ | IO_OPEN_WRITE |
                          IO_OPEN_CREATE, s, open_done);
    if (rc != 0) {
        cairn_free(s);
        return NULL;
    }
    return s;
}

uint64_t sim_standin_commands(const struct sim_standin *s)
{
    return s->commands;
}

void sim_standin_free(struct sim_standin *s)
{
    if (s == NULL)
        return;
    if (s->cur != NULL)
        req_free(s->cur);
    while (s->q_head != NULL) {
        struct req *r = s->q_head;
        s->q_head = r->next;
        req_free(r);
    }
    while (s->sessions != NULL) {
        struct session *se = s->sessions;
        session_close(se); /* frees: nothing refers to it any more */
    }
    if (s->l != NULL)
        io_listener_close(s->l);
    if (s->log != NULL)
        io_file_close(s->log);
    for (unsigned i = 0; i < SI_KEYS_MAX; i++) {
        sim_bytes_free(&s->table[i].key);
        sim_bytes_free(&s->table[i].val);
    }
    sim_bytes_free(&s->load);
    sim_bytes_free(&s->change.key);
    sim_bytes_free(&s->change.val);
    sim_bytes_free(&s->reply);
    sim_bytes_free(&s->rec);
    cairn_free(s);
}
