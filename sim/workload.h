/*
 * workload.h: simulated Redis clients that drive a cluster and record what
 * they saw for the linearizability checker.
 *
 * Each client lives on its own host (its own sim_io, no disk), keeps one
 * connection to one server and one request outstanding.  It sends GET, SET,
 * DEL, INCR, APPEND, SET NX and GETSET on a small key space with values
 * unique per client and operation, in RESP2, and parses RESP2/RESP3 replies.
 *
 * Outcomes recorded in the history:
 *   - a reply: the result (integer, bulk, nil, OK; an INCR error saying
 *     "not an integer" or "overflow" counts as the model's error);
 *   - an error that means "not applied here" (MOVED, ASK, TRYAGAIN,
 *     CLUSTERDOWN, LOADING, NOTLEADER, READONLY, BUSY): the operation is
 *     withdrawn and the client moves to another server (MOVED's if given),
 *     unless its text says "may or may not" (cairn's TRYAGAIN after a lost
 *     leadership or a forwarding timeout): then the outcome is unknown;
 *   - a timeout, a broken connection, or any other error: unknown; the
 *     client reconnects.  Operations still pending at the end are unknown.
 * With ttl_pct > 0 a share of requests are side ops on keys "t0".."t3"
 * (SET .. PX 1..300, GET), not recorded: they make keys expire under
 * replication, for the replica-state check.  With admin_permille > 0 a
 * share are CLUSTER TRANSFER / DELNODE / ADDNODE of random servers:
 * leadership transfers and membership changes while faults are active.
 * With read_pct > 0 that share of the checked ops are GETs, the rest the
 * usual mix: read-mostly runs with long gaps between writes.
 * Values per key stay under LIN_VALUE_LEN_MAX: clients stop APPENDing to a
 * key that has grown past half of it.
 */
#ifndef CAIRN_SIM_WORKLOAD_H
#define CAIRN_SIM_WORKLOAD_H

#include <stdint.h>

#include "history.h"
#include "net.h"
#include "world.h"

struct sim_workload_config {
    unsigned clients;      /* client c runs on host first_host + c */
    unsigned first_host;
    unsigned servers;      /* servers are hosts 0..servers-1 */
    uint16_t port;         /* the servers' client port */
    unsigned keys;         /* key space: "k0".."k<keys-1>" */
    uint64_t think_us_max; /* pause between a reply and the next request */
    uint64_t timeout_ms;   /* no reply by then: unknown, reconnect */
    unsigned ttl_pct;      /* share of side ops on TTL keys (0: none) */
    unsigned read_pct;     /* GETs among checked ops (0: the usual mix) */
    unsigned admin_permille; /* CLUSTER TRANSFER/DELNODE/ADDNODE side ops */
    bool admin_no_self_add;  /* never ADDNODE the server the client is on */
    bool admin_transfer_only; /* no membership changes, only transfers */
    /* Optional: may a DELNODE (add false) or ADDNODE (add true) of server
     * target be sent now?  A refused one is sent as a TRANSFER instead (no
     * other draw changes). */
    bool (*may_change)(void *ctx, unsigned target, bool add);
    void *change_ctx;
};

struct sim_workload_stats {
    uint64_t sent;
    uint64_t replied;      /* definite results recorded */
    uint64_t unknown;      /* timeouts and broken connections */
    uint64_t redirected;   /* withdrawn "not applied" errors */
    uint64_t other_errors; /* unexpected errors (recorded as unknown) */
    uint64_t connects_failed;
    uint64_t side_ops;     /* side ops answered (not in the history) */
    uint64_t admin_ops;    /* admin side ops sent */
    char first_error[96];  /* text of the first unexpected error, if any */
    char last_redirect[96]; /* text of the last redirect, if any */
};

struct sim_workload;

/* Creates the clients (not started).  history receives every operation. */
struct sim_workload *sim_workload_new(struct sim_world *w, struct sim_net *net,
                                      struct sim_history *history,
                                      const struct sim_workload_config *cfg);
/* Closes every connection and frees the clients. */
void sim_workload_free(struct sim_workload *wl);
void sim_workload_start(struct sim_workload *wl);
/* No new requests; those in flight still complete. */
void sim_workload_stop(struct sim_workload *wl);
void sim_workload_stats_get(const struct sim_workload *wl,
                            struct sim_workload_stats *out);

#endif
