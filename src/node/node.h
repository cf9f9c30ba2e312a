/*
 * node.h: a cairn node: the cache, its client sessions, command dispatch and
 * periodic work, running over a struct io.
 *
 * A node owns everything it uses (configuration copy, cache, sessions,
 * timers, listeners); there are no globals, so several nodes can share one
 * process (the simulator runs a cluster that way).  All entry points run on
 * the io's single thread, from io callbacks or from the host between them.
 *
 * Writes: every command flagged CMD_WRITE reaches the cache through
 * node_apply_write() and nothing else, with the timestamp chosen by the
 * caller.  Raft will later call the same function when it applies a
 * committed entry, so a replica's state is a function of the log alone.
 */
#ifndef CAIRN_NODE_NODE_H
#define CAIRN_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "node/config.h"
#include "resp/resp.h"

struct node;
struct kv;
struct cluster;

/*
 * Creates a node over io with a copy of cfg (its hash-seed 0 is replaced by
 * io_random_seed(io)) and arms its cron timer.  Does not listen; see
 * node_listen.  Returns 0, CAIRN_ENOMEM or CAIRN_ECONFIG.
 */
int node_new(struct node **out, struct io *io, const struct node_config *cfg);

/*
 * As node_new; with cluster-peers set the node joins a replicated group
 * whose peers it reaches through net (NULL: the real transport).  Returns
 * also CAIRN_ECONFIG for bad replication settings (logged).
 */
struct cluster_net;
int node_new_net(struct node **out, struct io *io,
                 const struct node_config *cfg, const struct cluster_net *net);

/* True once the node stopped itself because it cannot go on safely
 * (storage failure); the host exits with status 1. */
bool node_failed(const struct node *n);

/* The node's replicated group, NULL on a single node. */
struct cluster *node_cluster(struct node *n);

/* Closes every session, listener and timer and frees the node. */
void node_free(struct node *n);

/* Listens for clients on host:port (port 0: any free port).  Returns 0 or
 * the io error (CAIRN_EADDR when the address is taken or invalid). */
int node_listen(struct node *n, const char *host, uint16_t port);

/* Listeners opened by node_listen, for hosts that need the bound port. */
size_t node_listener_count(const struct node *n);
struct io_listener *node_listener(const struct node *n, size_t index);

/*
 * Called once when a client asks for SHUTDOWN.  The callback runs inside the
 * node's processing and must not free the node; it should stop the host's
 * loop, after which the host calls node_free.
 */
void node_set_shutdown_cb(struct node *n, void (*cb)(void *ctx), void *ctx);

/*
 * Executes a write command against the cache: argv[0] names a CMD_WRITE
 * command whose arity matches, db is the selected database, now_ms the
 * command's timestamp (Unix ms) and w receives the one reply.  The only path
 * by which writes reach the cache.
 */
void node_apply_write(struct node *n, int db, int argc,
                      const char *const *argv, const size_t *argv_len,
                      int64_t now_ms, struct resp_writer *w);

/* Runs one round of periodic work now (the cron timer calls this too):
 * active expiry within its CPU budget, idle rehashing, client timeouts. */
void node_cron(struct node *n);

struct kv *node_kv(struct node *n);
const struct node_config *node_config(const struct node *n);
size_t node_client_count(const struct node *n);

#endif
