/*
 * test_differential.c: the same scripted commands against Debian's
 * redis-server and cairn-server, replies compared byte for byte.
 *
 * Both servers are started by the test (redis with --save "" --appendonly
 * no) on their own loopback ports.  A script is a list of steps; each step
 * is "<mode> <command>" where the mode says how the two replies compare:
 *
 *   X       exact bytes (the default for everything deterministic)
 *   S       arrays equal as multisets (KEYS: hash-table order differs)
 *   R<a>:<b> both integers within [a, b] (TTL/PTTL of relative expiries,
 *           which move with the clock; nothing waits for an expiry: past
 *           expiries use EXPIREAT/PXAT in the past, future ones absolute
 *           times in 2100 or ranges)
 *   T       same RESP type only (the value is implementation-specific)
 *   I       both must reply; the reply is not compared
 *   W       the rest of the step is sent as raw bytes (an inline command
 *           with its CRLF); one reply, compared exactly
 *
 * Excluded from exact comparison, and why:
 *   INFO            uptime, memory sizes, versions, run ids      (T)
 *   CLIENT ID/LIST  connection ids, addresses, ages              (T)
 *   TIME            the clock                                    (T)
 *   HELLO           reply carries server name, version and id   (I)
 *   COMMAND, COMMAND COUNT/DOCS/INFO  Redis 7.0 lists ~240 commands with
 *                   ACL categories and key specs; cairn its own subset (T)
 *   MEMORY USAGE    allocator-specific sizes (exact for missing keys)  (T)
 *   RANDOMKEY       exact only with zero or one key in the database
 *   KEYS            compared as sets (S); SCAN compared as the set of keys
 *                   a full iteration returns (cursors are opaque)
 *   TTL/PTTL        of relative expiries: ranges (R)
 *   CONFIG GET a b  several patterns: Redis answers in dict order, which
 *                   differs between two Redis processes; one pattern is exact
 *   *** HELP        help texts are prose, not protocol
 *   CLIENT SETINFO  does not exist in Redis 7.0 (added in 7.2)
 *   SHUTDOWN, QUIT, DEBUG, OBJECT FREQ/IDLETIME: not deterministic or
 *                   not comparable on a shared server
 *
 * Every mismatch of a script is printed (command, both replies) before the
 * test fails, so one run lists all differences.  CAIRN_IT_VERBOSE=1 prints
 * every step with Redis's reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "it.h"

static struct server_proc redis, target;

static int servers_start(void **state)
{
    (void)state;
    if (server_proc_start(&redis, SERVER_REDIS, NULL) != 0)
        return -1;
    if (server_proc_start_target(&target, NULL) != 0) {
        server_proc_stop(&redis, IT_STOP_TIMEOUT_MS);
        return -1;
    }
    return 0;
}

static int servers_stop(void **state)
{
    (void)state;
    int status = server_proc_stop(&target, IT_STOP_TIMEOUT_MS);
    if (status != 0)
        fprintf(stderr, "server exited with status %d (see %s)\n", status,
                target.log_path);
    server_proc_stop(&redis, IT_STOP_TIMEOUT_MS);
    return status == 0 ? 0 : -1;
}

struct pair {
    struct resp_client r; /* redis */
    struct resp_client t; /* target */
    int mismatches;
};

static void pair_open(struct pair *p)
{
    it_connect(&p->r, redis.port);
    it_connect(&p->t, target.port);
    p->mismatches = 0;
}

static void pair_close(struct pair *p)
{
    resp_client_close(&p->r);
    resp_client_close(&p->t);
}

