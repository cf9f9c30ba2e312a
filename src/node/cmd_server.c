/*
 * cmd_server.c: commands about the connection and the server: PING, ECHO,
 * QUIT, HELLO, AUTH, SELECT, CLIENT, TIME, SHUTDOWN, LASTSAVE, and the table
 * that also lists INFO, CONFIG and COMMAND (in cmd_info.c).
 *
 * Replies and error texts follow Redis 7.0 word for word, since clients and
 * the integration suite compare them.  These commands act on the session
 * (ctx->session) or the node (ctx->node) and never write to the cache.
 * Container commands (CLIENT, CONFIG, COMMAND) dispatch to a small subcommand
 * table with its own arities, giving Redis's "client|setname" style errors.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "node/cmd_server_int.h"
#include "node/node_int.h"

/* ---- helpers shared with cmd_info.c ---- */

bool cmd_arg_is(const struct cmd_ctx *c, int i, const char *word)
{
    size_t n = strlen(word);
    return c->argv_len[i] == n && strncasecmp(c->argv[i], word, n) == 0;
}

/* Finds the subcommand argv[1] names in table, or replies with Redis's error
 * (unknown subcommand, wrong arity) and returns NULL. */
static const struct subcommand *sub_resolve(struct cmd_ctx *c,
                                            const char *container,
                                            const struct subcommand *table)
{
    ASSERT(c->argc >= 2);
    for (const struct subcommand *sc = table; sc->name != NULL; sc++) {
        if (!cmd_arg_is(c, 1, sc->name))
            continue;
        bool ok = sc->arity >= 0 ? c->argc == sc->arity
                                 : c->argc >= -sc->arity;
        if (!ok) {
            resp_reply_errorf(c->w,
                              "ERR wrong number of arguments for '%s|%s' "
                              "command", container, sc->name);
            return NULL;
        }
        return sc;
    }
    char upper[32];
    size_t n = strlen(container);
    ASSERT(n < sizeof(upper));
    for (size_t i = 0; i <= n; i++)
        upper[i] = (char)(container[i] >= 'a' && container[i] <= 'z'
                              ? container[i] - 32
                              : container[i]);
    size_t alen = CAIRN_MIN(c->argv_len[1], (size_t)128);
    const char *nul = memchr(c->argv[1], '\0', alen);
    if (nul != NULL)
        alen = (size_t)(nul - c->argv[1]);
    resp_reply_errorf(c->w, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                      (int)alen, c->argv[1], upper);
    return NULL;
}

int cmd_subcommand_run(struct cmd_ctx *c, const char *container,
                       const struct subcommand *table)
{
    const struct subcommand *sc = sub_resolve(c, container, table);
    if (sc == NULL)
        return CAIRN_ENOTFOUND;
    if (c->session != NULL)
        c->session->last_sub = sc->name;
    sc->proc(c);
    return 0;
}

void cmd_reply_help(struct cmd_ctx *c, const char *const *lines)
{
    size_t n = 0;
    while (lines[n] != NULL)
        n++;
    resp_reply_array(c->w, n);
    for (size_t i = 0; i < n; i++)
        resp_reply_simple(c->w, lines[i]);
}

/* ---- connection commands ---- */

static void cmd_ping(struct cmd_ctx *c)
{
    if (c->argc > 2) {
        resp_reply_error(c->w,
                         "ERR wrong number of arguments for 'ping' command");
        return;
    }
    if (c->argc == 2)
        resp_reply_bulk(c->w, c->argv[1], c->argv_len[1]);
    else
        resp_reply_simple(c->w, "PONG");
}

static void cmd_echo(struct cmd_ctx *c)
{
    resp_reply_bulk(c->w, c->argv[1], c->argv_len[1]);
}

static void cmd_quit(struct cmd_ctx *c)
{
    resp_reply_ok(c->w);
    if (c->session != NULL)
        c->session->close_after_reply = true;
}

