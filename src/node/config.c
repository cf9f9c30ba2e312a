/*
 * config.c: the settings table and the redis.conf-style parser.
 *
 * File grammar (as redis.conf): one directive per line, "name arg [arg ...]",
 * blank lines and lines starting with '#' ignored, arguments split on blanks
 * with "double quotes" (C escapes, \xHH) and 'single quotes'.  A setting that
 * takes several words (save, bind, client-output-buffer-limit) receives them
 * joined by single spaces, which is also what CONFIG SET hands over; so each
 * setting has exactly one parse function.
 *
 * Invariants: every default in the table parses (config_init asserts it);
 * a failed parse leaves the struct unchanged (each parser validates fully
 * before it stores).  Bounded: lines and tokens are limited by
 * CONFIG_LINE_MAX, tokens per line by CONFIG_ARGS_MAX, the file by the caller
 * (CAIRN_CONFIG_FILE_SIZE_MAX).  No recursion, no allocation.
 */
#include "node/config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/log.h"

#define CONFIG_ARGS_MAX 64

#define FIELD(f) offsetof(struct node_config, f)

static const char *parse_policy(struct node_config *c, const char *v);
static void format_policy(const struct node_config *c, char *out, size_t n);
static const char *parse_loglevel(struct node_config *c, const char *v);
static void format_loglevel(const struct node_config *c, char *out, size_t n);
static const char *parse_cob(struct node_config *c, const char *v);
static void format_cob(const struct node_config *c, char *out, size_t n);
static const char *parse_save(struct node_config *c, const char *v);
static const char *parse_bind(struct node_config *c, const char *v);
static const char *parse_hz(struct node_config *c, const char *v);
static void format_hz(const struct node_config *c, char *out, size_t n);
static const char *parse_daemonize(struct node_config *c, const char *v);
static void format_daemonize(const struct node_config *c, char *out,
                             size_t n);
static const char *parse_peers(struct node_config *c, const char *v);
static const char *parse_durability(struct node_config *c, const char *v);
static void format_durability(const struct node_config *c, char *out,
                              size_t n);
static const char *parse_read_mode(struct node_config *c, const char *v);
static void format_read_mode(const struct node_config *c, char *out,
                             size_t n);

#define MEM_MAX ((int64_t)1 << 62)

/* Sorted by name only for readability; lookup is linear (the table is small
 * and only configuration paths use it). */