/* memcmp that accepts empty (possibly NULL) ranges. */
static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Splits an array reply into its top-level elements' bytes, sorted. */
static int elements_sorted(const struct buf *b, struct buf *out)
{
    size_t hdr = resp_client_reply_len(b->data, b->len);
    if (hdr == 0 || hdr == (size_t)-1 || b->data[0] != '*')
        return -1;
    const char *cr = memchr(b->data, '\r', b->len);
    size_t pos = (size_t)(cr - b->data) + 2;
    long n = atol(b->data + 1);
    if (n < 0 || n > 100000)
        return -1;
    const char **el = calloc((size_t)n + 1, sizeof(*el));
    size_t *len = calloc((size_t)n + 1, sizeof(*len));
    assert_non_null(el);
    assert_non_null(len);
    for (long i = 0; i < n; i++) {
        el[i] = b->data + pos;
        len[i] = resp_client_reply_len(b->data + pos, b->len - pos);
        if (len[i] == 0 || len[i] == (size_t)-1) {
            free(el);
            free(len);
            return -1;
        }
        pos += len[i];
    }
    /* Insertion sort: element counts here are small. */
    for (long i = 1; i < n; i++) {
        for (long j = i; j > 0; j--) {
            size_t m = len[j] < len[j - 1] ? len[j] : len[j - 1];
            int c = memcmp(el[j - 1], el[j], m);
            if (c < 0 || (c == 0 && len[j - 1] <= len[j]))
                break;
            const char *te = el[j];
            size_t tl = len[j];
            el[j] = el[j - 1];
            len[j] = len[j - 1];
            el[j - 1] = te;
            len[j - 1] = tl;
        }
    }
    for (long i = 0; i < n; i++)
        buf_append(out, el[i], len[i]);
    free(el);
    free(len);
    return 0;
}

static bool int_in(const struct buf *b, long long lo, long long hi)
{
    if (b->len < 3 || b->data[0] != ':')
        return false;
    long long v = atoll(b->data + 1);
    return v >= lo && v <= hi;
}

static bool replies_agree(char mode, long long lo, long long hi,
                          const struct buf *a, const struct buf *b)
{
    switch (mode) {
    case 'X':
        return same_bytes(a->data, a->len, b->data, b->len);
    case 'S': {
        struct buf sa, sb;
        buf_init(&sa, 0);
        buf_init(&sb, 0);
        bool ok = elements_sorted(a, &sa) == 0 && elements_sorted(b, &sb) == 0 &&
                  same_bytes(sa.data, sa.len, sb.data, sb.len);
        buf_free(&sa);
        buf_free(&sb);
        return ok;
    }
    case 'R':
        return int_in(a, lo, hi) && int_in(b, lo, hi);
    case 'T':
        return a->len > 0 && b->len > 0 && a->data[0] == b->data[0];
    case 'I':
        return true;
    default:
        fail_msg("bad mode %c", mode);
        return false;
    }
}

/* Runs one "<mode> <command>" step on both servers. */
static void step(struct pair *p, const char *spec)
{
    char mode = spec[0];
    long long lo = 0, hi = 0;
    const char *cmd = strchr(spec, ' ');
    assert_non_null(cmd);
    cmd++;
    if (mode == 'R')
        assert_int_equal(sscanf(spec + 1, "%lld:%lld", &lo, &hi), 2);
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    if (mode == 'W') {
        assert_int_equal(resp_client_send(&p->r, cmd, strlen(cmd)), 0);
        assert_int_equal(resp_client_send(&p->t, cmd, strlen(cmd)), 0);
        mode = 'X';
    } else {
        assert_int_equal(resp_client_send_line(&p->r, cmd), 0);
        assert_int_equal(resp_client_send_line(&p->t, cmd), 0);
    }
    int ra = resp_client_read(&p->r, &a);
    int rb = resp_client_read(&p->t, &b);
    if (ra != 0)
        fail_msg("redis did not answer %s (%d)", cmd, ra);
    if (getenv("CAIRN_IT_VERBOSE") != NULL)
        fprintf(stderr, "[%c] %s -> %s\n", mode, cmd,
                resp_client_show(a.data, a.len));
    if (rb != 0 || !replies_agree(mode, lo, hi, &a, &b)) {
        p->mismatches++;
        fprintf(stderr, "MISMATCH [%c] %s\n  redis: %s\n", mode, cmd,
                resp_client_show(a.data, a.len));
        fprintf(stderr, "  cairn: %s (read rc %d)\n",
                b.len > 0 ? resp_client_show(b.data, b.len) : "", rb);
    }
    buf_free(&a);
    buf_free(&b);
}

static void run_script(const char *const *steps)
{
    struct pair p;
    pair_open(&p);
    step(&p, "X FLUSHALL");
    for (size_t i = 0; steps[i] != NULL; i++)
        step(&p, steps[i]);
    step(&p, "X FLUSHALL");
    pair_close(&p);
    if (p.mismatches != 0)
        fail_msg("%d replies differ from redis-server (listed above)",
                 p.mismatches);
}

