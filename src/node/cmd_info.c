/*
 * cmd_info.c: the introspection commands: INFO, CONFIG (GET/SET/RESETSTAT)
 * and COMMAND (COUNT/DOCS/INFO/LIST).
 *
 * INFO's text follows Redis's layout ("# Section" headers, "field:value"
 * lines, a blank line between sections), so tools that parse it (redis-cli,
 * client libraries, monitoring) work unchanged.  Sizes of replies are
 * bounded by the number of settings, commands and sessions (maxclients).
 * CONFIG SET validates every pair on a copy of the settings and commits all
 * or none, as Redis does.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "kv/kv.h"
#include "node/cmd_server_int.h"
#include "node/node_int.h"

/* ---- INFO ---- */

static void bytes_human(char *out, size_t n, uint64_t bytes)
{
    double b = (double)bytes;
    if (bytes < 1024)
        snprintf(out, n, "%lluB", (unsigned long long)bytes);
    else if (bytes < 1024ull * 1024)
        snprintf(out, n, "%.2fK", b / 1024);
    else if (bytes < 1024ull * 1024 * 1024)
        snprintf(out, n, "%.2fM", b / (1024.0 * 1024));
    else if (bytes < 1024ull * 1024 * 1024 * 1024)
        snprintf(out, n, "%.2fG", b / (1024.0 * 1024 * 1024));
    else
        snprintf(out, n, "%.2fT", b / (1024.0 * 1024 * 1024 * 1024));
}

static void info_server(struct node *n, struct buf *b)
{
    uint64_t up_s = (io_now_ms(n->io) - n->start_ms) / 1000;
    (void)buf_printf(b,
                     "redis_version:%s\r\n"
                     "cairn_version:0.1.0\r\n"
                     "redis_mode:standalone\r\n"
                     "arch_bits:%d\r\n"
                     "multiplexing_api:libuv\r\n"
                     "run_id:%s\r\n"
                     "tcp_port:%u\r\n"
                     "server_time_usec:%lld\r\n"
                     "uptime_in_seconds:%llu\r\n"
                     "uptime_in_days:%llu\r\n"
                     "hz:%lld\r\n"
                     "configured_hz:%lld\r\n",
                     CAIRN_REDIS_VERSION, (int)(sizeof(void *) * 8),
                     n->run_id, n->port,
                     (long long)io_wall_ms(n->io) * 1000,
                     (unsigned long long)up_s,
                     (unsigned long long)(up_s / 86400),
                     (long long)n->cfg.hz, (long long)n->cfg.hz);
}

static void info_clients(struct node *n, struct buf *b)
{
    size_t max_in = 0, max_out = 0;
    for (struct session *s = n->head; s != NULL; s = s->next) {
        max_in = CAIRN_MAX(max_in, s->query.cap);
        max_out = CAIRN_MAX(max_out, io_conn_write_pending(s->conn));
    }
    (void)buf_printf(b,
                     "connected_clients:%zu\r\n"
                     "cluster_connections:0\r\n"
                     "maxclients:%lld\r\n"
                     "client_recent_max_input_buffer:%zu\r\n"
                     "client_recent_max_output_buffer:%zu\r\n"
                     "blocked_clients:0\r\n"
                     "tracking_clients:0\r\n",
                     n->clients, (long long)n->cfg.maxclients, max_in,
                     max_out);
}

static void info_memory(struct node *n, struct buf *b)
{
    struct cairn_alloc_stats as;
    cairn_alloc_stats_get(&as);
    char used_h[32], max_h[32];
    bytes_human(used_h, sizeof(used_h), as.bytes_live);
    bytes_human(max_h, sizeof(max_h), n->cfg.maxmemory);
    (void)buf_printf(b,
                     "used_memory:%zu\r\n"
                     "used_memory_human:%s\r\n"
                     "used_memory_dataset:%zu\r\n"
                     "maxmemory:%llu\r\n"
                     "maxmemory_human:%s\r\n"
                     "maxmemory_policy:%s\r\n"
                     "mem_allocator:libc\r\n",
                     as.bytes_live, used_h, kv_memory_used(n->kv),
                     (unsigned long long)n->cfg.maxmemory, max_h,
                     kv_policy_name(n->cfg.maxmemory_policy));
}

static void info_persistence(struct node *n, struct buf *b)
{
    (void)buf_printf(b,
                     "loading:0\r\n"
                     "rdb_changes_since_last_save:0\r\n"
                     "rdb_bgsave_in_progress:0\r\n"
                     "rdb_last_save_time:%lld\r\n"
                     "aof_enabled:0\r\n"
                     "aof_rewrite_in_progress:0\r\n",
                     (long long)(n->start_wall_ms / 1000));
}

