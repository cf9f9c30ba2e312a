/*
 * command.h: the command table and the context a command runs in.
 *
 * Every command is a struct command row: name, arity (Redis convention:
 * N means exactly N arguments including the name, -N means at least N),
 * flags, key positions (for routing to shards later) and a proc.
 *
 * A command proc reads its arguments from the context, touches only the
 * state reachable from it, and writes exactly one reply.  Commands flagged
 * CMD_WRITE are applied by cmd_apply(): their result is a deterministic
 * function of (cache state, argv, ctx->now_ms), never of a clock read, so a
 * Raft replica applying the same committed entry reaches the same state.
 *
 * New command groups live in their own file (cmd_string.c, cmd_keys.c, ...)
 * and export a table ending with a row whose name is NULL.
 */
#ifndef CAIRN_NODE_COMMAND_H
#define CAIRN_NODE_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "resp/resp.h"

struct kv;
struct session;
struct node;

enum cmd_flags {
    CMD_WRITE = 1u << 0,     /* modifies the cache: goes through apply */
    CMD_READONLY = 1u << 1,  /* reads the cache only */
    CMD_DENYOOM = 1u << 2,   /* may grow memory: refused with -OOM when full */
    CMD_ADMIN = 1u << 3,     /* operator command (CONFIG, SHUTDOWN, ...) */
    CMD_NOAUTH = 1u << 4,    /* allowed before AUTH (AUTH, HELLO, QUIT) */
    CMD_FAST = 1u << 5,      /* O(1) or O(log N) */
    CMD_LOADING = 1u << 6,   /* allowed while loading */
    CMD_CONNECTION = 1u << 7, /* acts on the connection, not the cache */
};

struct cmd_ctx {
    struct node *node;       /* NULL when applied outside a node (tests) */
    struct session *session; /* NULL when applied from the replicated log */
    struct kv *kv;
    int db;                  /* selected database, 0..CAIRN_DB_COUNT-1 */
    int argc;
    const char *const *argv; /* argv[i] is argv_len[i] bytes, not NUL-ended */
    const size_t *argv_len;
    int64_t now_ms;          /* the command's timestamp (Unix ms) */
    struct resp_writer *w;   /* where the one reply goes */
};

typedef void (*cmd_proc)(struct cmd_ctx *c);

struct command {
    const char *name; /* lower case */
    int arity;
    uint32_t flags;
    int key_first; /* 0: no keys */
    int key_last;  /* -1: last argument */
    int key_step;
    cmd_proc proc;
    const char *group;   /* "string", "generic", "server", "connection" */
    const char *summary; /* one line for COMMAND DOCS */
};

/* Tables exported by each command file; each ends with a NULL-name row. */
extern const struct command cmd_string_table[];
extern const struct command cmd_keys_table[];
extern const struct command cmd_server_table[];

/* Case-insensitive lookup in all tables; NULL if unknown. */
const struct command *cmd_lookup(const char *name, size_t len);

/* Calls visit for each command, in a fixed order (COMMAND, COMMAND COUNT). */
void cmd_foreach(void (*visit)(void *ctx, const struct command *cmd),
                 void *ctx);

/* True if argc fits the command's arity. */
int cmd_arity_ok(const struct command *cmd, int argc);

/* Shared reply texts, so every command answers with Redis's exact words. */
#define CMD_ERR_SYNTAX "ERR syntax error"
#define CMD_ERR_WRONGTYPE \
    "WRONGTYPE Operation against a key holding the wrong kind of value"
#define CMD_ERR_NOT_INT "ERR value is not an integer or out of range"
#define CMD_ERR_NOT_FLOAT "ERR value is not a valid float"
#define CMD_ERR_OVERFLOW "ERR increment or decrement would overflow"
#define CMD_ERR_NO_SUCH_KEY "ERR no such key"
#define CMD_ERR_OOM "OOM command not allowed when used memory > 'maxmemory'."

#endif