static void connection_commands(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X PING", "X PING hello", "X PING a b", "X ECHO hi", "X ECHO \"\"",
        "X ECHO", "X ECHO a b",
        "X SELECT 1", "X SET db1key x", "X SELECT 0", "X GET db1key",
        "X SELECT 16", "X SELECT -1", "X SELECT abc", "X SELECT 1",
        "X GET db1key", "X DBSIZE", "X SELECT 0",
        "X AUTH x", "X AUTH a b c",
        "X CLIENT SETNAME n1", "X CLIENT GETNAME", "X CLIENT SETNAME \"a b\"",
        "X CLIENT SETNAME \"\"", "X CLIENT GETNAME", "X CLIENT NOSUCH",
        "T CLIENT ID", "T CLIENT LIST", "X CLIENT KILL ID 999999",
        "X CLIENT KILL 1.2.3.4:5",
        "X NOSUCHCMD", "X NOSUCHCMD a b", "X nosuchcmd \"\"",
        "T TIME", "T INFO", "T INFO server", "T INFO keyspace", "T COMMAND COUNT",
        "I COMMAND DOCS get", "T COMMAND INFO get",
        "X HELLO 4", "X HELLO abc", "X HELLO 2 FOO", "X SELECT 0 1",
        "X NOSUCHCMD aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb cc",
        "X NOSUCHCMDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx a",
        "X CLIENT KILL", "X CLIENT KILL ID", "X CLIENT KILL ID abc",
        "X CLIENT LIST ID 999999",
        /* Inline commands, quoting included, through the whole server. */
        "W PING\r\n", "W ECHO \"a b\" 'c'\r\n",
        "W ECHO \"\\x41\\n\"\r\n", "W SET \"k 1\" \"v 1\"\r\n",
        "W GET \"k 1\"\r\n", "W  ECHO  x  \n",
        NULL,
    };
    run_script(s);
}

static void server_commands(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X CONFIG GET save", "X CONFIG GET appendonly", "X CONFIG GET nosuch",
        "X FLUSHALL ASYNC", "X FLUSHDB ASYNC",
        "X CONFIG GET maxmemory", "X CONFIG SET maxmemory 100000000",
        "X CONFIG GET maxmemory", "X CONFIG SET maxmemory 0",
        "X CONFIG GET maxmemory-policy",
        "X CONFIG SET maxmemory-policy allkeys-lru",
        "X CONFIG GET maxmemory-policy",
        "X CONFIG SET maxmemory-policy bogus",
        "X CONFIG SET maxmemory-policy noeviction",
        "X CONFIG SET nosuch 1", "X CONFIG RESETSTAT", "X CONFIG",
        "X CONFIG NOSUCH",
        "X DBSIZE", "X SET a 1", "X SET b 2", "X DBSIZE", "X FLUSHDB",
        "X DBSIZE", "X SET a 1", "X SELECT 2", "X SET b 2", "X FLUSHALL",
        "X DBSIZE", "X SELECT 0", "X DBSIZE", "X FLUSHDB SYNC", "X FLUSHALL SYNC",
        "X FLUSHDB bogus", "X DBSIZE extra",
        NULL,
    };
    run_script(s);
}