const struct config_def config_table[] = {
    {"appendonly", CONFIG_BOOL, FIELD(appendonly), 0, 0, "no", 0, NULL, NULL},
    {"bind", CONFIG_SPECIAL, FIELD(bind), 0, 0, "127.0.0.1", CONFIG_IMMUTABLE,
     parse_bind, NULL},
    {"cluster-peers", CONFIG_SPECIAL, FIELD(cluster_peers), 0, 0, "",
     CONFIG_IMMUTABLE, parse_peers, NULL},
    {"cluster-port", CONFIG_INT, FIELD(cluster_port), 0, 65535, "0",
     CONFIG_IMMUTABLE, NULL, NULL},
    {"cluster-redirect", CONFIG_BOOL, FIELD(cluster_redirect), 0, 0, "no", 0,
     NULL, NULL},
    {"cluster-secret", CONFIG_STRING, FIELD(cluster_secret), 0, 0, "",
     CONFIG_IMMUTABLE, NULL, NULL},
    {"client-output-buffer-limit", CONFIG_SPECIAL, 0, 0, 0,
     "normal 256mb 0 0", 0, parse_cob, format_cob},
    {"client-query-buffer-limit", CONFIG_MEMORY, FIELD(query_buf_max),
     1024 * 1024, MEM_MAX, "1gb", 0, NULL, NULL},
    {"daemonize", CONFIG_SPECIAL, FIELD(daemonize), 0, 0, "no",
     CONFIG_IMMUTABLE, parse_daemonize, format_daemonize},
    {"databases", CONFIG_INT, FIELD(databases), CAIRN_DB_COUNT,
     CAIRN_DB_COUNT, "16", CONFIG_IMMUTABLE, NULL, NULL},
    {"dir", CONFIG_STRING, FIELD(dir), 0, 0, ".", CONFIG_IMMUTABLE, NULL,
     NULL},
    {"durability", CONFIG_SPECIAL, FIELD(durability), 0, 0, "memory",
     CONFIG_IMMUTABLE, parse_durability, format_durability},
    {"election-timeout-ms", CONFIG_INT, FIELD(election_timeout_ms), 10,
     60000, "300", CONFIG_IMMUTABLE, NULL, NULL},
    {"hash-seed", CONFIG_U64, FIELD(hash_seed), 0, 0, "0", CONFIG_IMMUTABLE,
     NULL, NULL},
    {"heartbeat-ms", CONFIG_INT, FIELD(heartbeat_ms), 1, 30000, "50",
     CONFIG_IMMUTABLE, NULL, NULL},
    {"hz", CONFIG_SPECIAL, FIELD(hz), 0, 0, "10", 0, parse_hz, format_hz},
    {"logfile", CONFIG_STRING, FIELD(logfile), 0, 0, "", CONFIG_IMMUTABLE,
     NULL, NULL},
    {"lease-reads", CONFIG_BOOL, FIELD(lease_reads), 0, 0, "yes",
     CONFIG_IMMUTABLE, NULL, NULL},
    {"loglevel", CONFIG_SPECIAL, FIELD(loglevel), 0, 0, "notice", 0,
     parse_loglevel, format_loglevel},
    {"maxclients", CONFIG_INT, FIELD(maxclients), 1, UINT32_MAX, "10000", 0,
     NULL, NULL},
    {"maxmemory", CONFIG_MEMORY, FIELD(maxmemory), 0, MEM_MAX, "0", 0, NULL,
     NULL},
    {"maxmemory-policy", CONFIG_SPECIAL, FIELD(maxmemory_policy), 0, 0,
     "noeviction", 0, parse_policy, format_policy},
    {"maxmemory-samples", CONFIG_INT, FIELD(maxmemory_samples), 1, 64, "5", 0,
     NULL, NULL},
    {"node-id", CONFIG_U64, FIELD(node_id), 0, 0, "0", CONFIG_IMMUTABLE,
     NULL, NULL},
    {"port", CONFIG_INT, FIELD(port), 0, 65535, "6379", CONFIG_IMMUTABLE, NULL,
     NULL},
    {"protected-mode", CONFIG_BOOL, FIELD(protected_mode), 0, 0, "yes", 0,
     NULL, NULL},
    {"proto-max-bulk-len", CONFIG_MEMORY, FIELD(proto_max_bulk_len),
     1024 * 1024, MEM_MAX, "512mb", 0, NULL, NULL},
    {"raft-append-max-bytes", CONFIG_INT, FIELD(raft_append_max_bytes), 1,
     CAIRN_RAFT_INFLIGHT_BYTES_MAX, "1048576", CONFIG_IMMUTABLE, NULL, NULL},
    {"raft-inflight-max-msgs", CONFIG_INT, FIELD(raft_inflight_max_msgs), 1,
     CAIRN_RAFT_INFLIGHT_MSGS_MAX, "256", CONFIG_IMMUTABLE, NULL, NULL},
    {"raft-check-quorum", CONFIG_BOOL, FIELD(raft_check_quorum), 0, 0, "yes",
     CONFIG_IMMUTABLE, NULL, NULL},
    {"read-mode", CONFIG_SPECIAL, FIELD(read_mode), 0, 0, "linearizable", 0,
     parse_read_mode, format_read_mode},
    {"requirepass", CONFIG_STRING, FIELD(requirepass), 0, 0, "", 0, NULL,
     NULL},
    {"save", CONFIG_SPECIAL, FIELD(save), 0, 0, "", 0, parse_save, NULL},
    {"snapshot-entries", CONFIG_INT, FIELD(snapshot_entries), 1, INT32_MAX,
     "100000", CONFIG_IMMUTABLE, NULL, NULL},
    {"timeout", CONFIG_INT, FIELD(timeout_s), 0, INT32_MAX, "0", 0, NULL,
     NULL},
};
const size_t config_table_len = ARRAY_LEN(config_table);

const struct config_def *config_find(const char *name, size_t len)
{
    for (size_t i = 0; i < config_table_len; i++) {
        const char *n = config_table[i].name;
        if (strlen(n) == len && strncasecmp(n, name, len) == 0)
            return &config_table[i];
    }
    return NULL;
}

void config_init(struct node_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < config_table_len; i++) {
        const char *err =
            config_set_value(c, &config_table[i], config_table[i].default_value);
        ASSERT(err == NULL); /* defaults are valid by construction */
    }
}