static void info_stats(struct node *n, struct buf *b)
{
    struct kv_stats ks;
    kv_stats_get(n->kv, &ks);
    const struct node_stats *st = &n->stats;
    (void)buf_printf(
        b,
        "total_connections_received:%llu\r\n"
        "total_commands_processed:%llu\r\n"
        "instantaneous_ops_per_sec:%llu\r\n"
        "total_net_input_bytes:%llu\r\n"
        "total_net_output_bytes:%llu\r\n"
        "rejected_connections:%llu\r\n"
        "expired_keys:%llu\r\n"
        "evicted_keys:%llu\r\n"
        "keyspace_hits:%llu\r\n"
        "keyspace_misses:%llu\r\n"
        "total_error_replies:%llu\r\n"
        "client_query_buffer_limit_disconnections:%llu\r\n"
        "client_output_buffer_limit_disconnections:%llu\r\n"
        "client_timeout_disconnections:%llu\r\n"
        "writes_applied:%llu\r\n",
        (unsigned long long)st->connections_received,
        (unsigned long long)st->commands_processed,
        (unsigned long long)n->ops_per_sec,
        (unsigned long long)st->net_input_bytes,
        (unsigned long long)st->net_output_bytes,
        (unsigned long long)st->rejected_connections,
        (unsigned long long)ks.expired_keys,
        (unsigned long long)ks.evicted_keys,
        (unsigned long long)ks.keyspace_hits,
        (unsigned long long)ks.keyspace_misses,
        (unsigned long long)st->error_replies,
        (unsigned long long)st->qbuf_limit_disconnections,
        (unsigned long long)st->obuf_limit_disconnections,
        (unsigned long long)st->timeout_disconnections,
        (unsigned long long)st->writes_applied);
}

static void info_replication(struct node *n, struct buf *b)
{
    if (n->cluster != NULL) {
        cluster_info_replication(n, b);
        return;
    }
    (void)buf_printf(b, "role:master\r\nconnected_slaves:0\r\n");
}

static void info_keyspace(struct node *n, struct buf *b)
{
    int64_t now = io_wall_ms(n->io);
    for (int db = 0; db < CAIRN_DB_COUNT; db++) {
        uint64_t keys = kv_dbsize(n->kv, db);
        if (keys == 0)
            continue;
        (void)buf_printf(b, "db%d:keys=%llu,expires=%llu,avg_ttl=%llu\r\n",
                         db, (unsigned long long)keys,
                         (unsigned long long)kv_expires_count(n->kv, db),
                         (unsigned long long)kv_avg_ttl(n->kv, db, now));
    }
}

struct info_section {
    const char *name;
    const char *title;
    void (*fn)(struct node *n, struct buf *b);
};

static const struct info_section info_sections[] = {
    {"server", "Server", info_server},
    {"clients", "Clients", info_clients},
    {"memory", "Memory", info_memory},
    {"persistence", "Persistence", info_persistence},
    {"stats", "Stats", info_stats},
    {"replication", "Replication", info_replication},
    {"keyspace", "Keyspace", info_keyspace},
};

void cmd_info(struct cmd_ctx *c)
{
    bool want[ARRAY_LEN(info_sections)] = {false};
    bool all = c->argc == 1;
    for (int i = 1; i < c->argc; i++) {
        if (cmd_arg_is(c, i, "all") || cmd_arg_is(c, i, "default") ||
            cmd_arg_is(c, i, "everything"))
            all = true;
        for (size_t s = 0; s < ARRAY_LEN(info_sections); s++)
            if (cmd_arg_is(c, i, info_sections[s].name))
                want[s] = true;
    }
    struct buf b;
    buf_init(&b, 0);
    bool first = true;
    for (size_t s = 0; s < ARRAY_LEN(info_sections); s++) {
        if (!all && !want[s])
            continue;
        (void)buf_printf(&b, "%s# %s\r\n", first ? "" : "\r\n",
                         info_sections[s].title);
        info_sections[s].fn(c->node, &b);
        first = false;
    }
    resp_reply_verbatim(c->w, b.len > 0 ? b.data : "", b.len);
    buf_free(&b);
}

/* ---- CONFIG ---- */