static void string_set_family(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X SET s1 hello", "X GET s1", "X GET nokey", "X SET s1 world XX",
        "X GET s1", "X SET s2 x XX", "X SET s2 x NX", "X SET s2 y NX",
        "X SET s2 z GET", "X SET s2 w NX GET", "X GET s2", "X SET s3 v GET",
        "X SET s1 v NX XX", "X SET s1 v EX", "X SET s1 v EX 10 PX 100",
        "X SET s1 v KEEPTTL EX 10", "X SET s1 v BOGUS", "X SET s1 v EX 0",
        "X SET s1 v PX -1", "X SET s1 v EX 9223372036854775807",
        "X SET s1 v EXAT 0", "X SET s1 v EX 1.5",
        "X SETNX s3 a", "X SETNX s4 a", "X GET s4",
        "X SETEX s5 100 v", "R99:100 TTL s5", "X SETEX s5 0 v",
        "X SETEX s5 abc v", "X SETEX s5 -3 v",
        "X PSETEX s6 100000 v", "R99000:100000 PTTL s6", "X PSETEX s6 -1 v",
        "X GETSET s1 new", "X GETSET nokey2 v", "X GET nokey2",
        "X GETDEL s1", "X GETDEL s1", "X GETDEL",
        "X GETEX s4", "X GETEX s4 EX 100", "R99:100 TTL s4", "X GETEX s4 PERSIST",
        "X TTL s4", "X GETEX s4 EX 0", "X GETEX s4 FOO", "X GETEX nokey",
        "X GETEX s4 EXAT 4102444800", "X EXPIRETIME s4",
        "X GETEX s4 PXAT 4102444800123", "X PEXPIRETIME s4",
        "X GETEX s4 EX 10 PX 10", "X GETEX s4 PERSIST EX 10",
        "X SET k1 v EX 100", "X SET k1 v2 KEEPTTL", "R99:100 TTL k1",
        "X SET k1 v3", "X TTL k1",
        "X SET k2 v EXAT 4102444800", "X EXPIRETIME k2", "X PEXPIRETIME k2",
        "X SET k2 v PXAT 4102444800623", "X PEXPIRETIME k2", "X EXPIRETIME k2",
        "X SET k3 v EXAT 1", "X EXISTS k3", "X GET k3",
        "X SET k3 v PXAT 1000", "X EXISTS k3",
        "X SET k3 v GET EX 100", "X SET k3 v2 GET", "X TTL k3",
        NULL,
    };
    run_script(s);
}

static void string_multi_and_ranges(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X MSET a 1 b 2 c 3", "X MGET a b c nokey", "X MGET nokey",
        "X MSET a", "X MSET a 1 b", "X MSETNX a 1 d 4", "X MSETNX d 4 e 5",
        "X MGET d e", "X MSETNX d", "X MSET a 10 a 20", "X GET a",
        "X APPEND a xyz", "X APPEND newapp abc", "X GET newapp",
        "X STRLEN a", "X STRLEN nokey", "X STRLEN",
        "X SET str \"Hello World\"", "X GETRANGE str 0 3",
        "X GETRANGE str -3 -1", "X GETRANGE str 5 2", "X GETRANGE str 0 -100",
        "X GETRANGE str 100 200", "X GETRANGE str -100 -50",
        "X GETRANGE str 0 -1", "X GETRANGE nokey 0 1", "X GETRANGE str a 1",
        "X SETRANGE str 6 Redis", "X GET str", "X SETRANGE newr 5 ab",
        "X GET newr", "X SETRANGE str 0 \"\"", "X SETRANGE nokey 0 \"\"",
        "X EXISTS nokey", "X SETRANGE str 536870912 x", "X SETRANGE str -1 x",
        "X SETRANGE str 536870911 \"\"",
        "X SET n 10", "X APPEND n 5", "X GET n", "X INCR n", "X STRLEN n",
        NULL,
    };
    run_script(s);
}

static void counters(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X INCR c", "X INCR c", "X DECR c", "X INCRBY c 10", "X DECRBY c 3",
        "X INCRBY c -20", "X GET c", "X INCRBY c abc", "X INCRBY c 1.5",
        "X INCRBY c 9223372036854775808",
        "X SET c 9223372036854775807", "X INCR c", "X INCRBY c 1",
        "X SET c -9223372036854775808", "X DECR c", "X DECRBY c 1",
        "X SET c 0", "X DECRBY c -9223372036854775808",
        "X SET c 007", "X INCR c", "X SET c \" 1\"", "X INCR c",
        "X SET c 1.5", "X INCR c", "X SET c \"\"", "X INCR c",
        "X SET f 1.5", "X INCRBYFLOAT f 0.1", "X INCRBYFLOAT f -5",
        "X INCRBYFLOAT f 5.0e3", "X INCRBYFLOAT f abc", "X INCRBYFLOAT f inf",
        "X INCRBYFLOAT f nan", "X SET f 1e308", "X INCRBYFLOAT f 1e308",
        "X GET f", "X INCRBYFLOAT newf 3", "X INCRBYFLOAT newf2 0.0001",
        "X SET f 10", "X INCRBYFLOAT f 1.000", "X INCRBYFLOAT f -11",
        "X SET i 42", "X OBJECT ENCODING i", "X SET e short",
        "X OBJECT ENCODING e",
        "X SET r 0123456789012345678901234567890123456789012345",
        "X OBJECT ENCODING r", "X OBJECT ENCODING nokey", "X OBJECT NOSUCH i",
        "X INCR f2", "X TYPE f2",
        /* Encodings at their boundaries, and after edits. */
        "X SET i 12345678901234567890", "X OBJECT ENCODING i",
        "X SET i -1", "X OBJECT ENCODING i",
        "X SET i 12345678901234567890123456789012345678901234",
        "X OBJECT ENCODING i",
        "X SET i 123456789012345678901234567890123456789012345",
        "X OBJECT ENCODING i", "X SET j 5", "X APPEND j 6",
        "X OBJECT ENCODING j", "X INCR j", "X OBJECT ENCODING j",
        "X SETRANGE j 0 9", "X OBJECT ENCODING j",
        NULL,
    };
    run_script(s);
}

