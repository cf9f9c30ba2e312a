/*
 * limits.h: every named maximum in cairn, each with why it is what it is and
 * what happens when it is reached.  Runtime-configurable limits have their
 * default here and their setting in the config table.
 */
#ifndef CAIRN_CORE_LIMITS_H
#define CAIRN_CORE_LIMITS_H

#include <stdint.h>

/* --- client protocol (defaults match Redis so clients behave the same) --- */

/* proto-max-bulk-len: largest bulk string a client may send.  Over it: the
 * client gets "-ERR Protocol error: invalid bulk length" and is closed. */
#define CAIRN_PROTO_BULK_LEN_MAX_DEFAULT (512ull * 1024 * 1024)

/* Most arguments in one multibulk command; over it: protocol error, close. */
#define CAIRN_PROTO_ARGC_MAX (1024 * 1024)

/* Longest inline command line (Redis: 64 KiB); over it: protocol error. */
#define CAIRN_PROTO_INLINE_LEN_MAX (64 * 1024)

/* client-query-buffer-limit: bytes of one client's unprocessed input.  Over
 * it: the client is closed and the event is logged. */
#define CAIRN_QUERY_BUF_MAX_DEFAULT (1024ull * 1024 * 1024)

/* Output buffer hard limit for a normal client that does not read its
 * replies (client-output-buffer-limit normal, here on by default): past it
 * the client is disconnected rather than growing memory without bound. */
#define CAIRN_OUTPUT_BUF_MAX_DEFAULT (256ull * 1024 * 1024)

/* maxclients default, as Redis; over it: "-ERR max number of clients
 * reached" and close. */
#define CAIRN_CLIENTS_MAX_DEFAULT 10000

/* Longest CLIENT SETNAME / SETINFO value we keep. */
#define CAIRN_CLIENT_NAME_LEN_MAX 1024

/* Largest config file we read; a larger one is a configuration error. */
#define CAIRN_CONFIG_FILE_SIZE_MAX (1024 * 1024)

/* --- cache engine --- */

/* SELECT 0..CAIRN_DB_COUNT-1, as Redis's default "databases 16". */
#define CAIRN_DB_COUNT 16

/* Keys examined per call of the active expiry cycle before checking the CPU
 * budget again. */
#define CAIRN_EXPIRE_SAMPLE_KEYS 20

/* Keys sampled for approximated LRU/LFU/TTL eviction (maxmemory-samples). */
#define CAIRN_EVICT_SAMPLES_DEFAULT 5

/* Longest string value (Redis's 512 MB); SETRANGE/APPEND past it: error. */
#define CAIRN_STRING_LEN_MAX (512ull * 1024 * 1024)

/* SCAN COUNT upper bound per call, so one call cannot stall the loop. */
#define CAIRN_SCAN_COUNT_MAX 100000

/* --- replication (raft) --- */

/* Entries and bytes in flight to one follower before we wait for acks. */
#define CAIRN_RAFT_INFLIGHT_MSGS_MAX 256
#define CAIRN_RAFT_INFLIGHT_BYTES_MAX (16u * 1024 * 1024)

/* Largest single log entry a proposal may carry; over it: CAIRN_ETOOBIG. */
#define CAIRN_RAFT_ENTRY_SIZE_MAX (64u * 1024 * 1024)

/* Largest encoded peer message accepted from the wire. */
#define CAIRN_RAFT_MSG_SIZE_MAX (128u * 1024 * 1024)

/* Voters plus learners in one group. */
#define CAIRN_RAFT_MEMBERS_MAX 16

/* --- node, sessions and the libuv binding --- */

/* Bytes read from a socket per read call, into one buffer shared by all
 * connections (the loop is single-threaded).  Larger pipelines simply take
 * several reads. */
#define CAIRN_IO_READ_CHUNK (64 * 1024)

/* Capacity of a connection's write buffer kept after a burst; above it the
 * memory is returned once the buffer drains. */
#define CAIRN_IO_WRITE_BUF_KEEP (1024 * 1024)

/* Replies a session collects before handing them to the socket mid-batch, so
 * a long pipeline does not hold a huge reply buffer. */
#define CAIRN_SESSION_FLUSH_BYTES (64 * 1024)

/* Output queued in the socket layer past which a session stops executing
 * commands and stops reading (backpressure) until the queue drains. */
#define CAIRN_SESSION_PAUSE_BYTES (4 * 1024 * 1024)

/* Query buffer capacity an idle session keeps; the rest is released by cron. */
#define CAIRN_SESSION_QUERY_BUF_KEEP (32 * 1024)

/* Rounds of the active expiry cycle per cron tick, on top of its CPU budget,
 * so a stalled clock cannot make the loop unbounded. */
#define CAIRN_CRON_EXPIRE_ROUNDS_MAX 10000

/* Addresses one "bind" directive may list. */
#define CAIRN_BIND_ADDRS_MAX 16

/* --- client protocol, added with src/resp --- */

/* Before AUTH (when a password is required), Redis refuses commands with more
 * arguments or longer bulks than these, so an unauthenticated client cannot
 * make the server buffer much: protocol error, close. */
#define CAIRN_PROTO_UNAUTH_ARGC_MAX 10
#define CAIRN_PROTO_UNAUTH_BULK_LEN_MAX 16384

/* Argument slots a parser keeps between commands; a bigger array (left by a
 * command with many arguments) is freed before the next command. */
#define CAIRN_PROTO_ARGS_KEEP 1024

/* --- replicated node (src/node/cluster*.c) --- */

/* Commands of one session waiting for replication before it stops reading:
 * a deep pipeline is still batched, memory per client stays bounded. */
#define CAIRN_CLUSTER_SESSION_OPS_MAX 4096
/* Commands forwarded to the leader and not yet answered, per peer; over it
 * the command gets -TRYAGAIN at once (the leader is overloaded). */
#define CAIRN_CLUSTER_FWD_INFLIGHT_MAX 65536
/* Commands in one forwarded frame (and replies in one answer frame). */
#define CAIRN_CLUSTER_FRAME_CMDS_MAX 4096
/* One log entry takes commands until it holds this many bytes or commands;
 * then the next entry starts (many entries still go in one append). */
#define CAIRN_CLUSTER_ENTRY_BYTES_SOFT (1024 * 1024)
#define CAIRN_CLUSTER_ENTRY_CMDS_MAX 1024
/* Expired keys the leader proposes DELs for per cron tick. */
#define CAIRN_CLUSTER_EXPIRE_KEYS_MAX 256
/* Keys the leader proposes to evict per cron tick while over maxmemory
 * (one entry; the next only after it applied). */
#define CAIRN_CLUSTER_EVICT_KEYS_MAX 1024
/* Snapshot bytes serialized per tick while applies go on (about 20 MB/s at
 * a 50 ms tick, bounded work per event-loop turn). */
#define CAIRN_CLUSTER_SNAPSHOT_CHUNK (1024 * 1024)

#endif