/* Compares without an early exit, so timing does not reveal a prefix. */
static bool password_equal(const char *given, size_t given_len,
                           const char *want)
{
    size_t want_len = strlen(want);
    unsigned diff = given_len != want_len;
    for (size_t i = 0; i < given_len; i++)
        diff |= (unsigned)(given[i] ^ want[i % (want_len + 1)]);
    return diff == 0;
}

/* The default user's check: any password when none is configured. */
static bool auth_check(struct node *n, const char *user, size_t user_len,
                       const char *pass, size_t pass_len)
{
    if (user_len != 7 || memcmp(user, "default", 7) != 0)
        return false;
    if (n->cfg.requirepass[0] == '\0')
        return true;
    return password_equal(pass, pass_len, n->cfg.requirepass);
}

static void cmd_auth(struct cmd_ctx *c)
{
    struct session *s = c->session;
    if (c->argc > 3) {
        resp_reply_error(c->w, CMD_ERR_SYNTAX);
        return;
    }
    const char *user = "default";
    size_t user_len = 7;
    const char *pass = c->argv[c->argc - 1];
    size_t pass_len = c->argv_len[c->argc - 1];
    if (c->argc == 2 && c->node->cfg.requirepass[0] == '\0') {
        resp_reply_error(c->w,
                         "ERR AUTH <password> called without any password "
                         "configured for the default user. Are you sure "
                         "your configuration is correct?");
        return;
    }
    if (c->argc == 3) {
        user = c->argv[1];
        user_len = c->argv_len[1];
    }
    if (!auth_check(c->node, user, user_len, pass, pass_len)) {
        resp_reply_error(c->w, "WRONGPASS invalid username-password pair or "
                               "user is disabled.");
        return;
    }
    if (s != NULL)
        s->authenticated = true;
    resp_reply_ok(c->w);
}

/* Validates a client name as Redis: printable ASCII without spaces. */
static bool name_valid(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < '!' || p[i] > '~')
            return false;
    return true;
}

/* Sets *slot to a copy of p (NULL when empty).  0 or CAIRN_ENOMEM. */
static int set_string(char **slot, const char *p, size_t len)
{
    char *copy = NULL;
    if (len > 0) {
        copy = cairn_strndup(p, len);
        if (copy == NULL)
            return CAIRN_ENOMEM;
    }
    cairn_free(*slot);
    *slot = copy;
    return 0;
}

/* CLIENT SETNAME and HELLO SETNAME: replies with an error on failure. */
static int session_setname(struct cmd_ctx *c, const char *p, size_t len)
{
    if (!name_valid(p, len)) {
        resp_reply_error(c->w, "ERR Client names cannot contain spaces, "
                               "newlines or special characters.");
        return CAIRN_EINVAL;
    }
    if (len > CAIRN_CLIENT_NAME_LEN_MAX) {
        resp_reply_error(c->w, "ERR Client name is too long");
        return CAIRN_EINVAL;
    }
    if (set_string(&c->session->name, p, len) != 0) {
        resp_reply_error(c->w, "ERR out of memory");
        return CAIRN_ENOMEM;
    }
    return 0;
}

static void hello_reply(struct cmd_ctx *c)
{
    struct session *s = c->session;
    resp_reply_map(c->w, 7);
    resp_reply_bulk_str(c->w, "server");
    resp_reply_bulk_str(c->w, "redis");
    resp_reply_bulk_str(c->w, "version");
    resp_reply_bulk_str(c->w, CAIRN_REDIS_VERSION);
    resp_reply_bulk_str(c->w, "proto");
    resp_reply_int(c->w, s->proto);
    resp_reply_bulk_str(c->w, "id");
    resp_reply_int(c->w, (int64_t)s->id);
    resp_reply_bulk_str(c->w, "mode");
    resp_reply_bulk_str(c->w, "standalone");
    resp_reply_bulk_str(c->w, "role");
    resp_reply_bulk_str(c->w, "master");
    resp_reply_bulk_str(c->w, "modules");
    resp_reply_array(c->w, 0);
}

