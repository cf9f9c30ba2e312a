/*
 * session.c: one client connection: input buffering, parsing, execution of
 * each complete command, reply buffering, output limits and backpressure.
 *
 * Tuned for many small pipelined commands.  A read is parsed in place when no
 * partial command is pending (the common case), so most bytes are never
 * copied; only an incomplete tail is kept in `query`.  Arguments are pointers
 * into the input; the argv arrays are reused, so a command costs no
 * allocation here.  Replies collect in `out` and are handed to the io once per
 * read (or whenever CAIRN_SESSION_FLUSH_BYTES accumulate), so a batch of
 * pipelined commands costs one write.
 *
 * Invariants:
 *  - query.len <= query_buf_max (buf limit); over it the client is closed;
 *  - the io's pending output stays under the hard output limit, else the
 *    client is closed; above CAIRN_SESSION_PAUSE_BYTES the session stops
 *    executing and reading (`blocked`) until the io drains;
 *  - a session is freed only when none of its callbacks is on the stack
 *    (`in_batch`), so command code may kill any session, itself included.
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "io/io.h"
#include "node/cluster_int.h"
#include "node/node_int.h"

static void on_read(void *ctx, struct io_conn *conn, const char *data,
                    size_t len);
static void on_eof(void *ctx, struct io_conn *conn, int status);
static void on_drain(void *ctx, struct io_conn *conn);
static void run_query(struct session *s);
static void batch_end(struct session *s);

static const struct io_conn_handlers session_handlers = {
    .read_cb = on_read,
    .eof_cb = on_eof,
    .drain_cb = on_drain,
};

struct session *session_new(struct node *n, struct io_conn *conn)
{
    struct session *s = cairn_calloc(1, sizeof(*s));
    if (s == NULL) {
        io_conn_close(conn);
        return NULL;
    }
    s->node = n;
    s->conn = conn;
    s->id = ++n->next_client_id;
    s->proto = 2;
    s->authenticated = n->cfg.requirepass[0] == '\0';
    buf_init(&s->query, (size_t)n->cfg.query_buf_max);
    buf_init(&s->out, (size_t)n->cfg.cob_normal_hard);
    resp_parser_init(&s->parser, &n->resp_limits);
    resp_writer_init(&s->w, &s->out, 2);
    s->created_ms = io_now_ms(n->io);
    s->last_ms = s->created_ms;
    if (io_conn_peer_name(conn, s->addr, sizeof(s->addr)) != 0)
        snprintf(s->addr, sizeof(s->addr), "?:0");
    if (io_conn_local_name(conn, s->laddr, sizeof(s->laddr)) != 0)
        snprintf(s->laddr, sizeof(s->laddr), "?:0");
    s->prev = n->tail;
    if (n->tail != NULL)
        n->tail->next = s;
    else
        n->head = s;
    n->tail = s;
    n->clients++;
    io_conn_start(conn, s, &session_handlers);
    return s;
}

void session_free(struct session *s)
{
    ASSERT(!s->in_batch);
    struct node *n = s->node;
    ASSERT(n->clients > 0);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        n->head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    else
        n->tail = s->prev;
    n->clients--;
    /* Ops the cluster still holds are freed by it when they finish. */
    struct cluster_op *op = s->op_head;
    while (op != NULL) {
        struct cluster_op *next = op->snext;
        op->s = NULL;
        op->snext = NULL;
        cluster_op_release(op);
        op = next;
    }
    if (s->ops_blocked && n->cluster != NULL)
        n->cluster->ops_blocked_sessions--;
    io_conn_close(s->conn);
    buf_free(&s->query);
    buf_free(&s->out);
    resp_parser_free(&s->parser);
    cairn_free(s->argv);
    cairn_free(s->argv_len);
    cairn_free(s->name);
    cairn_free(s->lib_name);
    cairn_free(s->lib_ver);
    cairn_free(s);
}

void session_kill(struct session *s)
{
    if (s->in_batch)
        s->closing = true;
    else
        session_free(s);
}

void session_check_output(struct session *s)
{
    struct node *n = s->node;
    size_t pending = io_conn_write_pending(s->conn);
    const struct node_config *c = &n->cfg;
    bool over_hard = c->cob_normal_hard != 0 && pending > c->cob_normal_hard;
    bool over_soft = false;
    if (c->cob_normal_soft != 0 && pending > c->cob_normal_soft) {
        uint64_t now = io_now_ms(n->io);
        if (s->soft_since_ms == 0)
            s->soft_since_ms = now;
        else if (now - s->soft_since_ms > (uint64_t)c->cob_normal_soft_s * 1000)
            over_soft = true;
    } else {
        s->soft_since_ms = 0;
    }
    if (over_hard || over_soft) {
        LOG_WARNING("client id=%llu addr=%s closed for overcoming of output "
                    "buffer limits (%zu bytes pending)",
                    (unsigned long long)s->id, s->addr, pending);
        n->stats.obuf_limit_disconnections++;
        s->closing = true;
    }
}