int config_parse_memory(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CAIRN_EINVAL;
        v = v * 10 + d;
        i++;
    }
    if (i == 0)
        return CAIRN_EINVAL;
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1},          {"b", 1},
                 {"k", 1000},      {"kb", 1024},
                 {"m", 1000000},   {"mb", 1024 * 1024},
                 {"g", 1000000000}, {"gb", 1024ull * 1024 * 1024}};
    size_t ulen = len - i;
    for (size_t u = 0; u < ARRAY_LEN(units); u++) {
        if (strlen(units[u].unit) != ulen ||
            strncasecmp(s + i, units[u].unit, ulen) != 0)
            continue;
        if (v > UINT64_MAX / units[u].mul)
            return CAIRN_EINVAL;
        *out = v * units[u].mul;
        return 0;
    }
    return CAIRN_EINVAL;
}

static char *field_ptr(struct node_config *c, const struct config_def *d)
{
    return (char *)c + d->offset;
}

static const char *parse_int(struct node_config *c,
                             const struct config_def *d, const char *v)
{
    static char range_err[96];
    int64_t x;
    if (cairn_str_to_i64(v, strlen(v), &x) != 0)
        return "argument couldn't be parsed into an integer";
    if (x < d->min || x > d->max) {
        snprintf(range_err, sizeof(range_err),
                 "argument must be between %lld and %lld inclusive",
                 (long long)d->min, (long long)d->max);
        return range_err;
    }
    memcpy(field_ptr(c, d), &x, sizeof(x));
    return NULL;
}

static const char *parse_memory(struct node_config *c,
                                const struct config_def *d, const char *v)
{
    static char range_err[96];
    uint64_t x;
    if (config_parse_memory(v, strlen(v), &x) != 0)
        return "argument must be a memory value";
    if (x < (uint64_t)d->min || x > (uint64_t)d->max) {
        snprintf(range_err, sizeof(range_err),
                 "argument must be between %lld and %lld inclusive",
                 (long long)d->min, (long long)d->max);
        return range_err;
    }
    memcpy(field_ptr(c, d), &x, sizeof(x));
    return NULL;
}

static const char *parse_u64(struct node_config *c,
                             const struct config_def *d, const char *v)
{
    uint64_t x = 0;
    size_t n = strlen(v);
    if (n == 0 || n > 20)
        return "argument couldn't be parsed into an integer";
    for (size_t i = 0; i < n; i++) {
        unsigned dgt = (unsigned)(v[i] - '0');
        if (dgt > 9 || x > (UINT64_MAX - dgt) / 10)
            return "argument couldn't be parsed into an integer";
        x = x * 10 + dgt;
    }
    memcpy(field_ptr(c, d), &x, sizeof(x));
    return NULL;
}

static const char *parse_bool(struct node_config *c,
                              const struct config_def *d, const char *v)
{
    bool b;
    if (strcasecmp(v, "yes") == 0)
        b = true;
    else if (strcasecmp(v, "no") == 0)
        b = false;
    else
        return "argument must be 'yes' or 'no'";
    memcpy(field_ptr(c, d), &b, sizeof(b));
    return NULL;
}

static const char *parse_string(struct node_config *c,
                                const struct config_def *d, const char *v)
{
    size_t n = strlen(v);
    if (n >= CONFIG_STR_MAX)
        return "argument is too long";
    /* Zero the tail too: equal settings are equal bytes. */
    char *dst = field_ptr(c, d);
    memset(dst, 0, CONFIG_STR_MAX);
    memcpy(dst, v, n);
    return NULL;
}

const char *config_set_value(struct node_config *c,
                             const struct config_def *def, const char *value)
{
    ASSERT(def != NULL);
    ASSERT(value != NULL);
    switch (def->type) {
    case CONFIG_INT:
        return parse_int(c, def, value);
    case CONFIG_U64:
        return parse_u64(c, def, value);
    case CONFIG_MEMORY:
        return parse_memory(c, def, value);
    case CONFIG_BOOL:
        return parse_bool(c, def, value);
    case CONFIG_STRING:
        return parse_string(c, def, value);
    case CONFIG_SPECIAL:
        return def->parse(c, value);
    }
    UNREACHABLE();
}

