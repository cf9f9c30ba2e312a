/*
 * node.c: a node's lifecycle, command dispatch, the write apply path and
 * periodic work (cron).
 *
 * Dispatch follows Redis 7's order of checks, so a client sees the same
 * error for the same mistake: unknown command, then arity, then
 * authentication, then memory (-OOM for CMD_DENYOOM commands when eviction
 * cannot get under maxmemory).  Writes then go through apply_cmd(), the one
 * place that hands CMD_WRITE commands the cache, with now_ms from the io's
 * wall clock (a replica would take it from the log entry instead).
 * A node that failed (node_fatal) refuses every data command, reads
 * included, until its host stops it.
 *
 * Cron runs hz times a second: active expiry for at most 25% of the tick
 * (measured with io_now_us, bounded also by CAIRN_CRON_EXPIRE_ROUNDS_MAX),
 * idle rehashing, client timeouts and the instantaneous ops sample.
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "kv/kv.h"
#include "node/cluster_int.h"
#include "node/cmd_server_int.h"
#include "node/node_int.h"

static void cron_cb(void *ctx);

static void kv_config_from(const struct node_config *c, struct kv_config *k)
{
    kv_config_default(k);
    k->hash_seed = c->hash_seed;
    k->maxmemory = c->maxmemory;
    k->policy = c->maxmemory_policy;
    k->maxmemory_samples = (int)c->maxmemory_samples;
    /* Replicated: only the leader expires, through the log. */
    k->lazy_expire_on_read = c->cluster_peers[0] == '\0';
    k->string_len_max = c->proto_max_bulk_len;
}

static void resp_limits_from(const struct node_config *c,
                             struct resp_limits *l)
{
    resp_limits_default(l);
    l->bulk_len_max = c->proto_max_bulk_len;
}

static uint64_t cron_period_ms(const struct node *n)
{
    ASSERT(n->cfg.hz >= 1);
    uint64_t ms = 1000 / (uint64_t)n->cfg.hz;
    return ms == 0 ? 1 : ms;
}

int node_new(struct node **out, struct io *io, const struct node_config *cfg)
{
    return node_new_net(out, io, cfg, NULL);
}

int node_new_net(struct node **out, struct io *io,
                 const struct node_config *cfg, const struct cluster_net *net)
{
    if (cfg->databases != CAIRN_DB_COUNT || cfg->hz < 1)
        return CAIRN_ECONFIG;
    struct node *n = cairn_calloc(1, sizeof(*n));
    if (n == NULL)
        return CAIRN_ENOMEM;
    n->io = io;
    n->cfg = *cfg;
    if (n->cfg.hash_seed == 0)
        n->cfg.hash_seed = io_random_seed(io);
    cairn_rng_seed(&n->rng, n->cfg.hash_seed);
    for (int i = 0; i < 40; i++)
        n->run_id[i] = "0123456789abcdef"[cairn_rng_below(&n->rng, 16)];
    n->run_id[40] = '\0';
    resp_limits_from(&n->cfg, &n->resp_limits);
    struct kv_config kc;
    kv_config_from(&n->cfg, &kc);
    n->kv = kv_new(&kc);
    if (n->kv == NULL)
        goto out_free_node;
    n->cron = io_timer_new(io, n, cron_cb);
    if (n->cron == NULL)
        goto out_free_kv;
    if (n->cfg.cluster_peers[0] != '\0') {
        int rc = cluster_new(n, net, &n->cluster);
        if (rc != 0) {
            io_timer_free(n->cron);
            kv_free(n->kv);
            cairn_free(n);
            return rc;
        }
    }
    n->start_wall_ms = io_wall_ms(io);
    n->start_ms = io_now_ms(io);
    n->ops_sample_ms = n->start_ms;
    io_timer_start(n->cron, cron_period_ms(n));
    *out = n;
    return 0;
out_free_kv:
    kv_free(n->kv);
out_free_node:
    cairn_free(n);
    return CAIRN_ENOMEM;
}

void node_free(struct node *n)
{
    if (n == NULL)
        return;
    while (n->head != NULL) {
        ASSERT(!n->head->in_batch);
        session_free(n->head);
    }
    ASSERT(n->clients == 0);
    cluster_free(n->cluster);
    for (size_t i = 0; i < n->listeners_count; i++)
        io_listener_close(n->listeners[i]);
    io_timer_free(n->cron);
    kv_free(n->kv);
    cairn_free(n);
}