void session_flush(struct session *s)
{
    if (s->closing)
        return;
    if (s->w.failed) {
        LOG_WARNING("client id=%llu addr=%s closed: reply exceeds the output "
                    "buffer limit or memory", (unsigned long long)s->id,
                    s->addr);
        s->node->stats.obuf_limit_disconnections++;
        s->closing = true;
        return;
    }
    if (s->out.len == 0)
        return;
    int rc = io_conn_write(s->conn, s->out.data, s->out.len);
    s->node->stats.net_output_bytes += s->out.len;
    s->last_ms = io_now_ms(s->node->io); /* an interaction, as in Redis */
    buf_clear(&s->out);
    buf_shrink(&s->out, CAIRN_IO_WRITE_BUF_KEEP);
    if (rc != 0) {
        s->closing = true;
        return;
    }
    session_check_output(s);
}

/* Grows the argv arrays to hold argc entries (bounded by argc_max). */
static int argv_reserve(struct session *s, size_t argc)
{
    if (argc <= s->argv_cap)
        return 0;
    size_t cap = s->argv_cap < 16 ? 16 : s->argv_cap;
    while (cap < argc)
        cap *= 2;
    const char **a = cairn_realloc(s->argv, cap * sizeof(*a));
    if (a == NULL)
        return CAIRN_ENOMEM;
    s->argv = a;
    size_t *l = cairn_realloc(s->argv_len, cap * sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    s->argv_len = l;
    s->argv_cap = cap;
    return 0;
}

static bool output_backed_up(struct session *s)
{
    return io_conn_write_pending(s->conn) > CAIRN_SESSION_PAUSE_BYTES;
}

/* Replicated node: pipelined commands keep their order.  Writes pipeline
 * with writes and reads with reads; a read behind unfinished writes (or a
 * write behind unfinished reads) waits until they finish, so a pipeline
 * sees its own writes and never a later write's effect. */
static bool must_wait(struct session *s)
{
    if (s->reads_waiting == 0 && s->writes_waiting == 0)
        return false;
    const struct command *cmd = cmd_lookup(s->argv[0], s->argv_len[0]);
    if (cmd == NULL)
        return false;
    if ((cmd->flags & CMD_READONLY) && s->writes_waiting > 0) {
        s->wait_for = SESSION_WAIT_WRITES;
        return true;
    }
    if ((cmd->flags & CMD_WRITE) && s->reads_waiting > 0) {
        s->wait_for = SESSION_WAIT_READS;
        return true;
    }
    return false;
}

static void ops_block(struct session *s)
{
    s->blocked = true; /* resumed by node_sessions_resume */
    if (!s->ops_blocked) {
        s->ops_blocked = true;
        s->node->cluster->ops_blocked_sessions++;
    }
}

/* Runs the complete command the parser just found at buf.  Returns false
 * when it must wait for the session's earlier commands (not consumed). */
static bool run_parsed(struct session *s, const char *buf)
{
    size_t argc = s->parser.argc;
    if (argc == 0)
        return true; /* an empty inline line */
    if (argv_reserve(s, argc) != 0) {
        resp_reply_error(&s->w, "ERR out of memory");
        s->close_after_reply = true;
        return true;
    }
    for (size_t i = 0; i < argc; i++) {
        s->argv[i] = resp_parser_arg(&s->parser, buf, i);
        s->argv_len[i] = s->parser.args[i].len;
    }
    if (likely(s->op_head == NULL)) {
        node_execute(s->node, s, (int)argc, s->argv, s->argv_len);
        return true;
    }
    if (must_wait(s))
        return false;
    /* Replies of earlier commands are still pending: this one's reply
     * waits behind them in an op of its own. */
    struct cluster_op *op = cluster_op_new(s->node->cluster, s, OP_LOCAL);
    if (op == NULL) {
        s->closing = true; /* cannot keep the order: drop the client */
        return true;
    }
    struct buf *saved = s->w.out;
    s->w.out = &op->reply;
    node_execute(s->node, s, (int)argc, s->argv, s->argv_len);
    s->w.out = saved;
    op->done = true;
    session_ops_ready(s);
    return true;
}

/* A session paused by ops_block may run again: few ops in flight, and
 * none left of the class the command it stopped at waits for. */
static bool session_ops_can_resume(const struct session *s)
{
    if (s->ops_count >= CAIRN_CLUSTER_SESSION_OPS_MAX / 2)
        return false;
    if (s->wait_for == SESSION_WAIT_READS)
        return s->reads_waiting == 0;
    if (s->wait_for == SESSION_WAIT_WRITES)
        return s->writes_waiting == 0;
    return true;
}

void session_op_append(struct session *s, struct cluster_op *op)
{
    ASSERT(op->s == s);
    op->snext = NULL;
    if (s->op_tail != NULL)
        s->op_tail->snext = op;
    else
        s->op_head = op;
    s->op_tail = op;
    s->ops_count++;
    if (op->kind == OP_READ)
        s->reads_waiting++;
    else if (op->kind != OP_LOCAL)
        s->writes_waiting++;
}

void session_op_detach(struct session *s, struct cluster_op *op)
{
    struct cluster_op **pp = &s->op_head;
    struct cluster_op *prev = NULL;
    while (*pp != NULL && *pp != op) {
        prev = *pp;
        pp = &(*pp)->snext;
    }
    ASSERT(*pp == op);
    *pp = op->snext;
    if (s->op_tail == op)
        s->op_tail = prev;
    op->s = NULL;
    op->snext = NULL;
    s->ops_count--;
    if (!op->done)
        session_op_settled(s, op);
}

void session_op_settled(struct session *s, const struct cluster_op *op)
{
    if (op->kind == OP_LOCAL)
        return;
    if (op->is_read) {
        ASSERT(s->reads_waiting > 0);
        s->reads_waiting--;
    } else {
        ASSERT(s->writes_waiting > 0);
        s->writes_waiting--;
    }
}

void session_ops_ready(struct session *s)
{
    struct cluster_op *op;
    while ((op = s->op_head) != NULL && op->done) {
        s->op_head = op->snext;
        if (s->op_head == NULL)
            s->op_tail = NULL;
        s->ops_count--;
        if (op->reply.len > 0 &&
            buf_append(&s->out, op->reply.data, op->reply.len) != 0)
            s->w.failed = true; /* session_flush closes the client */
        op->s = NULL;
        op->snext = NULL;
        cluster_op_release(op);
    }
    if (s->ops_blocked && session_ops_can_resume(s))
        cluster_flush_arm(s->node->cluster); /* resumes it */
    if (s->in_batch)
        return;
    session_flush(s);
    if (s->close_after_reply && s->op_head == NULL)
        s->closing = true;
    if (s->closing)
        session_free(s);
}

void node_sessions_resume(struct node *n)
{
    struct session *next;
    for (struct session *s = n->head; s != NULL; s = next) {
        next = s->next;
        if (!s->ops_blocked || !session_ops_can_resume(s))
            continue;
        s->ops_blocked = false;
        n->cluster->ops_blocked_sessions--;
        if (s->blocked && !output_backed_up(s)) {
            s->blocked = false;
            s->in_batch = true;
            run_query(s);
            batch_end(s); /* may free s */
        }
    }
}

/*
 * Parses and executes the commands at the start of buf[0..len).  Returns the
 * bytes consumed; stops early at an incomplete command, on backpressure or
 * when the session is to be closed.
 */
static size_t run_commands(struct session *s, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len && !s->closing && !s->close_after_reply) {
        if (output_backed_up(s)) {
            s->blocked = true;
            break;
        }
        if (unlikely(s->ops_count >= CAIRN_CLUSTER_SESSION_OPS_MAX)) {
            s->wait_for = SESSION_WAIT_COUNT;
            ops_block(s);
            break;
        }
        s->parser.unauthenticated = session_needs_auth(s);
        enum resp_parse_result r = resp_parse(&s->parser, buf + off, len - off);
        if (r == RESP_PARSE_NEED_MORE)
            break;
        if (r == RESP_PARSE_ERROR) {
            resp_reply_errorf(&s->w, "ERR %s", s->parser.error);
            s->node->stats.error_replies++;
            s->close_after_reply = true;
            break;
        }
        ASSERT(s->parser.consumed > 0);
        ASSERT(s->parser.consumed <= len - off);
        if (!run_parsed(s, buf + off)) {
            ops_block(s);
            break; /* parsed again once the earlier commands finish */
        }
        off += s->parser.consumed;
        if (s->out.len >= CAIRN_SESSION_FLUSH_BYTES)
            session_flush(s);
    }
    return off;
}