void config_format(const struct node_config *c, const struct config_def *def,
                   char *out, size_t out_len)
{
    const char *p = (const char *)c + def->offset;
    int64_t i;
    uint64_t u;
    bool b;
    switch (def->type) {
    case CONFIG_INT:
        memcpy(&i, p, sizeof(i));
        snprintf(out, out_len, "%lld", (long long)i);
        return;
    case CONFIG_U64:
    case CONFIG_MEMORY:
        memcpy(&u, p, sizeof(u));
        snprintf(out, out_len, "%llu", (unsigned long long)u);
        return;
    case CONFIG_BOOL:
        memcpy(&b, p, sizeof(b));
        snprintf(out, out_len, "%s", b ? "yes" : "no");
        return;
    case CONFIG_STRING:
        snprintf(out, out_len, "%s", p);
        return;
    case CONFIG_SPECIAL:
        if (def->format != NULL)
            def->format(c, out, out_len);
        else
            snprintf(out, out_len, "%s", p); /* stored as a string */
        return;
    }
    UNREACHABLE();
}

/* ---- special settings ---- */

static const char *parse_policy(struct node_config *c, const char *v)
{
    enum kv_policy p;
    if (kv_policy_parse(v, &p) != 0)
        return "argument(s) must be one of the following: volatile-lru, "
               "volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, "
               "allkeys-lfu, allkeys-random, noeviction";
    c->maxmemory_policy = p;
    return NULL;
}

static void format_policy(const struct node_config *c, char *out, size_t n)
{
    snprintf(out, n, "%s", kv_policy_name(c->maxmemory_policy));
}

static const char *parse_loglevel(struct node_config *c, const char *v)
{
    enum cairn_log_level l;
    if (cairn_log_level_parse(v, &l) != 0)
        return "argument(s) must be one of the following: debug, verbose, "
               "notice, warning";
    c->loglevel = (int64_t)l;
    return NULL;
}

static void format_loglevel(const struct node_config *c, char *out, size_t n)
{
    snprintf(out, n, "%s",
             cairn_log_level_name((enum cairn_log_level)c->loglevel));
}

/* As Redis: any non-negative value is accepted and clamped to 1..500. */
static const char *parse_hz(struct node_config *c, const char *v)
{
    int64_t x;
    if (cairn_str_to_i64(v, strlen(v), &x) != 0)
        return "argument couldn't be parsed into an integer";
    if (x < 0 || x > INT32_MAX)
        return "argument must be between 0 and 2147483647 inclusive";
    c->hz = x < 1 ? 1 : x > 500 ? 500 : x;
    return NULL;
}

static void format_hz(const struct node_config *c, char *out, size_t n)
{
    snprintf(out, n, "%lld", (long long)c->hz);
}

static const char *parse_daemonize(struct node_config *c, const char *v)
{
    if (strcasecmp(v, "no") != 0)
        return "cairn does not daemonize; use your service manager";
    c->daemonize = false;
    return NULL;
}

static void format_daemonize(const struct node_config *c, char *out,
                             size_t n)
{
    (void)c;
    snprintf(out, n, "no");
}

/* Splits v on spaces into at most max words (pointers into copy, which
 * holds a NUL-separated copy of v).  Returns the count, or -1 if over. */
static int split_words(const char *v, char *copy, size_t copy_len,
                       const char **words, int max)
{
    size_t n = strlen(v);
    if (n >= copy_len)
        return -1;
    memcpy(copy, v, n + 1);
    int count = 0;
    char *p = copy;
    while (*p != '\0') {
        while (*p == ' ')
            *p++ = '\0';
        if (*p == '\0')
            break;
        if (count == max)
            return -1;
        words[count++] = p;
        while (*p != '\0' && *p != ' ')
            p++;
    }
    return count;
}

static const char *parse_cob(struct node_config *c, const char *v)
{
    char copy[CONFIG_STR_MAX];
    const char *w[CONFIG_ARGS_MAX];
    int n = split_words(v, copy, sizeof(copy), w, CONFIG_ARGS_MAX);
    if (n <= 0 || n % 4 != 0)
        return "Wrong number of arguments in buffer limit configuration.";
    struct node_config tmp = *c;
    for (int i = 0; i < n; i += 4) {
        bool normal = strcasecmp(w[i], "normal") == 0;
        if (!normal && strcasecmp(w[i], "replica") != 0 &&
            strcasecmp(w[i], "slave") != 0 && strcasecmp(w[i], "pubsub") != 0)
            return "Invalid client class specified in buffer limit "
                   "configuration.";
        uint64_t hard, soft;
        int64_t secs;
        if (config_parse_memory(w[i + 1], strlen(w[i + 1]), &hard) != 0 ||
            config_parse_memory(w[i + 2], strlen(w[i + 2]), &soft) != 0 ||
            cairn_str_to_i64(w[i + 3], strlen(w[i + 3]), &secs) != 0 ||
            secs < 0)
            return "Error in hard, soft or soft_seconds setting in buffer "
                   "limit configuration.";
        if (normal) {
            tmp.cob_normal_hard = hard;
            tmp.cob_normal_soft = soft;
            tmp.cob_normal_soft_s = secs;
        }
    }
    *c = tmp;
    return NULL;
}