static void on_accept(void *ctx, struct io_conn *conn)
{
    struct node *n = ctx;
    n->stats.connections_received++;
    if (n->clients >= (size_t)n->cfg.maxclients) {
        static const char msg[] = "-ERR max number of clients reached\r\n";
        (void)io_conn_write(conn, msg, sizeof(msg) - 1);
        n->stats.rejected_connections++;
        io_conn_close(conn);
        return;
    }
    if (session_new(n, conn) == NULL)
        LOG_WARNING("out of memory accepting a client; closed it");
}

int node_listen(struct node *n, const char *host, uint16_t port)
{
    if (n->listeners_count == CAIRN_BIND_ADDRS_MAX)
        return CAIRN_EFULL;
    struct io_listener *l = NULL;
    int rc = io_listen(n->io, host, port, 511, n, on_accept, &l);
    if (rc != 0)
        return rc;
    n->listeners[n->listeners_count++] = l;
    if (n->port == 0)
        n->port = port;
    return 0;
}

size_t node_listener_count(const struct node *n)
{
    return n->listeners_count;
}

struct io_listener *node_listener(const struct node *n, size_t index)
{
    ASSERT(index < n->listeners_count);
    return n->listeners[index];
}

void node_set_shutdown_cb(struct node *n, void (*cb)(void *ctx), void *ctx)
{
    n->shutdown_cb = cb;
    n->shutdown_ctx = ctx;
}

void node_request_shutdown(struct node *n)
{
    if (n->shutdown_requested)
        return;
    n->shutdown_requested = true;
    LOG_WARNING("User requested shutdown...");
    if (n->cluster != NULL && n->shutdown_cb != NULL) {
        cluster_shutdown_begin(n->cluster, n->shutdown_cb, n->shutdown_ctx);
        return;
    }
    if (n->shutdown_cb != NULL)
        n->shutdown_cb(n->shutdown_ctx);
}

void node_fatal(struct node *n)
{
    n->failed = true;
    if (n->shutdown_requested)
        return;
    n->shutdown_requested = true;
    LOG_WARNING("Stopping: this node cannot continue safely");
    if (n->shutdown_cb != NULL)
        n->shutdown_cb(n->shutdown_ctx);
}

bool node_failed(const struct node *n)
{
    return n->failed;
}

struct cluster *node_cluster(struct node *n)
{
    return n->cluster;
}

struct kv *node_kv(struct node *n)
{
    return n->kv;
}

const struct node_config *node_config(const struct node *n)
{
    return &n->cfg;
}

size_t node_client_count(const struct node *n)
{
    return n->clients;
}

void node_config_changed(struct node *n)
{
    struct kv_config kc;
    kv_config_from(&n->cfg, &kc);
    kv_config_update(n->kv, &kc);
    resp_limits_from(&n->cfg, &n->resp_limits);
    cairn_log_set_level((enum cairn_log_level)n->cfg.loglevel);
    /* New limits apply to existing sessions' buffers too.  A buffer already
     * holding more than the new limit keeps its length as the limit (struct
     * buf requires len <= limit); the output check then closes the client
     * if it stays over. */
    size_t out_limit = n->cfg.cob_normal_hard == 0
                           ? SIZE_MAX
                           : (size_t)n->cfg.cob_normal_hard;
    for (struct session *s = n->head; s != NULL; s = s->next) {
        s->query.limit = CAIRN_MAX((size_t)n->cfg.query_buf_max, s->query.len);
        s->out.limit = CAIRN_MAX(out_limit, s->out.len);
        s->parser.limits = n->resp_limits;
    }
}

/* ---- dispatch ---- */

/* The one path by which a write reaches the cache. */
static void apply_cmd(struct node *n, const struct command *cmd, int db,
                      int argc, const char *const *argv,
                      const size_t *argv_len, int64_t now_ms,
                      struct resp_writer *w)
{
    ASSERT(cmd->flags & CMD_WRITE);
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    struct cmd_ctx ctx = {
        .node = n,
        .session = NULL,
        .kv = n->kv,
        .db = db,
        .argc = argc,
        .argv = argv,
        .argv_len = argv_len,
        .now_ms = now_ms,
        .w = w,
    };
    cmd->proc(&ctx);
    n->stats.writes_applied++;
}

void node_apply_cmd(struct node *n, const struct command *cmd, int db,
                    int argc, const char *const *argv, const size_t *argv_len,
                    int64_t now_ms, struct resp_writer *w)
{
    ASSERT(cmd_arity_ok(cmd, argc));
    apply_cmd(n, cmd, db, argc, argv, argv_len, now_ms, w);
}

