/*
 * cmd_server_int.h: helpers shared by cmd_server.c and cmd_info.c (the
 * server and connection commands), private to src/node/.
 */
#ifndef CAIRN_NODE_CMD_SERVER_INT_H
#define CAIRN_NODE_CMD_SERVER_INT_H

#include <stdbool.h>

#include "node/command.h"

/* The Redis version cairn reports to clients (HELLO, INFO): the one whose
 * replies it reproduces, so clients enable the same features. */
#define CAIRN_REDIS_VERSION "7.0.15"

/* One subcommand of a container command (CLIENT, CONFIG, COMMAND); arity
 * counts the container name, as Redis does. */
struct subcommand {
    const char *name; /* lower case */
    int arity;
    cmd_proc proc;
};

/* True if argument i equals word, ignoring case. */
bool cmd_arg_is(const struct cmd_ctx *c, int i, const char *word);

/* Runs the subcommand named by argv[1] or replies with Redis's error for an
 * unknown subcommand or a wrong arity.  Returns 0 or CAIRN_ENOTFOUND. */
int cmd_subcommand_run(struct cmd_ctx *c, const char *container,
                       const struct subcommand *table);

/* Before the auth check, as Redis resolves subcommands first: for CLIENT,
 * CONFIG and COMMAND, checks that argv[1] names a subcommand whose arity
 * fits, replying with the error and returning false if not.  True for every
 * other command. */
bool cmd_container_check(struct cmd_ctx *c, const struct command *cmd);

/* The subcommand tables, ending with a NULL name. */
extern const struct subcommand cmd_client_subcommands[];
extern const struct subcommand cmd_config_subcommands[];
extern const struct subcommand cmd_command_subcommands[];

/* Replies with a NULL-terminated list of help lines as status strings. */
void cmd_reply_help(struct cmd_ctx *c, const char *const *lines);

/* cmd_cluster.c */
struct buf;
void cmd_cluster(struct cmd_ctx *c);
void cmd_readonly(struct cmd_ctx *c);
void cmd_readwrite(struct cmd_ctx *c);
void cluster_info_replication(struct node *n, struct buf *b);

/* cmd_info.c */
void cmd_info(struct cmd_ctx *c);
void cmd_config(struct cmd_ctx *c);
void cmd_command(struct cmd_ctx *c);

#endif
