/*
 * kv.h: the cache state machine of a node: 16 databases of string keys with
 * TTLs, memory accounting and maxmemory eviction.
 *
 * Determinism: no function here reads a clock or a global random source.
 * Time arrives as now_ms on every call that can observe expiry, and the only
 * randomness (eviction sampling, the LFU counter, RANDOMKEY) comes from a
 * cairn_rng seeded from kv_config.hash_seed.  Every mutating call is a pure
 * function of (state, arguments, now_ms), so replicas applying the same log
 * reach the same kv_digest().
 *
 * Expiry: a key whose expire time is < now_ms is absent to every call.  A
 * write path that meets such a key deletes it as part of its own effect.  A
 * read path deletes it only if kv_config.lazy_expire_on_read (single node);
 * Raft followers set it false and wait for the leader's DEL.
 *
 * Entry handles: lookups return a struct kv_entry pointer that stays valid
 * until the next call that mutates or deletes that key, or evicts, expires or
 * flushes.  Lookups of other keys (and the rehash step they perform) never
 * move entries.
 *
 * Errors: CAIRN_ENOMEM when an allocation fails; the state is then unchanged.
 */
#ifndef CAIRN_KV_KV_H
#define CAIRN_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;
struct kv_entry;

enum kv_policy {
    KV_POLICY_NOEVICTION = 0,
    KV_POLICY_ALLKEYS_LRU,
    KV_POLICY_ALLKEYS_LFU,
    KV_POLICY_ALLKEYS_RANDOM,
    KV_POLICY_VOLATILE_LRU,
    KV_POLICY_VOLATILE_LFU,
    KV_POLICY_VOLATILE_RANDOM,
    KV_POLICY_VOLATILE_TTL,
};

/* Parses a Redis policy name ("allkeys-lru", case-insensitive); returns 0
 * or CAIRN_EINVAL. */
int kv_policy_parse(const char *name, enum kv_policy *out);
const char *kv_policy_name(enum kv_policy policy);

struct kv_config {
    uint64_t hash_seed;       /* table hash seed; also seeds the rng */
    uint64_t maxmemory;       /* bytes; 0: no limit */
    enum kv_policy policy;
    int maxmemory_samples;    /* <= 0: CAIRN_EVICT_SAMPLES_DEFAULT */
    bool lazy_expire_on_read; /* true on a single node, false on followers */
    /* Optional; kv_config_default() fills Redis's defaults. */
    int lfu_log_factor;       /* Redis lfu-log-factor (default 10) */
    int lfu_decay_time;       /* minutes per decay step; 0: never (default 1) */
    uint64_t string_len_max;  /* proto-max-bulk-len; 0: CAIRN_STRING_LEN_MAX */
};

void kv_config_default(struct kv_config *cfg);

/* Returns NULL on allocation failure. */
struct kv *kv_new(const struct kv_config *cfg);
void kv_free(struct kv *kv);
/* Applies a changed configuration; hash_seed is fixed at kv_new. */
void kv_config_update(struct kv *kv, const struct kv_config *cfg);
const struct kv_config *kv_config_get(const struct kv *kv);

/* ---- sizes and statistics ---- */

uint64_t kv_dbsize(const struct kv *kv, int db);
uint64_t kv_expires_count(const struct kv *kv, int db);
/* Average remaining TTL in ms of keys with a TTL in db (0 if none),
 * estimated from at most 1024 of them. */
uint64_t kv_avg_ttl(const struct kv *kv, int db, int64_t now_ms);
/* Bytes held by keys, values, tables and the expiry index. */
size_t kv_memory_used(const struct kv *kv);

struct kv_stats {
    uint64_t expired_keys;  /* deleted because their TTL passed */
    uint64_t evicted_keys;  /* deleted by maxmemory */
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
    uint64_t expire_cycle_keys_checked;
};
void kv_stats_get(const struct kv *kv, struct kv_stats *out);
void kv_stats_reset(struct kv *kv);

/* Order-independent hash of every database's keys, values and TTLs (not of
 * LRU/LFU metadata or encodings).  Equal states give equal digests. */
uint64_t kv_digest(const struct kv *kv);
/* As kv_digest but leaving out keys expired at now_ms, so a node that has
 * lazily deleted expired keys and one that has not still agree. */
uint64_t kv_digest_live(const struct kv *kv, int64_t now_ms);

/* ---- background work, called by the node ---- */