static void keys_family(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X RANDOMKEY", "X SET hello 1", "X RANDOMKEY",
        "X MSET a 1 b 2 c 3 hallo 4 hxllo 5", "X DEL a b nokey", "X DEL a",
        "X UNLINK c nokey", "X EXISTS hello hello nokey", "X EXISTS nokey",
        "X TYPE hello", "X TYPE nokey", "S KEYS *", "S KEYS h?llo",
        "S KEYS h[ae]llo", "S KEYS h[^e]llo", "S KEYS h*", "S KEYS nomatch*",
        "S KEYS \"h\\*\"",
        "X RENAME hello world", "X GET world", "X EXISTS hello",
        "X RENAME nokey x", "X RENAME world world", "X SET other 9",
        "X RENAMENX world other", "X RENAMENX world fresh", "X GET fresh",
        "X RENAMENX nokey x",
        "X COPY fresh c1", "X COPY fresh c1", "X COPY fresh c1 REPLACE",
        "X COPY fresh c2 DB 1", "X COPY fresh fresh", "X COPY nokey c3",
        "X COPY fresh c4 DB 16", "X COPY fresh c4 BOGUS", "X SELECT 1",
        "X GET c2", "X SELECT 0",
        "X SET t1 v EX 100", "X RENAME t1 t2", "R99:100 TTL t2",
        "X COPY t2 t3", "R99:100 TTL t3", "X DEL t3",
        "X TOUCH fresh other nokey", "X TOUCH",
        "X MEMORY USAGE nokey", "T MEMORY USAGE fresh",
        "X DEL fresh other c1 hallo hxllo t2", "X DBSIZE", "X RANDOMKEY",
        NULL,
    };
    run_script(s);
}

static void expiry_family(void **state)
{
    (void)state;
    static const char *const s[] = {
        "X SET k v", "X TTL k", "X PTTL k", "X TTL nokey", "X PTTL nokey",
        "X EXPIRETIME k", "X EXPIRETIME nokey", "X PEXPIRETIME nokey",
        "X EXPIRE k 100", "R99:100 TTL k", "R99000:100000 PTTL k",
        "X EXPIRE nokey 100", "X EXPIRE k 100 NX", "X EXPIRE k 200 XX",
        "X EXPIRE k 50 GT", "X EXPIRE k 300 GT", "X EXPIRE k 400 LT",
        "X EXPIRE k 10 LT", "R9:10 TTL k", "X EXPIRE k 10 NX XX",
        "X EXPIRE k 10 GT LT", "X EXPIRE k 10 NX GT", "X EXPIRE k 10 FOO",
        "X PERSIST k", "X PERSIST k", "X PERSIST nokey",
        "X EXPIRE k 10 GT", "X TTL k", "X EXPIRE k 10 XX", "X EXPIRE k 100 LT",
        "R99:100 TTL k", "X PERSIST k",
        "X EXPIREAT k 4102444800", "X EXPIRETIME k", "X PEXPIRETIME k",
        "X PEXPIREAT k 4102444800123", "X PEXPIRETIME k", "X EXPIRETIME k",
        "X EXPIREAT k 4102444800 XX", "X EXPIREAT k 4102444801 GT",
        "X EXPIRETIME k", "X PEXPIRE k 5000000 LT", "R4999000:5000000 PTTL k",
        "X EXPIRE k abc", "X EXPIRE k 9223372036854775807",
        "X PEXPIRE k 9223372036854775807", "X EXPIREAT k 9223372036854775807",
        "X EXPIRE k", "X EXPIREAT k", "X TTL k k",
        "X EXPIREAT k 1000", "X EXISTS k", "X GET k", "X TTL k",
        "X SET k v", "X PEXPIREAT k 1", "X EXISTS k",
        "X SET k v", "X EXPIRE k 0", "X EXISTS k",
        "X SET k v", "X PEXPIRE k -5", "X EXISTS k",
        "X SET k v", "X EXPIRE k -1 GT", "X EXISTS k",
        "X DBSIZE",
        NULL,
    };
    run_script(s);
}