/* Keeps unparsed bytes for the next read; closes on the query limit. */
static void keep_input(struct session *s, const char *data, size_t len)
{
    if (len == 0 || s->closing || s->close_after_reply)
        return;
    /* A big argument in progress: reserve its whole size once rather than
     * growing step by step (as Redis does), when it fits the limit. */
    size_t wanted = resp_parser_bytes_wanted(&s->parser);
    if (wanted > s->query.len + len && wanted <= s->query.limit)
        (void)buf_reserve(&s->query, wanted - s->query.len);
    int rc = buf_append(&s->query, data, len);
    if (rc == 0)
        return;
    if (rc == CAIRN_EFULL) {
        LOG_WARNING("client id=%llu addr=%s closed: query buffer over "
                    "client-query-buffer-limit", (unsigned long long)s->id,
                    s->addr);
        s->node->stats.qbuf_limit_disconnections++;
    }
    s->closing = true;
}

/* Runs what is buffered in `query`. */
static void run_query(struct session *s)
{
    size_t used = run_commands(s, s->query.data, s->query.len);
    buf_consume(&s->query, used);
}

/* End of a batch: flush, then close or apply backpressure. */
static void batch_end(struct session *s)
{
    session_flush(s);
    s->in_batch = false;
    /* QUIT or a protocol error behind replicated commands: their replies
     * go out first (session_ops_ready closes once the queue is empty). */
    if (s->close_after_reply && !s->closing && s->op_head == NULL)
        s->closing = true;
    if (s->closing) {
        session_free(s);
        return;
    }
    if (s->blocked && !s->read_paused) {
        s->read_paused = true;
        io_conn_read_pause(s->conn);
    } else if (!s->blocked && s->read_paused) {
        s->read_paused = false;
        io_conn_read_resume(s->conn);
    }
}