void node_apply_write(struct node *n, int db, int argc,
                      const char *const *argv, const size_t *argv_len,
                      int64_t now_ms, struct resp_writer *w)
{
    ASSERT(argc >= 1);
    const struct command *cmd = cmd_lookup(argv[0], argv_len[0]);
    ASSERT(cmd != NULL);
    ASSERT(cmd_arity_ok(cmd, argc));
    apply_cmd(n, cmd, db, argc, argv, argv_len, now_ms, w);
}

/* Appends "'%.*s' " as Redis does: a C-string view of the argument (up to
 * its first NUL), at most max bytes of it. */
static size_t quote_arg(char *out, const char *arg, size_t len, size_t max)
{
    const char *nul = memchr(arg, '\0', len);
    size_t n = nul != NULL ? (size_t)(nul - arg) : len;
    if (n > max)
        n = max;
    out[0] = '\'';
    memcpy(out + 1, arg, n);
    out[n + 1] = '\'';
    out[n + 2] = ' ';
    return n + 3;
}

static void reply_unknown(struct session *s, int argc,
                          const char *const *argv, const size_t *argv_len)
{
    char msg[600];
    size_t len = (size_t)snprintf(msg, sizeof(msg), "ERR unknown command ");
    size_t q = quote_arg(msg + len, argv[0], argv_len[0], 128);
    len += q - 1; /* drop the trailing space */
    len += (size_t)snprintf(msg + len, sizeof(msg) - len,
                            ", with args beginning with: ");
    size_t args = 0; /* bytes of the args part, bounded by 128 as Redis */
    for (int i = 1; i < argc && args < 128; i++) {
        size_t n = quote_arg(msg + len, argv[i], argv_len[i], 128 - args);
        len += n;
        args += n;
    }
    ASSERT(len < sizeof(msg));
    msg[len] = '\0';
    resp_reply_error(&s->w, msg);
}

/* Rejection before a command runs; counts the error. */
static void reject(struct session *s, const char *msg)
{
    s->node->stats.error_replies++;
    resp_reply_error(&s->w, msg);
}

void node_execute(struct node *n, struct session *s, int argc,
                  const char *const *argv, const size_t *argv_len)
{
    ASSERT(argc >= 1);
    n->stats.commands_processed++;
    const struct command *cmd = cmd_lookup(argv[0], argv_len[0]);
    if (unlikely(cmd == NULL)) {
        n->stats.error_replies++;
        reply_unknown(s, argc, argv, argv_len);
        return;
    }
    s->last_cmd = cmd;
    s->last_sub = NULL;
    if (unlikely(!cmd_arity_ok(cmd, argc))) {
        n->stats.error_replies++;
        resp_reply_errorf(&s->w,
                          "ERR wrong number of arguments for '%s' command",
                          cmd->name);
        return;
    }
    if (unlikely(session_needs_auth(s)) && !(cmd->flags & CMD_NOAUTH)) {
        struct cmd_ctx check = {.node = n, .session = s, .argc = argc,
                                .argv = argv, .argv_len = argv_len,
                                .w = &s->w};
        if (cmd_container_check(&check, cmd))
            reject(s, "NOAUTH Authentication required.");
        else
            n->stats.error_replies++;
        return;
    }
    if (unlikely(n->failed) && (cmd->flags & (CMD_WRITE | CMD_READONLY))) {
        /* Stopping (node_fatal): its state may be behind or, after a
         * failed apply, differ from the other replicas'. */
        reject(s, NODE_ERR_STOPPING);
        return;
    }
    int64_t now_ms = io_wall_ms(n->io);
    if (n->cluster != NULL && (cmd->flags & (CMD_WRITE | CMD_READONLY))) {
        /* Replicated: no local eviction (it would diverge replicas); the
         * leader proposes eviction deletes from cron.  With noeviction a
         * DENYOOM command over maxmemory is refused, as Redis does. */
        if ((cmd->flags & CMD_DENYOOM) && n->cfg.maxmemory != 0 &&
            n->cfg.maxmemory_policy == KV_POLICY_NOEVICTION &&
            kv_over_maxmemory(n->kv)) {
            reject(s, CMD_ERR_OOM);
            return;
        }
        cluster_execute(n->cluster, s, cmd, argc, argv, argv_len);
        return;
    }
    if (n->cfg.maxmemory != 0 && kv_over_maxmemory(n->kv)) {
        int rc = kv_evict(n->kv, now_ms);
        if (rc != 0 && (cmd->flags & CMD_DENYOOM)) {
            reject(s, CMD_ERR_OOM);
            return;
        }
    }
    if (cmd->flags & CMD_WRITE) {
        apply_cmd(n, cmd, s->db, argc, argv, argv_len, now_ms, &s->w);
        return;
    }
    struct cmd_ctx ctx = {
        .node = n,
        .session = s,
        .kv = n->kv,
        .db = s->db,
        .argc = argc,
        .argv = argv,
        .argv_len = argv_len,
        .now_ms = now_ms,
        .w = &s->w,
    };
    cmd->proc(&ctx);
}