static void resp3_after_hello_3(void **state)
{
    (void)state;
    static const char *const s[] = {
        "I HELLO 3", "X GET nokey", "X SET a 1", "X GET a", "X MGET a nokey",
        "X CONFIG GET save", "X CONFIG GET nosuch", "X EXISTS a",
        "X INCRBYFLOAT f 1.5", "X SET a 1 GET", "X GETDEL nokey",
        "S KEYS *", "X TTL a", "X PING", "X ECHO x", "X NOSUCH",
        "X CLIENT GETNAME", "X OBJECT ENCODING nokey", "T RANDOMKEY",
        "X MEMORY USAGE nokey", "T CLIENT LIST", "T CLIENT ID", "T TIME",
        "T INFO", "X COPY a b", "X SET z 1 NX GET", "X GETEX nokey",
        "I HELLO 2", "X GET nokey", "X CONFIG GET save", "X MGET nokey",
        NULL,
    };
    run_script(s);
}

/* Collects every key a full SCAN iteration returns (bounded rounds). */
static void scan_all(struct resp_client *c, const char *opts, struct buf *keys)
{
    char cursor[32] = "0";
    struct buf reply;
    buf_init(&reply, 0);
    int round = 0;
    do {
        char line[256];
        snprintf(line, sizeof(line), "SCAN %s %s", cursor, opts);
        buf_clear(&reply);
        assert_int_equal(resp_client_send_line(c, line), 0);
        assert_int_equal(resp_client_read(c, &reply), 0);
        /* *2\r\n$<n>\r\n<cursor>\r\n*<m>\r\n... */
        assert_true(reply.len > 4 && memcmp(reply.data, "*2\r\n$", 5) == 0);
        const char *p = reply.data + 5;
        long clen = atol(p);
        p = strchr(p, '\n') + 1;
        assert_true(clen > 0 && clen < (long)sizeof(cursor));
        memcpy(cursor, p, (size_t)clen);
        cursor[clen] = '\0';
        p += clen + 2;
        struct buf arr;
        buf_init(&arr, 0);
        buf_append(&arr, p, reply.len - (size_t)(p - reply.data));
        assert_int_equal(elements_sorted(&arr, keys), 0);
        buf_free(&arr);
    } while (strcmp(cursor, "0") != 0 && ++round < 10000);
    assert_string_equal(cursor, "0");
    buf_free(&reply);
}

/* A sorted, duplicate-free list of the RESP elements in b. */
static void sort_unique(struct buf *b)
{
    struct buf arr, sorted;
    buf_init(&arr, 0);
    buf_init(&sorted, 0);
    size_t count = 0;
    for (size_t pos = 0; pos < b->len; count++)
        pos += resp_client_reply_len(b->data + pos, b->len - pos);
    buf_printf(&arr, "*%zu\r\n", count);
    buf_append(&arr, b->data, b->len);
    assert_int_equal(elements_sorted(&arr, &sorted), 0);
    buf_clear(b);
    size_t prev = 0, prev_len = 0;
    for (size_t pos = 0; pos < sorted.len;) {
        size_t n = resp_client_reply_len(sorted.data + pos, sorted.len - pos);
        if (!same_bytes(sorted.data + prev, prev_len, sorted.data + pos, n))
            buf_append(b, sorted.data + pos, n);
        prev = pos;
        prev_len = n;
        pos += n;
    }
    buf_free(&arr);
    buf_free(&sorted);
}