static void on_read(void *ctx, struct io_conn *conn, const char *data,
                    size_t len)
{
    struct session *s = ctx;
    (void)conn;
    ASSERT(!s->in_batch);
    ASSERT(!s->closing);
    struct node *n = s->node;
    n->stats.net_input_bytes += len;
    s->last_ms = io_now_ms(n->io);
    s->in_batch = true;
    if (s->query.len == 0 && !s->blocked) {
        size_t used = run_commands(s, data, len);
        keep_input(s, data + used, len - used);
    } else {
        keep_input(s, data, len);
        if (!s->blocked && !s->closing)
            run_query(s);
    }
    batch_end(s);
}

static void on_eof(void *ctx, struct io_conn *conn, int status)
{
    struct session *s = ctx;
    (void)conn;
    ASSERT(!s->in_batch);
    if (status != CAIRN_ECLOSED)
        LOG_VERBOSE("client id=%llu addr=%s: %s", (unsigned long long)s->id,
                    s->addr, cairn_strerror(status));
    session_free(s);
}

/* The io sent everything: resume a session held back by backpressure. */
static void on_drain(void *ctx, struct io_conn *conn)
{
    struct session *s = ctx;
    (void)conn;
    ASSERT(!s->in_batch);
    if (!s->blocked)
        return;
    s->blocked = false;
    s->in_batch = true;
    run_query(s);
    batch_end(s); /* may free s */
}

void session_describe(const struct session *s, uint64_t now_ms,
                      struct buf *b)
{
    const char *cmd = s->last_cmd != NULL ? s->last_cmd->name : "NULL";
    uint64_t age = (now_ms - s->created_ms) / 1000;
    uint64_t idle = (now_ms - s->last_ms) / 1000;
    size_t pending = io_conn_write_pending(s->conn);
    (void)buf_printf(
        b,
        "id=%llu addr=%s laddr=%s fd=-1 name=%s age=%llu idle=%llu flags=N "
        "db=%d sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu "
        "argv-mem=0 multi-mem=0 rbs=%zu rbp=0 obl=%zu oll=0 omem=%zu "
        "tot-mem=%zu events=r cmd=%s%s%s user=default redir=-1 resp=%d\n",
        (unsigned long long)s->id, s->addr, s->laddr,
        s->name != NULL ? s->name : "", (unsigned long long)age,
        (unsigned long long)idle, s->db, s->query.len,
        s->query.cap - s->query.len, s->query.cap, s->out.len, pending,
        sizeof(*s) + s->query.cap + s->out.cap + pending, cmd,
        s->last_sub != NULL ? "|" : "", s->last_sub != NULL ? s->last_sub : "",
        s->proto);
}