static void config_get(struct cmd_ctx *c)
{
    bool hit[64] = {false};
    ASSERT(config_table_len <= ARRAY_LEN(hit));
    size_t count = 0;
    for (int i = 2; i < c->argc; i++) {
        char pat[256];
        size_t plen = c->argv_len[i];
        if (plen >= sizeof(pat))
            continue; /* no setting name is that long */
        for (size_t k = 0; k < plen; k++) {
            char ch = c->argv[i][k];
            pat[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        for (size_t d = 0; d < config_table_len; d++) {
            const char *name = config_table[d].name;
            if (!hit[d] && kv_glob_match(pat, plen, name, strlen(name))) {
                hit[d] = true;
                count++;
            }
        }
    }
    resp_reply_map(c->w, count);
    char value[CONFIG_STR_MAX + 128];
    for (size_t d = 0; d < config_table_len; d++) {
        if (!hit[d])
            continue;
        config_format(&c->node->cfg, &config_table[d], value, sizeof(value));
        resp_reply_bulk_str(c->w, config_table[d].name);
        resp_reply_bulk_str(c->w, value);
    }
}

/* Copies argument i into out as a C string; false if it does not fit or
 * holds a NUL byte. */
static bool arg_cstr(const struct cmd_ctx *c, int i, char *out, size_t n)
{
    size_t len = c->argv_len[i];
    if (len >= n || memchr(c->argv[i], '\0', len) != NULL)
        return false;
    memcpy(out, c->argv[i], len);
    out[len] = '\0';
    return true;
}

static void config_set_fail(struct cmd_ctx *c, const char *name,
                            const char *why)
{
    resp_reply_errorf(c->w,
                      "ERR CONFIG SET failed (possibly related to argument "
                      "'%s') - %s", name, why);
}

static void config_set(struct cmd_ctx *c)
{
    if (c->argc % 2 != 0) {
        resp_reply_error(c->w, CMD_ERR_SYNTAX);
        return;
    }
    struct node_config next = c->node->cfg;
    const struct config_def *seen[64];
    size_t seen_count = 0;
    for (int i = 2; i < c->argc; i += 2) {
        char name[128];
        const struct config_def *d = NULL;
        if (arg_cstr(c, i, name, sizeof(name)))
            d = config_find(name, strlen(name));
        if (d == NULL) {
            resp_reply_errorf(c->w, "ERR Unknown option or number of "
                                    "arguments for CONFIG SET - '%.*s'",
                              (int)CAIRN_MIN(c->argv_len[i], (size_t)128),
                              c->argv[i]);
            return;
        }
        for (size_t k = 0; k < seen_count; k++) {
            if (seen[k] == d) {
                config_set_fail(c, d->name, "duplicate parameter");
                return;
            }
        }
        ASSERT(seen_count < ARRAY_LEN(seen));
        seen[seen_count++] = d;
        if (d->flags & CONFIG_IMMUTABLE) {
            config_set_fail(c, d->name, "can't set immutable config");
            return;
        }
        char value[CONFIG_STR_MAX];
        if (!arg_cstr(c, i + 1, value, sizeof(value))) {
            config_set_fail(c, d->name, "argument is too long");
            return;
        }
        const char *why = config_set_value(&next, d, value);
        if (why != NULL) {
            config_set_fail(c, d->name, why);
            return;
        }
    }
    c->node->cfg = next;
    node_config_changed(c->node);
    resp_reply_ok(c->w);
}

static void config_resetstat(struct cmd_ctx *c)
{
    struct node *n = c->node;
    memset(&n->stats, 0, sizeof(n->stats));
    n->ops_sample_cmds = 0;
    n->ops_per_sec = 0;
    kv_stats_reset(n->kv);
    resp_reply_ok(c->w);
}

static void config_rewrite(struct cmd_ctx *c)
{
    resp_reply_error(c->w, "ERR CONFIG REWRITE is not supported");
}

static void config_help(struct cmd_ctx *c)
{
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their "
        "values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

const struct subcommand cmd_config_subcommands[] = {
    {"get", -3, config_get},           {"set", -4, config_set},
    {"resetstat", 2, config_resetstat}, {"rewrite", 2, config_rewrite},
    {"help", 2, config_help},          {NULL, 0, NULL},
};

void cmd_config(struct cmd_ctx *c)
{
    (void)cmd_subcommand_run(c, "config", cmd_config_subcommands);
}

/* ---- COMMAND ---- */

static void count_visit(void *ctx, const struct command *cmd)
{
    (void)cmd;
    (*(size_t *)ctx)++;
}

static size_t command_count(void)
{
    size_t n = 0;
    cmd_foreach(count_visit, &n);
    return n;
}

static void reply_flags(struct resp_writer *w, uint32_t f)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {CMD_WRITE, "write"}, {CMD_READONLY, "readonly"},
        {CMD_DENYOOM, "denyoom"}, {CMD_ADMIN, "admin"},
        {CMD_NOAUTH, "no_auth"}, {CMD_LOADING, "loading"},
        {CMD_FAST, "fast"},
    };
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        n += (f & names[i].bit) != 0;
    resp_reply_set(w, n);
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (f & names[i].bit)
            resp_reply_simple(w, names[i].name);
}

static void reply_categories(struct resp_writer *w, const struct command *c)
{
    const char *cats[5];
    size_t n = 0;
    if (c->flags & CMD_WRITE)
        cats[n++] = "@write";
    if (c->flags & CMD_READONLY)
        cats[n++] = "@read";
    if (c->group != NULL && strcmp(c->group, "string") == 0)
        cats[n++] = "@string";
    else if (c->group != NULL && strcmp(c->group, "generic") == 0)
        cats[n++] = "@keyspace";
    else if (c->group != NULL && strcmp(c->group, "connection") == 0)
        cats[n++] = "@connection";
    if (c->flags & CMD_FAST)
        cats[n++] = "@fast";
    else
        cats[n++] = "@slow";
    resp_reply_set(w, n);
    for (size_t i = 0; i < n; i++)
        resp_reply_simple(w, cats[i]);
}

static void reply_command_info(void *ctx, const struct command *cmd)
{
    struct resp_writer *w = ctx;
    resp_reply_array(w, 10);
    resp_reply_bulk_str(w, cmd->name);
    resp_reply_int(w, cmd->arity);
    reply_flags(w, cmd->flags);
    resp_reply_int(w, cmd->key_first);
    resp_reply_int(w, cmd->key_first == 0 ? 0 : cmd->key_last);
    resp_reply_int(w, cmd->key_first == 0 ? 0 : cmd->key_step);
    reply_categories(w, cmd);
    resp_reply_set(w, 0); /* tips */
    resp_reply_array(w, 0); /* key specs */
    resp_reply_array(w, 0); /* subcommands */
}

static void reply_command_doc(void *ctx, const struct command *cmd)
{
    struct resp_writer *w = ctx;
    resp_reply_bulk_str(w, cmd->name);
    resp_reply_map(w, 3);
    resp_reply_bulk_str(w, "summary");
    resp_reply_bulk_str(w, cmd->summary != NULL ? cmd->summary : "");
    resp_reply_bulk_str(w, "since");
    resp_reply_bulk_str(w, "1.0.0");
    resp_reply_bulk_str(w, "group");
    resp_reply_bulk_str(w, cmd->group != NULL ? cmd->group : "server");
}

static void reply_command_name(void *ctx, const struct command *cmd)
{
    resp_reply_bulk_str(ctx, cmd->name);
}

static void command_count_cmd(struct cmd_ctx *c)
{
    resp_reply_int(c->w, (int64_t)command_count());
}

static void command_info(struct cmd_ctx *c)
{
    if (c->argc == 2) {
        resp_reply_array(c->w, command_count());
        cmd_foreach(reply_command_info, c->w);
        return;
    }
    resp_reply_array(c->w, (size_t)(c->argc - 2));
    for (int i = 2; i < c->argc; i++) {
        const struct command *cmd = cmd_lookup(c->argv[i], c->argv_len[i]);
        if (cmd == NULL)
            resp_reply_null(c->w);
        else
            reply_command_info(c->w, cmd);
    }
}

static void command_docs(struct cmd_ctx *c)
{
    if (c->argc == 2) {
        resp_reply_map(c->w, command_count());
        cmd_foreach(reply_command_doc, c->w);
        return;
    }
    size_t found = 0;
    for (int i = 2; i < c->argc; i++)
        found += cmd_lookup(c->argv[i], c->argv_len[i]) != NULL;
    resp_reply_map(c->w, found);
    for (int i = 2; i < c->argc; i++) {
        const struct command *cmd = cmd_lookup(c->argv[i], c->argv_len[i]);
        if (cmd != NULL)
            reply_command_doc(c->w, cmd);
    }
}

static void command_list(struct cmd_ctx *c)
{
    if (c->argc != 2) {
        resp_reply_error(c->w, CMD_ERR_SYNTAX);
        return;
    }
    resp_reply_array(c->w, command_count());
    cmd_foreach(reply_command_name, c->w);
}

static void command_help(struct cmd_ctx *c)
{
    static const char *const lines[] = {
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all commands.",
        "COUNT",
        "    Return the total number of commands in this server.",
        "LIST",
        "    Return a list of all commands in this server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple commands.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple commands.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

const struct subcommand cmd_command_subcommands[] = {
    {"count", 2, command_count_cmd}, {"info", -2, command_info},
    {"docs", -2, command_docs},      {"list", -2, command_list},
    {"help", 2, command_help},       {NULL, 0, NULL},
};

void cmd_command(struct cmd_ctx *c)
{
    if (c->argc == 1) {
        resp_reply_array(c->w, command_count());
        cmd_foreach(reply_command_info, c->w);
        return;
    }
    (void)cmd_subcommand_run(c, "command", cmd_command_subcommands);
}