static void scan_returns_the_same_keys(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    step(&p, "X FLUSHALL");
    for (int i = 0; i < 300; i++) {
        char line[64];
        snprintf(line, sizeof(line), "X SET key:%d %d", i, i);
        step(&p, line);
    }
    static const char *const opts[] = {"COUNT 10", "COUNT 1000",
                                       "MATCH key:1* COUNT 7",
                                       "MATCH nomatch* COUNT 50",
                                       "TYPE string COUNT 20"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        struct buf kr, kt;
        buf_init(&kr, 0);
        buf_init(&kt, 0);
        scan_all(&p.r, opts[i], &kr);
        scan_all(&p.t, opts[i], &kt);
        sort_unique(&kr);
        sort_unique(&kt);
        if (!same_bytes(kr.data, kr.len, kt.data, kt.len)) {
            p.mismatches++;
            fprintf(stderr, "MISMATCH SCAN %s: key sets differ (%zu vs %zu "
                    "bytes)\n", opts[i], kr.len, kt.len);
        }
        buf_free(&kr);
        buf_free(&kt);
    }
    step(&p, "X SCAN 0 COUNT 0");
    step(&p, "X SCAN abc");
    step(&p, "X SCAN 0 BOGUS 1");
    step(&p, "X FLUSHALL");
    pair_close(&p);
    assert_int_equal(p.mismatches, 0);
}

/* 10k commands in one write to each server; all replies compared. */
static void pipelined_10k_in_one_write(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    step(&p, "X FLUSHALL");
    struct buf req;
    buf_init(&req, 0);
    enum { COMMANDS = 10000 };
    for (int i = 0; i < COMMANDS; i++) {
        int k = i % 97;
        switch (i % 8) {
        case 0: buf_printf(&req, "*3\r\n$3\r\nSET\r\n$%d\r\npk%d\r\n$1\r\n%d\r\n",
                           k < 10 ? 3 : 4, k, i % 10); break;
        case 1: buf_printf(&req, "*2\r\n$3\r\nGET\r\n$%d\r\npk%d\r\n",
                           k < 10 ? 3 : 4, k); break;
        case 2: buf_printf(&req, "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n"); break;
        case 3: buf_printf(&req, "*3\r\n$6\r\nAPPEND\r\n$3\r\napp\r\n$1\r\nx\r\n");
                break;
        case 4: buf_printf(&req, "*2\r\n$3\r\nDEL\r\n$%d\r\npk%d\r\n",
                           (k + 1) % 97 < 10 ? 3 : 4, (k + 1) % 97); break;
        case 5: buf_printf(&req, "*3\r\n$6\r\nEXISTS\r\n$3\r\npk1\r\n$3\r\nctr\r\n");
                break;
        case 6: buf_printf(&req, "*1\r\n$3\r\nGET\r\n"); break; /* arity */
        default: buf_printf(&req, "PING\r\n"); break;       /* inline */
        }
    }
    assert_int_equal(resp_client_send(&p.r, req.data, req.len), 0);
    assert_int_equal(resp_client_send(&p.t, req.data, req.len), 0);
    buf_free(&req);
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    int first_diff = -1;
    for (int i = 0; i < COMMANDS; i++) {
        size_t a0 = a.len, b0 = b.len;
        assert_int_equal(resp_client_read(&p.r, &a), 0);
        if (resp_client_read(&p.t, &b) != 0)
            fail_msg("cairn stopped answering after %d of %d replies", i,
                     COMMANDS);
        if (first_diff < 0 &&
            !same_bytes(a.data + a0, a.len - a0, b.data + b0, b.len - b0))
            first_diff = i;
    }
    if (first_diff >= 0)
        fail_msg("reply %d differs first (of %d)", first_diff, COMMANDS);
    assert_int_equal(a.len, b.len);
    buf_free(&a);
    buf_free(&b);
    step(&p, "X GET ctr");
    step(&p, "X STRLEN app");
    step(&p, "X DBSIZE");
    step(&p, "X FLUSHALL");
    pair_close(&p);
    assert_int_equal(p.mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connection_commands),
        cmocka_unit_test(server_commands),
        cmocka_unit_test(string_set_family),
        cmocka_unit_test(string_multi_and_ranges),
        cmocka_unit_test(counters),
        cmocka_unit_test(keys_family),
        cmocka_unit_test(expiry_family),
        cmocka_unit_test(resp3_after_hello_3),
        cmocka_unit_test(scan_returns_the_same_keys),
        cmocka_unit_test(pipelined_10k_in_one_write),
    };
    fprintf(stderr, "server under test: %s, reference: %s\n",
            server_proc_cairn_path(), server_proc_redis_path());
    return cmocka_run_group_tests(tests, servers_start, servers_stop);
}