/* Evicts keys by the policy until memory is within maxmemory.  Returns 0 when
 * within the limit, CAIRN_EFULL when over it and nothing can be evicted
 * (noeviction, or no key the policy may take). */
int kv_evict(struct kv *kv, int64_t now_ms);
/* As kv_evict but evicts at most keys_max keys; CAIRN_EAGAIN if still over
 * the limit after that. */
int kv_evict_budget(struct kv *kv, int64_t now_ms, size_t keys_max);
/* True when maxmemory is set and memory is above it. */
bool kv_over_maxmemory(const struct kv *kv);

/* Active expiry: examines at most keys_max keys with a TTL (round-robin over
 * databases) and deletes the expired ones.  Returns the number deleted. */
size_t kv_expire_cycle(struct kv *kv, int64_t now_ms, size_t keys_max);

/* Replicated mode: visits (without deleting) up to keys_max expired keys,
 * continuing round-robin where the last call stopped, so a Raft leader can
 * propose a DEL for each instead of deleting on its own.  Returns the number
 * visited.  visit must not mutate the kv. */
typedef void (*kv_key_cb)(void *ctx, int db, const char *key, size_t klen);
size_t kv_expire_scan(struct kv *kv, int64_t now_ms, size_t keys_max,
                      kv_key_cb visit_cb, void *ctx);

/* Performs up to steps bucket moves of incremental rehashing across dbs. */
void kv_rehash_idle(struct kv *kv, size_t steps);
/* True if any database is in the middle of rehashing. */
bool kv_rehashing(const struct kv *kv);

void kv_flushdb(struct kv *kv, int db);
void kv_flushall(struct kv *kv);
/* Exchanges the contents of two databases. */
void kv_swapdb(struct kv *kv, int db1, int db2);

/* ---- entries ---- */

enum kv_type {
    KV_TYPE_STRING = 0,
    /* Lists, hashes, sets come later; the field has 4 bits. */
};

enum kv_encoding {
    KV_ENC_INT = 0, /* canonical int64 stored as an integer */
    KV_ENC_EMB = 1, /* bytes inside the entry allocation */
    KV_ENC_RAW = 2, /* bytes in a separate growable buffer */
};

#define KV_NO_EXPIRE (-1)

enum kv_lookup_flags {
    KV_LOOKUP_NOTOUCH = 1u << 0, /* do not update LRU/LFU */
    KV_LOOKUP_NOSTATS = 1u << 1, /* do not count a hit or miss */
    KV_LOOKUP_EXPIRE = 1u << 2,  /* delete an expired key even on a follower:
                                    for the read part of a write command */
};

/* Read lookup: an expired key is absent (and deleted if
 * lazy_expire_on_read).  Counts a hit or miss and touches LRU/LFU unless
 * flags say otherwise. */
struct kv_entry *kv_lookup_read(struct kv *kv, int db, const void *key,
                                size_t klen, int64_t now_ms, unsigned flags);
/* Write lookup: an expired key is deleted.  Touches LRU/LFU, no stats. */
struct kv_entry *kv_lookup_write(struct kv *kv, int db, const void *key,
                                 size_t klen, int64_t now_ms);
/* True if key exists and is not expired (no side effects at all). */
bool kv_exists(const struct kv *kv, int db, const void *key, size_t klen,
               int64_t now_ms);

const char *kv_entry_key(const struct kv_entry *e, size_t *len);
enum kv_type kv_entry_type(const struct kv_entry *e);
enum kv_encoding kv_entry_encoding(const struct kv_entry *e);
/* Redis's OBJECT ENCODING name: "int", "embstr" or "raw". */
const char *kv_entry_encoding_name(const struct kv_entry *e);
/* Expire time in Unix ms, or KV_NO_EXPIRE. */
int64_t kv_entry_expire(const struct kv_entry *e);
/* The string value.  For an int-encoded value the digits are written to tmp
 * (at least 21 bytes) and tmp is returned. */
const char *kv_entry_str(const struct kv_entry *e, char *tmp, size_t *len);
/* Length of the string value without formatting it. */
size_t kv_entry_strlen(const struct kv_entry *e);
/* True and *out set if the value is an int64 (int-encoded or parseable). */
bool kv_entry_int(const struct kv_entry *e, int64_t *out);
/* Bytes the entry holds (entry, value buffer, its table slot share). */
size_t kv_entry_memory(const struct kv_entry *e);
/* Seconds since last access (LRU policies) and the LFU counter. */
uint64_t kv_entry_idle_s(const struct kv *kv, const struct kv_entry *e,
                         int64_t now_ms);
