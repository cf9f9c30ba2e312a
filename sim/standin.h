/*
 * standin.h: a stand-in for the cairn node, so the simulator's runner,
 * workload and checker can be exercised end to end before the real node
 * and Raft are wired in.  NOT part of cairn: a deliberately small,
 * single-node Redis-like server over struct io.
 *
 * It serves GET, SET [NX], DEL, INCR, APPEND and GETSET on string keys,
 * RESP2.  Durability: every write appends a checksummed record (the key's
 * new state) to "standin.log", and the reply waits for its fsync; commands
 * run one at a time, so nobody observes a write before it is durable.  On
 * start it replays the log up to the first torn or corrupt record, then
 * listens.  An I/O error is fatal: it calls fatal_cb (the runner crashes and
 * restarts it), which is the only safe answer to a failed fsync.
 *
 * Planted bugs (for proving the simulator catches them):
 *   bug_ack_before_fsync  replies and exposes a write before its fsync;
 *   bug_no_replay         forgets the log on restart.
 */
#ifndef CAIRN_SIM_STANDIN_H
#define CAIRN_SIM_STANDIN_H

#include <stdbool.h>
#include <stdint.h>

#include "io/io.h"

struct sim_standin_config {
    uint16_t port;
    bool bug_ack_before_fsync;
    bool bug_no_replay;
    void (*fatal_cb)(void *ctx, int status);
    void *fatal_ctx;
};

struct sim_standin;

/* Starts loading the log; listens once it is replayed.  Returns NULL only
 * on allocation failure. */
struct sim_standin *sim_standin_start(struct io *io,
                                      const struct sim_standin_config *cfg);
/* Closes every handle and frees; legal after the io crashed. */
void sim_standin_free(struct sim_standin *s);
/* Commands served and writes made durable since start. */
uint64_t sim_standin_commands(const struct sim_standin *s);

#endif