static void cmd_hello(struct cmd_ctx *c)
{
    struct session *s = c->session;
    int64_t ver = 0;
    int next = 1;
    if (c->argc >= 2) {
        next = 2;
        if (cairn_str_to_i64(c->argv[1], c->argv_len[1], &ver) != 0) {
            resp_reply_error(c->w, "ERR Protocol version is not an integer "
                                   "or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            resp_reply_error(c->w, "NOPROTO unsupported protocol version");
            return;
        }
    }
    int user = 0, name = 0;
    for (int j = next; j < c->argc; j++) {
        int more = c->argc - 1 - j;
        if (cmd_arg_is(c, j, "auth") && more >= 2) {
            user = j + 1;
            j += 2;
        } else if (cmd_arg_is(c, j, "setname") && more >= 1) {
            name = j + 1;
            j++;
        } else {
            size_t len = CAIRN_MIN(c->argv_len[j], (size_t)128);
            resp_reply_errorf(c->w, "ERR Syntax error in HELLO option '%.*s'",
                              (int)len, c->argv[j]);
            return;
        }
    }
    if (user != 0) {
        if (!auth_check(c->node, c->argv[user], c->argv_len[user],
                        c->argv[user + 1], c->argv_len[user + 1])) {
            resp_reply_error(c->w, "WRONGPASS invalid username-password pair "
                                   "or user is disabled.");
            return;
        }
        s->authenticated = true;
    }
    if (session_needs_auth(s)) {
        resp_reply_error(c->w,
                         "NOAUTH HELLO must be called with the client already "
                         "authenticated, otherwise the HELLO AUTH "
                         "<user> <pass> option can be used to authenticate "
                         "the client and select the RESP protocol version at "
                         "the same time");
        return;
    }
    if (name != 0 &&
        session_setname(c, c->argv[name], c->argv_len[name]) != 0)
        return;
    if (ver != 0) {
        s->proto = (int)ver;
        s->w.proto = (int)ver;
    }
    hello_reply(c);
}

static void cmd_select(struct cmd_ctx *c)
{
    int64_t db;
    if (cairn_str_to_i64(c->argv[1], c->argv_len[1], &db) != 0) {
        resp_reply_error(c->w, CMD_ERR_NOT_INT);
        return;
    }
    if (db < 0 || db >= CAIRN_DB_COUNT) {
        resp_reply_error(c->w, "ERR DB index is out of range");
        return;
    }
    c->session->db = (int)db;
    resp_reply_ok(c->w);
}

static void cmd_time(struct cmd_ctx *c)
{
    int64_t ms = c->now_ms;
    resp_reply_array(c->w, 2);
    resp_reply_bulk_i64(c->w, ms / 1000);
    resp_reply_bulk_i64(c->w, (ms % 1000) * 1000);
}

static void cmd_lastsave(struct cmd_ctx *c)
{
    resp_reply_int(c->w, c->node->start_wall_ms / 1000);
}

static void cmd_shutdown(struct cmd_ctx *c)
{
    for (int i = 1; i < c->argc; i++) {
        if (cmd_arg_is(c, i, "abort")) {
            resp_reply_error(c->w, "ERR No shutdown in progress.");
            return;
        }
        if (!cmd_arg_is(c, i, "nosave") && !cmd_arg_is(c, i, "save") &&
            !cmd_arg_is(c, i, "now") && !cmd_arg_is(c, i, "force")) {
            resp_reply_error(c->w, CMD_ERR_SYNTAX);
            return;
        }
    }
    /* As Redis: no reply; the client sees the connection close. */
    c->session->close_after_reply = true;
    node_request_shutdown(c->node);
}

/* "POST" and "Host:" as a command mean an HTTP request (a browser tricked
 * into cross-protocol scripting): drop the connection without a reply, as
 * Redis does. */
static void cmd_security_warning(struct cmd_ctx *c)
{
    LOG_WARNING("Possible SECURITY ATTACK detected. It looks like somebody "
                "is sending POST or Host: commands to cairn. This is likely "
                "due to an attacker attempting to use Cross Protocol "
                "Scripting to compromise your server. Connection from %s "
                "aborted.", c->session != NULL ? c->session->addr : "?");
    if (c->session != NULL)
        c->session->closing = true;
}

/* ---- CLIENT ---- */

static void client_id(struct cmd_ctx *c)
{
    resp_reply_int(c->w, (int64_t)c->session->id);
}

static void client_setname(struct cmd_ctx *c)
{
    if (session_setname(c, c->argv[2], c->argv_len[2]) == 0)
        resp_reply_ok(c->w);
}

static void client_getname(struct cmd_ctx *c)
{
    const char *name = c->session->name;
    if (name == NULL)
        resp_reply_null(c->w);
    else
        resp_reply_bulk_str(c->w, name);
}

static void client_setinfo(struct cmd_ctx *c)
{
    struct session *s = c->session;
    char **slot;
    const char *what;
    if (cmd_arg_is(c, 2, "lib-name")) {
        slot = &s->lib_name;
        what = "lib-name";
    } else if (cmd_arg_is(c, 2, "lib-ver")) {
        slot = &s->lib_ver;
        what = "lib-ver";
    } else {
        size_t len = CAIRN_MIN(c->argv_len[2], (size_t)128);
        resp_reply_errorf(c->w, "ERR Unrecognized option '%.*s'", (int)len,
                          c->argv[2]);
        return;
    }
    if (!name_valid(c->argv[3], c->argv_len[3]) ||
        c->argv_len[3] > CAIRN_CLIENT_NAME_LEN_MAX) {
        resp_reply_errorf(c->w, "ERR %s cannot contain spaces, newlines or "
                                "special characters.", what);
        return;
    }
    if (set_string(slot, c->argv[3], c->argv_len[3]) != 0) {
        resp_reply_error(c->w, "ERR out of memory");
        return;
    }
    resp_reply_ok(c->w);
}

static void reply_text(struct cmd_ctx *c, struct buf *b)
{
    if (b->len == 0 && b->data == NULL)
        resp_reply_verbatim(c->w, "", 0);
    else
        resp_reply_verbatim(c->w, b->data, b->len);
}

static void client_list(struct cmd_ctx *c)
{
    struct node *n = c->node;
    bool normal_only = true;
    int ids_from = 0;
    if (c->argc == 4 && cmd_arg_is(c, 2, "type")) {
        normal_only = cmd_arg_is(c, 3, "normal");
    } else if (c->argc >= 4 && cmd_arg_is(c, 2, "id")) {
        ids_from = 3;
        for (int i = 3; i < c->argc; i++) {
            int64_t id;
            if (cairn_str_to_i64(c->argv[i], c->argv_len[i], &id) != 0 ||
                id <= 0) {
                resp_reply_error(c->w, "ERR Invalid client ID");
                return;
            }
        }
    } else if (c->argc != 2) {
        resp_reply_error(c->w, CMD_ERR_SYNTAX);
        return;
    }
    struct buf b;
    buf_init(&b, 0);
    uint64_t now = io_now_ms(n->io);
    for (struct session *s = n->head; s != NULL && normal_only; s = s->next) {
        bool want = ids_from == 0;
        for (int i = ids_from; i > 0 && i < c->argc && !want; i++) {
            int64_t id = 0;
            (void)cairn_str_to_i64(c->argv[i], c->argv_len[i], &id);
            want = (uint64_t)id == s->id;
        }
        if (want)
            session_describe(s, now, &b);
    }
    reply_text(c, &b);
    buf_free(&b);
}

static void client_info(struct cmd_ctx *c)
{
    struct buf b;
    buf_init(&b, 0);
    session_describe(c->session, io_now_ms(c->node->io), &b);
    reply_text(c, &b);
    buf_free(&b);
}

struct kill_filter {
    uint64_t id; /* 0: any */
    const char *addr;
    size_t addr_len;
    const char *laddr;
    size_t laddr_len;
    bool skipme;
    bool type_none; /* TYPE other than normal: matches nobody */
};

static bool kill_matches(const struct kill_filter *f, const struct session *s,
                         const struct session *me)
{
    if (f->skipme && s == me)
        return false;
    if (f->type_none)
        return false;
    if (f->id != 0 && s->id != f->id)
        return false;
    if (f->addr != NULL && (strlen(s->addr) != f->addr_len ||
                            memcmp(s->addr, f->addr, f->addr_len) != 0))
        return false;
    if (f->laddr != NULL && (strlen(s->laddr) != f->laddr_len ||
                             memcmp(s->laddr, f->laddr, f->laddr_len) != 0))
        return false;
    return true;
}

/* Parses the CLIENT KILL filter form; replies and returns an error. */
static int kill_filter_parse(struct cmd_ctx *c, struct kill_filter *f)
{
    if ((c->argc - 2) % 2 != 0) {
        resp_reply_error(c->w, CMD_ERR_SYNTAX);
        return CAIRN_EINVAL;
    }
    for (int i = 2; i < c->argc; i += 2) {
        const char *v = c->argv[i + 1];
        size_t vl = c->argv_len[i + 1];
        int64_t id;
        if (cmd_arg_is(c, i, "id")) {
            if (cairn_str_to_i64(v, vl, &id) != 0 || id <= 0) {
                resp_reply_error(c->w,
                                 "ERR client-id should be greater than 0");
                return CAIRN_EINVAL;
            }
            f->id = (uint64_t)id;
        } else if (cmd_arg_is(c, i, "addr")) {
            f->addr = v;
            f->addr_len = vl;
        } else if (cmd_arg_is(c, i, "laddr")) {
            f->laddr = v;
            f->laddr_len = vl;
        } else if (cmd_arg_is(c, i, "skipme")) {
            if (cmd_arg_is(c, i + 1, "yes")) {
                f->skipme = true;
            } else if (cmd_arg_is(c, i + 1, "no")) {
                f->skipme = false;
            } else {
                resp_reply_error(c->w, CMD_ERR_SYNTAX);
                return CAIRN_EINVAL;
            }
        } else if (cmd_arg_is(c, i, "type")) {
            if (cmd_arg_is(c, i + 1, "normal")) {
            } else if (cmd_arg_is(c, i + 1, "master") ||
                       cmd_arg_is(c, i + 1, "replica") ||
                       cmd_arg_is(c, i + 1, "slave") ||
                       cmd_arg_is(c, i + 1, "pubsub")) {
                f->type_none = true;
            } else {
                resp_reply_errorf(c->w, "ERR Unknown client type '%.*s'",
                                  (int)CAIRN_MIN(vl, (size_t)128), v);
                return CAIRN_EINVAL;
            }
        } else if (cmd_arg_is(c, i, "user")) {
            if (vl != 7 || memcmp(v, "default", 7) != 0)
                f->type_none = true;
        } else {
            resp_reply_error(c->w, CMD_ERR_SYNTAX);
            return CAIRN_EINVAL;
        }
    }
    return 0;
}

static void client_kill(struct cmd_ctx *c)
{
    struct kill_filter f = {.skipme = true};
    bool old_form = c->argc == 3;
    if (old_form) {
        f.addr = c->argv[2];
        f.addr_len = c->argv_len[2];
        f.skipme = false;
    } else if (kill_filter_parse(c, &f) != 0) {
        return;
    }
    int64_t killed = 0;
    struct session *next;
    for (struct session *s = c->node->head; s != NULL; s = next) {
        next = s->next;
        if (!kill_matches(&f, s, c->session))
            continue;
        killed++;
        if (s == c->session)
            s->close_after_reply = true; /* after this reply */
        else
            session_kill(s);
    }
    if (!old_form)
        resp_reply_int(c->w, killed);
    else if (killed == 0)
        resp_reply_error(c->w, "ERR No such client");
    else
        resp_reply_ok(c->w);
}

static void client_help(struct cmd_ctx *c)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, "
        "SKIPME.",
        "LIST [TYPE NORMAL|ID <id> ...]",
        "    Return information about client connections.",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Set client meta attributes.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

const struct subcommand cmd_client_subcommands[] = {
    {"id", 2, client_id},           {"setname", 3, client_setname},
    {"getname", 2, client_getname}, {"setinfo", 4, client_setinfo},
    {"list", -2, client_list},      {"info", 2, client_info},
    {"kill", -3, client_kill},      {"help", 2, client_help},
    {NULL, 0, NULL},
};

static void cmd_client(struct cmd_ctx *c)
{
    (void)cmd_subcommand_run(c, "client", cmd_client_subcommands);
}

bool cmd_container_check(struct cmd_ctx *c, const struct command *cmd)
{
    const char *container;
    const struct subcommand *table;
    if (cmd->proc == cmd_client) {
        container = "client";
        table = cmd_client_subcommands;
    } else if (cmd->proc == cmd_config) {
        container = "config";
        table = cmd_config_subcommands;
    } else if (cmd->proc == cmd_command && c->argc >= 2) {
        container = "command";
        table = cmd_command_subcommands;
    } else {
        return true;
    }
    return sub_resolve(c, container, table) != NULL;
}

/* ---- the table ---- */

#define CONN (CMD_CONNECTION | CMD_LOADING)

const struct command cmd_server_table[] = {
    {"auth", -2, CMD_NOAUTH | CMD_FAST | CONN, 0, 0, 0, cmd_auth,
     "connection", "Authenticates the connection."},
    {"client", -2, CONN, 0, 0, 0, cmd_client, "connection",
     "A container for client connection commands."},
    {"cluster", -2, CMD_LOADING, 0, 0, 0, cmd_cluster, "cluster",
     "A container for Redis Cluster commands."},
    {"command", -1, CONN, 0, 0, 0, cmd_command, "server",
     "Returns detailed information about all commands."},
    {"config", -2, CMD_ADMIN | CMD_LOADING, 0, 0, 0, cmd_config, "server",
     "A container for server configuration commands."},
    {"echo", 2, CMD_FAST | CONN, 0, 0, 0, cmd_echo, "connection",
     "Returns the given string."},
    {"hello", -1, CMD_NOAUTH | CMD_FAST | CONN, 0, 0, 0, cmd_hello,
     "connection", "Handshakes with the server."},
    {"host:", -1, CMD_NOAUTH | CMD_LOADING, 0, 0, 0, cmd_security_warning,
     "server", "Drops HTTP requests (cross-protocol scripting)."},
    {"info", -1, CMD_LOADING, 0, 0, 0, cmd_info, "server",
     "Returns information and statistics about the server."},
    {"lastsave", 1, CMD_FAST | CMD_LOADING, 0, 0, 0, cmd_lastsave, "server",
     "Returns the Unix timestamp of the last successful save to disk."},
    {"ping", -1, CMD_FAST | CONN, 0, 0, 0, cmd_ping, "connection",
     "Returns the server's liveliness response."},
    {"post", -1, CMD_NOAUTH | CMD_LOADING, 0, 0, 0, cmd_security_warning,
     "server", "Drops HTTP requests (cross-protocol scripting)."},
    {"quit", -1, CMD_NOAUTH | CMD_FAST | CONN, 0, 0, 0, cmd_quit,
     "connection", "Closes the connection."},
    {"readonly", 1, CMD_FAST | CONN, 0, 0, 0, cmd_readonly, "cluster",
     "Enables read-only queries on a replica connection."},
    {"readwrite", 1, CMD_FAST | CONN, 0, 0, 0, cmd_readwrite, "cluster",
     "Disables read-only queries on a replica connection."},
    {"select", 2, CMD_FAST | CONN, 0, 0, 0, cmd_select, "connection",
     "Changes the selected database."},
    {"shutdown", -1, CMD_ADMIN | CMD_LOADING, 0, 0, 0,
     cmd_shutdown, "server",
     "Synchronously saves the database(s) to disk and shuts down the server."},
    {"time", 1, CMD_FAST | CMD_LOADING, 0, 0, 0, cmd_time, "server",
     "Returns the server time."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