static void format_cob(const struct node_config *c, char *out, size_t n)
{
    snprintf(out, n,
             "normal %llu %llu %lld slave 268435456 67108864 60 "
             "pubsub 33554432 8388608 60",
             (unsigned long long)c->cob_normal_hard,
             (unsigned long long)c->cob_normal_soft,
             (long long)c->cob_normal_soft_s);
}

static const char *parse_save(struct node_config *c, const char *v)
{
    char copy[CONFIG_STR_MAX];
    const char *w[CONFIG_ARGS_MAX];
    int n = split_words(v, copy, sizeof(copy), w, CONFIG_ARGS_MAX);
    if (n < 0 || n % 2 != 0)
        return "Invalid save parameters";
    char norm[CONFIG_STR_MAX];
    size_t len = 0;
    norm[0] = '\0';
    for (int i = 0; i < n; i++) {
        int64_t x;
        if (cairn_str_to_i64(w[i], strlen(w[i]), &x) != 0 || x < 0)
            return "Invalid save parameters";
        len += (size_t)snprintf(norm + len, sizeof(norm) - len, "%s%s",
                                i > 0 ? " " : "", w[i]);
    }
    ASSERT(len < sizeof(norm));
    memset(c->save, 0, sizeof(c->save));
    memcpy(c->save, norm, len);
    return NULL;
}

static const char *parse_bind(struct node_config *c, const char *v)
{
    char copy[CONFIG_STR_MAX];
    const char *w[CAIRN_BIND_ADDRS_MAX];
    int n = split_words(v, copy, sizeof(copy), w, CAIRN_BIND_ADDRS_MAX);
    if (n < 0)
        return "too many bind addresses";
    if (n == 0)
        return "bind needs at least one address";
    char norm[CONFIG_STR_MAX];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (strlen(w[i]) >= 64)
            return "bind address is too long";
        len += (size_t)snprintf(norm + len, sizeof(norm) - len, "%s%s",
                                i > 0 ? " " : "", w[i]);
    }
    ASSERT(len < sizeof(norm));
    memset(c->bind, 0, sizeof(c->bind));
    memcpy(c->bind, norm, len);
    return NULL;
}

/* ---- replication settings ---- */

/* Parses "host:port" (the last ':' splits, so bare IPv6 needs no brackets)
 * into p.  Returns NULL or the reason. */
static const char *parse_host_port(const char *s, size_t len,
                                   struct config_peer *p)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon == NULL || colon == s)
        return "peer address must be host:port";
    size_t hlen = (size_t)(colon - s);
    if (hlen >= sizeof(p->host))
        return "peer host is too long";
    int64_t port;
    size_t plen = len - hlen - 1;
    if (cairn_str_to_i64(colon + 1, plen, &port) != 0 || port < 1 ||
        port > 65535)
        return "peer port must be between 1 and 65535";
    memset(p->host, 0, sizeof(p->host));
    memcpy(p->host, s, hlen);
    p->port = (uint16_t)port;
    return NULL;
}

static const char *parse_one_peer(const char *s, size_t len,
                                  struct config_peer *p)
{
    const char *at = memchr(s, '@', len);
    if (at == NULL || at == s)
        return "each peer must be id@host:port";
    uint64_t id = 0;
    for (const char *d = s; d < at; d++) {
        unsigned dgt = (unsigned)(*d - '0');
        if (dgt > 9 || id > (UINT64_MAX - dgt) / 10)
            return "peer id must be a positive integer";
        id = id * 10 + dgt;
    }
    if (id == 0)
        return "peer id must be a positive integer";
    p->id = id;
    return parse_host_port(at + 1, len - (size_t)(at + 1 - s), p);
}