uint8_t kv_entry_lfu(const struct kv *kv, const struct kv_entry *e,
                     int64_t now_ms);

/* ---- mutations (keys must not point into the kv's own memory unless
 * stated) ---- */

enum kv_set_flags {
    KV_SET_KEEPTTL = 1u << 0, /* keep the existing TTL (expire_ms ignored) */
    KV_SET_NOINT = 1u << 1,   /* store the bytes as a string even if they
                                 are a canonical integer (INCRBYFLOAT) */
};

/* Sets key to a string value (int-encoded when canonical), replacing any
 * value.  expire_ms: absolute Unix ms or KV_NO_EXPIRE.  The caller deletes
 * instead when expire_ms is already past.  value may point into the old
 * entry of the same key.  Returns 0 or CAIRN_ENOMEM. */
int kv_set(struct kv *kv, int db, const void *key, size_t klen,
           const void *val, size_t vlen, int64_t expire_ms, unsigned flags,
           int64_t now_ms);
/* Sets key to an int64 value, keeping its TTL.  Returns 0 or ENOMEM. */
int kv_set_int(struct kv *kv, int db, const void *key, size_t klen,
               int64_t v, int64_t now_ms);
/* Appends to the string at key (created if absent, TTL kept); the value
 * becomes "raw".  *len_out gets the new length.  0 or ENOMEM. */
int kv_append(struct kv *kv, int db, const void *key, size_t klen,
              const void *data, size_t len, int64_t now_ms, size_t *len_out);
/* Writes data at offset, zero-padding; the key is created if absent.  The
 * caller checks offset + len against the string limit.  0 or ENOMEM. */
int kv_setrange(struct kv *kv, int db, const void *key, size_t klen,
                size_t offset, const void *data, size_t len, int64_t now_ms,
                size_t *len_out);
/* Deletes key if present (an expired key counts as absent but is removed).
 * Returns true if a live key was deleted. */
bool kv_delete(struct kv *kv, int db, const void *key, size_t klen,
               int64_t now_ms);
/* Sets or replaces the TTL of a live key.  Returns 0, CAIRN_ENOTFOUND or
 * CAIRN_ENOMEM. */
int kv_expire_set(struct kv *kv, int db, const void *key, size_t klen,
                  int64_t expire_ms, int64_t now_ms);
/* Removes the TTL; returns true if the key had one. */
bool kv_persist(struct kv *kv, int db, const void *key, size_t klen,
                int64_t now_ms);
/* Moves src to dst (dst replaced) keeping value and TTL; db1/db2 may differ.
 * Returns 0, CAIRN_ENOTFOUND (no src) or CAIRN_ENOMEM. */
int kv_rename(struct kv *kv, int src_db, const void *src, size_t src_len,
              int dst_db, const void *dst, size_t dst_len, int64_t now_ms);
/* Copies src to dst with its TTL.  A live dst is replaced if replace, else
 * the call fails with CAIRN_EEXIST.  Returns 0, CAIRN_ENOTFOUND (no src),
 * CAIRN_EEXIST or CAIRN_ENOMEM (state unchanged). */
int kv_copy(struct kv *kv, int src_db, const void *src, size_t src_len,
            int dst_db, const void *dst, size_t dst_len, bool replace,
            int64_t now_ms);

/* A random live key of db or NULL (read semantics for expired keys). */
struct kv_entry *kv_random_key(struct kv *kv, int db, int64_t now_ms);

/* SCAN: visits the entries of one cursor step (one bucket of the smaller
 * table and its expansions) and returns the next cursor (0: done).  Every key
 * present for the whole scan is visited at least once.  Expired keys are
 * visited too; the caller filters.  visit must not mutate the kv. */
typedef void (*kv_scan_cb)(void *ctx, const struct kv_entry *e);
uint64_t kv_scan(const struct kv *kv, int db, uint64_t cursor,
                 kv_scan_cb visit_cb, void *ctx);

/* Glob matching as Redis's KEYS/SCAN MATCH (*, ?, [a-z], [^x], \x).
 * Iterative, O(plen * slen) worst case. */
bool kv_glob_match(const char *pat, size_t plen, const char *str,
                   size_t slen);

#endif