void node_execute_read(struct node *n, struct session *s, int db, int argc,
                       const char *const *argv, const size_t *argv_len,
                       struct resp_writer *w)
{
    const struct command *cmd = cmd_lookup(argv[0], argv_len[0]);
    ASSERT(cmd != NULL);
    ASSERT(!(cmd->flags & CMD_WRITE));
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    if (unlikely(n->failed)) {
        n->stats.error_replies++;
        resp_reply_error(w, NODE_ERR_STOPPING);
        return;
    }
    struct cmd_ctx ctx = {
        .node = n,
        .session = s,
        .kv = n->kv,
        .db = db,
        .argc = argc,
        .argv = argv,
        .argv_len = argv_len,
        .now_ms = io_wall_ms(n->io),
        .w = w,
    };
    cmd->proc(&ctx);
}

void node_apply_evict(struct node *n, int db, const char *key, size_t klen,
                      int64_t now_ms)
{
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    (void)kv_delete(n->kv, db, key, klen, now_ms);
}

void node_apply_expire(struct node *n, int db, const char *key, size_t klen,
                       int64_t now_ms)
{
    ASSERT(db >= 0 && db < CAIRN_DB_COUNT);
    /* A write lookup deletes the key only if it is expired at now_ms; a
     * key written again since the leader scanned it survives. */
    (void)kv_lookup_write(n->kv, db, key, klen, now_ms);
}

/* ---- cron ---- */

static void cron_expire(struct node *n, int64_t now_ms)
{
    /* Redis's budget: 25% of one tick of CPU for active expiry. */
    uint64_t budget_us = 1000000 / (uint64_t)n->cfg.hz / 4;
    uint64_t start_us = io_now_us(n->io);
    for (int round = 0; round < CAIRN_CRON_EXPIRE_ROUNDS_MAX; round++) {
        size_t expired =
            kv_expire_cycle(n->kv, now_ms, CAIRN_EXPIRE_SAMPLE_KEYS);
        /* Keep going only while a quarter or more of the sample had
         * expired, as Redis does: otherwise few keys are left to find. */
        if (expired * 4 < CAIRN_EXPIRE_SAMPLE_KEYS)
            break;
        if (io_now_us(n->io) - start_us >= budget_us)
            break;
    }
}

static void cron_clients(struct node *n, uint64_t now_ms)
{
    uint64_t timeout_ms = (uint64_t)n->cfg.timeout_s * 1000;
    struct session *next;
    for (struct session *s = n->head; s != NULL; s = next) {
        next = s->next;
        ASSERT(!s->in_batch);
        if (timeout_ms != 0 && now_ms - s->last_ms > timeout_ms) {
            LOG_VERBOSE("closing idle client id=%llu addr=%s",
                        (unsigned long long)s->id, s->addr);
            n->stats.timeout_disconnections++;
            session_free(s);
            continue;
        }
        session_check_output(s);
        if (s->closing) {
            session_free(s);
            continue;
        }
        if (s->query.len == 0)
            buf_shrink(&s->query, CAIRN_SESSION_QUERY_BUF_KEEP);
    }
}

static void cron_ops_sample(struct node *n, uint64_t now_ms)
{
    uint64_t dt = now_ms - n->ops_sample_ms;
    if (dt < 1000)
        return;
    uint64_t cmds = n->stats.commands_processed - n->ops_sample_cmds;
    n->ops_per_sec = cmds * 1000 / dt;
    n->ops_sample_ms = now_ms;
    n->ops_sample_cmds = n->stats.commands_processed;
}

void node_cron(struct node *n)
{
    uint64_t now_ms = io_now_ms(n->io);
    n->cron_runs++;
    if (n->cluster != NULL)
        cluster_cron(n->cluster); /* the leader expires through the log */
    else
        cron_expire(n, io_wall_ms(n->io));
    kv_rehash_idle(n->kv, 100);
    cron_clients(n, now_ms);
    cron_ops_sample(n, now_ms);
}

static void cron_cb(void *ctx)
{
    struct node *n = ctx;
    node_cron(n);
    io_timer_start(n->cron, cron_period_ms(n));
}