int config_peers_parse(const char *v, struct config_peer *out, size_t max,
                       const char **why)
{
    size_t n = 0;
    const char *p = v;
    *why = NULL;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == max) {
            *why = "too many peers";
            return -1;
        }
        struct config_peer peer;
        memset(&peer, 0, sizeof(peer));
        *why = parse_one_peer(p, len, &peer);
        if (*why != NULL)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (out[i].id == peer.id) {
                *why = "duplicate peer id";
                return -1;
            }
        }
        out[n++] = peer;
        p += len;
        if (*p == ',')
            p++;
    }
    return (int)n;
}

static const char *parse_peers(struct node_config *c, const char *v)
{
    struct config_peer peers[CAIRN_RAFT_MEMBERS_MAX];
    const char *why;
    if (strlen(v) >= CONFIG_STR_MAX)
        return "argument is too long";
    if (config_peers_parse(v, peers, CAIRN_RAFT_MEMBERS_MAX, &why) < 0)
        return why;
    memset(c->cluster_peers, 0, sizeof(c->cluster_peers));
    memcpy(c->cluster_peers, v, strlen(v));
    return NULL;
}

static const char *parse_durability(struct node_config *c, const char *v)
{
    if (strcasecmp(v, "fsync") == 0)
        c->durability = CONFIG_DURABILITY_FSYNC;
    else if (strcasecmp(v, "memory") == 0)
        c->durability = CONFIG_DURABILITY_MEMORY;
    else
        return "argument must be 'fsync' or 'memory'";
    return NULL;
}

static void format_durability(const struct node_config *c, char *out,
                              size_t n)
{
    snprintf(out, n, "%s",
             c->durability == CONFIG_DURABILITY_FSYNC ? "fsync" : "memory");
}

static const char *parse_read_mode(struct node_config *c, const char *v)
{
    if (strcasecmp(v, "linearizable") == 0)
        c->read_mode = CONFIG_READ_LINEARIZABLE;
    else if (strcasecmp(v, "local") == 0)
        c->read_mode = CONFIG_READ_LOCAL;
    else
        return "argument must be 'linearizable' or 'local'";
    return NULL;
}

static void format_read_mode(const struct node_config *c, char *out,
                             size_t n)
{
    snprintf(out, n, "%s",
             c->read_mode == CONFIG_READ_LOCAL ? "local" : "linearizable");
}

/* ---- the file and the command line ---- */

struct tokens {
    int argc;
    const char *argv[CONFIG_ARGS_MAX];
    char store[2 * CONFIG_LINE_MAX];
};

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Reads one double-quoted token starting after the quote at *pos.  Returns
 * NULL or an error. */
static const char *read_dquoted(const char *s, size_t len, size_t *pos,
                                char *out, size_t *olen)
{
    size_t i = *pos;
    for (;;) {
        if (i >= len)
            return "unbalanced quotes in configuration line";
        char ch = s[i];
        if (ch == '"') {
            i++;
            break;
        }
        if (ch == '\\' && i + 3 < len && s[i + 1] == 'x' &&
            hex_val(s[i + 2]) >= 0 && hex_val(s[i + 3]) >= 0) {
            out[(*olen)++] = (char)(hex_val(s[i + 2]) * 16 + hex_val(s[i + 3]));
            i += 4;
            continue;
        }
        if (ch == '\\' && i + 1 < len) {
            char e = s[i + 1];
            out[(*olen)++] = e == 'n'   ? '\n'
                             : e == 'r' ? '\r'
                             : e == 't' ? '\t'
                             : e == 'b' ? '\b'
                             : e == 'a' ? '\a'
                                        : e;
            i += 2;
            continue;
        }
        out[(*olen)++] = ch;
        i++;
    }
    if (i < len && s[i] != ' ' && s[i] != '\t')
        return "unbalanced quotes in configuration line";
    *pos = i;
    return NULL;
}

static const char *read_squoted(const char *s, size_t len, size_t *pos,
                                char *out, size_t *olen)
{
    size_t i = *pos;
    for (;;) {
        if (i >= len)
            return "unbalanced quotes in configuration line";
        if (s[i] == '\'') {
            i++;
            break;
        }
        if (s[i] == '\\' && i + 1 < len && s[i + 1] == '\'') {
            out[(*olen)++] = '\'';
            i += 2;
            continue;
        }
        out[(*olen)++] = s[i++];
    }
    if (i < len && s[i] != ' ' && s[i] != '\t')
        return "unbalanced quotes in configuration line";
    *pos = i;
    return NULL;
}

