/*
 * config.h: a node's settings, the one table that describes them, and the
 * redis.conf-style parser.
 *
 * The table (config_table) gives each setting its name, type, bounds,
 * default and whether it can change at run time.  The same table serves the
 * config file, the command line (--name value), CONFIG GET and CONFIG SET, so
 * the four can never disagree on a name, a bound or an error text.
 *
 * Everything here is pure: parsing reads bytes handed in by the caller and
 * writes a struct node_config; no file, clock or allocation is involved, so
 * the parser can be fuzzed as is.  Strings live in fixed arrays inside the
 * struct (bounded, copyable by assignment).
 */
#ifndef CAIRN_NODE_CONFIG_H
#define CAIRN_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

/* Longest value of a string setting (requirepass, bind, logfile, save). */
#define CONFIG_STR_MAX 512

/* Longest line or token of a config file; longer is a configuration error. */
#define CONFIG_LINE_MAX 4096

/* Error texts are at most this long (with the line they refer to). */
#define CONFIG_ERR_MAX 256

struct node_config {
    int64_t port;
    char bind[CONFIG_STR_MAX]; /* addresses separated by spaces */
    char requirepass[CONFIG_STR_MAX];
    uint64_t maxmemory;
    enum kv_policy maxmemory_policy;
    int64_t maxmemory_samples;
    int64_t maxclients;
    int64_t timeout_s; /* idle client timeout; 0: never */
    int64_t loglevel;  /* enum cairn_log_level */
    char logfile[CONFIG_STR_MAX]; /* "": standard output */
    int64_t hz;
    int64_t databases;
    uint64_t cob_normal_hard; /* client-output-buffer-limit normal class */
    uint64_t cob_normal_soft;
    int64_t cob_normal_soft_s;
    uint64_t query_buf_max; /* client-query-buffer-limit */
    uint64_t proto_max_bulk_len;
    uint64_t hash_seed; /* 0: drawn from io_random_seed at start */
    char save[CONFIG_STR_MAX]; /* accepted and reported; no effect yet */
    bool appendonly;           /* accepted and reported; no effect yet */
    bool daemonize;            /* only "no" is accepted */
    bool protected_mode;       /* accepted and reported; no effect */

    /* Replication (docs/design/cluster.md).  No cluster-peers: a single
     * node exactly as before. */
    uint64_t node_id;                   /* this node's id, > 0 with peers */
    char cluster_peers[CONFIG_STR_MAX]; /* "id@host:port,..." client ports */
    int64_t cluster_port;   /* peer port; 0: client port + 10000 */
    char cluster_secret[CONFIG_STR_MAX]; /* required with peers */
    int64_t durability;     /* enum config_durability */
    char dir[CONFIG_STR_MAX];           /* data directory (fsync mode) */
    int64_t election_timeout_ms; /* minimum; the maximum is twice it */
    int64_t heartbeat_ms;
    bool lease_reads;       /* leader serves reads on its lease */
    int64_t read_mode;      /* enum config_read_mode */
    bool cluster_redirect;  /* followers answer -MOVED instead of forwarding */
    int64_t snapshot_entries; /* applied entries between snapshots */
    /* Raft tuning (docs/design/cluster.md): entry bytes per AppendEntries
     * (soft: one entry always fits), AppendEntries in flight per follower,
     * CheckQuorum with leader stickiness (off: lease reads fall back to
     * ReadIndex). */
    int64_t raft_append_max_bytes;
    int64_t raft_inflight_max_msgs;
    bool raft_check_quorum;
};

enum config_durability {
    CONFIG_DURABILITY_FSYNC = 1,
    CONFIG_DURABILITY_MEMORY = 2,
};

enum config_read_mode {
    CONFIG_READ_LINEARIZABLE = 1, /* lease or ReadIndex, any node */
    CONFIG_READ_LOCAL = 2,        /* every node reads its own state */
};

/* One entry of cluster-peers. */
struct config_peer {
    uint64_t id;
    char host[64];
    uint16_t port; /* client port */
};

/* Parses a cluster-peers value ("id@host:port,id@host:port"; "" is no
 * peers) into out[0..max).  Returns the count, or -1 with *why set. */
int config_peers_parse(const char *v, struct config_peer *out, size_t max,
                       const char **why);

enum config_type {
    CONFIG_INT,    /* int64_t with bounds */
    CONFIG_U64,    /* uint64_t, plain digits */
    CONFIG_MEMORY, /* uint64_t with units: 100mb, 1gb, 4k */
    CONFIG_BOOL,   /* yes / no */
    CONFIG_STRING, /* char[CONFIG_STR_MAX] */
    CONFIG_SPECIAL /* own parse/format functions */
};

enum config_flags {
    CONFIG_IMMUTABLE = 1u << 0, /* file and command line only */
};

struct config_def {
    const char *name;
    enum config_type type;
    size_t offset; /* of the field in struct node_config */
    int64_t min;   /* bounds for INT and MEMORY */
    int64_t max;
    const char *default_value;
    unsigned flags;
    /* CONFIG_SPECIAL only: parse returns NULL or an error text. */
    const char *(*parse)(struct node_config *c, const char *value);
    void (*format)(const struct node_config *c, char *out, size_t out_len);
};

extern const struct config_def config_table[];
extern const size_t config_table_len;

/* Fills every setting with its default. */
void config_init(struct node_config *c);

/* Case-insensitive lookup of a setting; NULL if unknown. */
const struct config_def *config_find(const char *name, size_t len);

/*
 * Parses value into the setting def of c.  Returns NULL on success, else an
 * error text in Redis's words ("argument must be a memory value"); c is then
 * unchanged.  Does not check CONFIG_IMMUTABLE (the caller decides).
 */
const char *config_set_value(struct node_config *c,
                             const struct config_def *def, const char *value);

/* Formats the value of def as CONFIG GET shows it. */
void config_format(const struct node_config *c, const struct config_def *def,
                   char *out, size_t out_len);

/*
 * Parses a whole config file's text (len bytes, need not end in NUL) on top
 * of c.  Returns 0, or CAIRN_ECONFIG with err holding "line N: >>> 'text':
 * reason".  On error c may be partly updated (the caller exits).
 */
int config_load_text(struct node_config *c, const char *text, size_t len,
                     char *err, size_t err_len);

/*
 * Applies command-line options "--name value [value ...]" (argv[0..argc),
 * without the program name and config file).  Returns 0 or CAIRN_ECONFIG
 * with err set.
 */
int config_load_args(struct node_config *c, int argc, const char *const *argv,
                     char *err, size_t err_len);

/* Parses a memory value ("100mb", "1gb", "4096"); 0 or CAIRN_EINVAL. */
int config_parse_memory(const char *s, size_t len, uint64_t *out);

#endif