/* Splits a line (len <= CONFIG_LINE_MAX) into tokens, as redis.conf does. */
static const char *split_line(const char *s, size_t len, struct tokens *t)
{
    ASSERT(len <= CONFIG_LINE_MAX);
    size_t i = 0, used = 0;
    t->argc = 0;
    for (;;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i >= len)
            return NULL;
        if (t->argc == CONFIG_ARGS_MAX)
            return "too many arguments";
        char *out = t->store + used;
        size_t olen = 0;
        const char *err = NULL;
        if (s[i] == '"') {
            i++;
            err = read_dquoted(s, len, &i, out, &olen);
        } else if (s[i] == '\'') {
            i++;
            err = read_squoted(s, len, &i, out, &olen);
        } else {
            while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
                out[olen++] = s[i++];
        }
        if (err != NULL)
            return err;
        if (memchr(out, '\0', olen) != NULL)
            return "arguments must not contain NUL bytes";
        out[olen] = '\0';
        used += olen + 1;
        ASSERT(used <= sizeof(t->store));
        t->argv[t->argc++] = out;
    }
}

/* Applies one directive: argv[0] is the name, the rest its words. */
static const char *apply_directive(struct node_config *c, int argc,
                                   const char *const *argv)
{
    const struct config_def *d = config_find(argv[0], strlen(argv[0]));
    if (d == NULL || argc < 2)
        return "Bad directive or wrong number of arguments";
    bool multi = d->parse == parse_cob || d->parse == parse_save ||
                 d->parse == parse_bind;
    if (!multi && argc != 2)
        return "Bad directive or wrong number of arguments";
    char joined[CONFIG_STR_MAX];
    size_t len = 0;
    joined[0] = '\0';
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (len + n + 2 > sizeof(joined))
            return "argument is too long";
        if (i > 1)
            joined[len++] = ' ';
        memcpy(joined + len, argv[i], n + 1);
        len += n;
    }
    return config_set_value(c, d, joined);
}

static void config_error(char *err, size_t err_len, int line_no,
                         const char *line, size_t line_len, const char *why)
{
    int shown = (int)CAIRN_MIN(line_len, (size_t)80);
    snprintf(err, err_len, "line %d: >>> '%.*s': %s", line_no, shown, line,
             why);
}

int config_load_text(struct node_config *c, const char *text, size_t len,
                     char *err, size_t err_len)
{
    static struct tokens t; /* large; the parser is not re-entered */
    size_t pos = 0;
    int line_no = 0;
    while (pos < len) {
        line_no++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl != NULL ? 1 : 0);
        if (line_len > CONFIG_LINE_MAX) {
            config_error(err, err_len, line_no, line, line_len,
                         "line is too long");
            return CAIRN_ECONFIG;
        }
        const char *why = split_line(line, line_len, &t);
        if (why == NULL && (t.argc == 0 || t.argv[0][0] == '#'))
            continue;
        if (why == NULL)
            why = apply_directive(c, t.argc, t.argv);
        if (why != NULL) {
            config_error(err, err_len, line_no, line, line_len, why);
            return CAIRN_ECONFIG;
        }
    }
    return 0;
}

int config_load_args(struct node_config *c, int argc, const char *const *argv,
                     char *err, size_t err_len)
{
    const char *words[CONFIG_ARGS_MAX];
    int i = 0;
    while (i < argc) {
        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
            snprintf(err, err_len, "option '%.80s': expected --name", argv[i]);
            return CAIRN_ECONFIG;
        }
        int n = 0;
        words[n++] = argv[i] + 2;
        i++;
        while (i < argc && strncmp(argv[i], "--", 2) != 0) {
            if (n == CONFIG_ARGS_MAX) {
                snprintf(err, err_len, "option '%.80s': too many arguments",
                         words[0]);
                return CAIRN_ECONFIG;
            }
            words[n++] = argv[i++];
        }
        if (n == 1)
            words[n++] = ""; /* "--save" alone means an empty value */
        const char *why = apply_directive(c, n, words);
        if (why != NULL) {
            snprintf(err, err_len, "option '--%.80s': %s", words[0], why);
            return CAIRN_ECONFIG;
        }
    }
    return 0;
}
