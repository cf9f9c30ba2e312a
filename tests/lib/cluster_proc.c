/*
 * cluster_proc.c: see cluster_proc.h.
 *
 * Invariants: the test process itself only ever switches namespace around
 * one socket() + connect() (and switches back before returning); every
 * poll loop has a deadline on the monotonic clock and pauses a few ms per
 * round; namespaces this process created are listed in `ns_made` until
 * deleted.
 */
#define _GNU_SOURCE /* setns */
#include "cluster_proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READY_MS 8000    /* a daemon answers PING within this */
#define POLL_PAUSE_MS 10 /* pacing of every poll */
#define PORT_LO 12000    /* client ports; +10000 stays below 32768 */
#define PORT_SPAN 9000
#define NS_MADE_MAX 8
#define ARGV_MAX 32

static char ns_made[NS_MADE_MAX][48];
static bool ns_atexit_done;

long long cluster_proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs a shell command built from fmt; 0 if it exited 0. */
static int run(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "cluster_proc: `%s` failed (%d)\n", cmd, rc);
    return rc == 0 ? 0 : -1;
}

static void ns_delete_all(void)
{
    for (int i = 0; i < NS_MADE_MAX; i++) {
        if (ns_made[i][0] != '\0') {
            (void)run("ip netns del %s 2>/dev/null", ns_made[i]);
            ns_made[i][0] = '\0';
        }
    }
}

static int ns_add(const char *name)
{
    if (!ns_atexit_done) {
        atexit(ns_delete_all); /* runs after server_proc's kill-all */
        ns_atexit_done = true;
    }
    for (int i = 0; i < NS_MADE_MAX; i++) {
        if (ns_made[i][0] == '\0') {
            if (run("ip netns add %s", name) != 0)
                return -1;
            snprintf(ns_made[i], sizeof(ns_made[i]), "%s", name);
            return 0;
        }
    }
    return -1;
}

const char *cluster_proc_netns_unavailable(void)
{
    if (geteuid() != 0)
        return "network namespaces need root (CI runs the suite as root)";
    if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0 &&
        access("/usr/bin/ip", X_OK) != 0 && access("/bin/ip", X_OK) != 0)
        return "iproute2 (`ip`) is not installed";
    return NULL;
}

/* True if 127.0.0.1:port can be bound right now. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int cluster_proc_pick_port(void)
{
    static int next;
    if (next == 0)
        next = PORT_LO + (int)(getpid() * 97 % PORT_SPAN);
    for (int tries = 0; tries < 2000; tries++) {
        int p = next;
        next = PORT_LO + (next - PORT_LO + 1) % PORT_SPAN;
        if (port_free(p) && port_free(p + 10000))
            return p;
    }
    return -1;
}

/* Client ports for the loopback layout: p and p + 10000 both free. */
static int pick_ports(struct cluster_proc *cp)
{
    for (int i = 0; i < cp->n; i++)
        if ((cp->node[i].port = cluster_proc_pick_port()) < 0)
            return -1;
    return 0;
}

bool cluster_proc_log_has(const char *path, const char *needle, int timeout_ms)
{
    long long end = cluster_proc_now_ms() + timeout_ms;
    static char text[1 << 20];
    do {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            fclose(f);
            text[n] = '\0';
            if (strstr(text, needle) != NULL)
                return true;
        }
        server_proc_pause_ms(POLL_PAUSE_MS);
    } while (cluster_proc_now_ms() < end);
    return false;
}

/* Deletes namespaces an earlier run of these tests left behind when it was
 * killed before its exit handlers ran (names "cit<pid>h" / "cit<pid>n<i>"
 * whose process is gone).  Nothing else is touched. */
static void netns_reap_stale(void)
{
    DIR *d = opendir("/var/run/netns");
    if (d == NULL)
        return;
    struct dirent *e;
    for (int guard = 0; guard < 4096 && (e = readdir(d)) != NULL; guard++) {
        int pid = 0, len = 0, idx = 0;
        char kind = 0;
        if (sscanf(e->d_name, "cit%d%c%n", &pid, &kind, &len) != 2 || pid <= 0)
            continue;
        bool ok = (kind == 'h' && e->d_name[len] == '\0') ||
                  (kind == 'n' && sscanf(e->d_name + len, "%d", &idx) == 1);
        if (ok && pid != (int)getpid() && kill(pid, 0) != 0 && errno == ESRCH)
            (void)run("ip netns del %s", e->d_name);
    }
    closedir(d);
}

static int netns_setup(struct cluster_proc *cp)
{
    netns_reap_stale();
    snprintf(cp->hub, sizeof(cp->hub), "cit%dh", (int)getpid());
    if (ns_add(cp->hub) != 0 ||
        run("ip -n %s link add br0 type bridge", cp->hub) != 0 ||
        run("ip -n %s link set br0 up", cp->hub) != 0)
        return -1;
    for (int i = 0; i < cp->n; i++) {
        struct cluster_node *nd = &cp->node[i];
        /* Both names from the same pieces: gcc -O0 -Wrestrict cannot tell
         * the two arrays of one struct apart when one feeds the other. */
        snprintf(nd->netns, sizeof(nd->netns), "cit%dn%d", (int)getpid(), i);
        snprintf(nd->netns_path, sizeof(nd->netns_path),
                 "/var/run/netns/cit%dn%d", (int)getpid(), i);
        snprintf(nd->host, sizeof(nd->host), "10.77.0.%d", i + 1);
        nd->port = 7001 + i; /* private namespaces: nothing else there */
        if (ns_add(nd->netns) != 0 ||
            run("ip -n %s link set lo up", nd->netns) != 0 ||
            run("ip -n %s link add p%d type veth peer name v%d netns %s",
                cp->hub, i, i, nd->netns) != 0 ||
            run("ip -n %s link set p%d master br0", cp->hub, i) != 0 ||
            run("ip -n %s link set p%d up", cp->hub, i) != 0 ||
            run("ip -n %s addr add %s/24 dev v%d", nd->netns, nd->host,
                i) != 0 ||
            run("ip -n %s link set v%d up", nd->netns, i) != 0)
            return -1;
    }
    return 0;
}

int cluster_proc_cut(struct cluster_proc *cp, int i)
{
    if (!cp->netns)
        return -1;
    cp->node[i].cut = true;
    return run("ip -n %s link set p%d down", cp->hub, i);
}

int cluster_proc_heal(struct cluster_proc *cp, int i)
{
    if (!cp->netns)
        return -1;
    cp->node[i].cut = false;
    return run("ip -n %s link set p%d up", cp->hub, i);
}

/* Creates a TCP socket to 127.0.0.1:port inside namespace path (NULL: the
 * current one) through resp_client_connect. */
int cluster_proc_connect(struct cluster_proc *cp, int i, struct resp_client *c,
                         int timeout_ms)
{
    struct cluster_node *nd = &cp->node[i];
    if (nd->netns[0] == '\0')
        return resp_client_connect(c, nd->port, timeout_ms);
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int there = open(nd->netns_path, O_RDONLY | O_CLOEXEC);
    if (home < 0 || there < 0 || setns(there, CLONE_NEWNET) != 0) {
        fprintf(stderr, "cluster_proc: cannot enter %s: %s\n", nd->netns,
                strerror(errno));
        if (home >= 0)
            close(home);
        if (there >= 0)
            close(there);
        memset(c, 0, sizeof(*c));
        c->fd = -1;
        return -1;
    }
    int rc = resp_client_connect(c, nd->port, timeout_ms);
    if (setns(home, CLONE_NEWNET) != 0) {
        fprintf(stderr, "cluster_proc: cannot return to our namespace\n");
        abort();
    }
    close(home);
    close(there);
    return rc;
}

int cluster_proc_call(struct cluster_proc *cp, int i, const char *line,
                      char *out, size_t out_len)
{
    struct resp_client c;
    out[0] = '\0';
    if (cluster_proc_connect(cp, i, &c, 1000) != 0) {
        resp_client_close(&c);
        return -1;
    }
    const char *r = resp_client_call(&c, line);
    if (r != NULL)
        snprintf(out, out_len, "%s", r);
    resp_client_close(&c);
    return r != NULL ? 0 : -1;
}

long long cluster_proc_info_int(const char *info, const char *field)
{
    size_t flen = strlen(field);
    for (const char *p = info; p != NULL && *p != '\0';) {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':')
            return strtoll(p + flen + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

static int wait_ready(struct cluster_proc *cp, int i)
{
    long long end = cluster_proc_now_ms() + READY_MS;
    char r[64];
    while (cluster_proc_now_ms() < end) {
        if (!server_proc_alive(&cp->node[i].proc))
            break;
        if (cluster_proc_call(cp, i, "PING", r, sizeof(r)) == 0 &&
            strcmp(r, "+PONG\r\n") == 0)
            return 0;
        server_proc_pause_ms(POLL_PAUSE_MS);
    }
    fprintf(stderr, "cluster_proc: node %d (port %d) did not start (exit %d); "
            "see %s\n", i + 1, cp->node[i].port, cp->node[i].proc.exit_status,
            cp->node[i].proc.log_path);
    return -1;
}

int cluster_proc_node_start(struct cluster_proc *cp, int i, const char *secret)
{
    struct cluster_node *nd = &cp->node[i];
    char port[16], id[24];
    snprintf(port, sizeof(port), "%d", nd->port);
    snprintf(id, sizeof(id), "%llu", (unsigned long long)nd->id);
    const char *argv[ARGV_MAX];
    int n = 0;
    argv[n++] = "--node-id";
    argv[n++] = id;
    argv[n++] = "--cluster-peers";
    argv[n++] = i < cp->founders ? cp->peers : cp->peers_all;
    argv[n++] = "--cluster-secret";
    argv[n++] = secret != NULL ? secret : cp->secret;
    char dir[192];
    argv[n++] = "--durability";
    if (cp->dir_base[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s/n%llu", cp->dir_base,
                 (unsigned long long)nd->id);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        argv[n++] = "fsync";
        argv[n++] = "--dir";
        argv[n++] = dir;
    } else {
        argv[n++] = "memory";
    }
    if (cp->netns) {
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = nd->host;
    }
    for (int k = 0; cp->extra != NULL && cp->extra[k] != NULL; k++) {
        if (n >= ARGV_MAX - 1)
            return -1;
        argv[n++] = cp->extra[k];
    }
    argv[n] = NULL;
    nd->started = true;
    nd->killed = false;
    if (server_proc_launch(&nd->proc, nd->port,
                           cp->netns ? nd->netns_path : NULL, argv) != 0)
        return -1;
    return wait_ready(cp, i);
}

static void peers_list(struct cluster_proc *cp, int count, char *out,
                       size_t out_len)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < count && off < out_len; i++)
        off += (size_t)snprintf(out + off, out_len - off, "%s%llu@%s:%d",
                                i > 0 ? "," : "",
                                (unsigned long long)cp->node[i].id,
                                cp->node[i].host, cp->node[i].port);
}

int cluster_proc_start(struct cluster_proc *cp, int n, int start, bool netns,
                       const char *const *extra)
{
    return cluster_proc_start_founders(cp, n, n, start, netns, extra);
}

int cluster_proc_start_founders(struct cluster_proc *cp, int n, int founders,
                                int start, bool netns,
                                const char *const *extra)
{
    memset(cp, 0, sizeof(*cp));
    if (n < 1 || n > CLUSTER_PROC_NODES_MAX || start > n || founders > n ||
        founders < 1)
        return -1;
    cp->founders = founders;
    cp->n = n;
    cp->netns = netns;
    cp->extra = extra;
    snprintf(cp->secret, sizeof(cp->secret), "it-secret-%d", (int)getpid());
    for (int i = 0; i < n; i++) {
        cp->node[i].id = (uint64_t)i + 1;
        snprintf(cp->node[i].host, sizeof(cp->node[i].host), "127.0.0.1");
    }
    if (netns ? netns_setup(cp) != 0 : pick_ports(cp) != 0) {
        fprintf(stderr, "cluster_proc: cannot set up the %s layout\n",
                netns ? "namespace" : "loopback");
        (void)cluster_proc_stop(cp);
        return -1;
    }
    peers_list(cp, founders, cp->peers, sizeof(cp->peers));
    peers_list(cp, n, cp->peers_all, sizeof(cp->peers_all));
    for (int i = 0; i < start; i++) {
        if (cluster_proc_node_start(cp, i, NULL) != 0) {
            (void)cluster_proc_stop(cp);
            return -1;
        }
    }
    return 0;
}

int cluster_proc_node_kill(struct cluster_proc *cp, int i)
{
    cp->node[i].killed = true;
    return server_proc_kill9(&cp->node[i].proc);
}

bool cluster_proc_node_up(struct cluster_proc *cp, int i)
{
    return server_proc_alive(&cp->node[i].proc);
}

int cluster_proc_stop(struct cluster_proc *cp)
{
    bool keep = getenv("CAIRN_IT_KEEP_LOGS") != NULL;
    int bad = 0;
    for (int i = 0; i < cp->n; i++) {
        struct cluster_node *nd = &cp->node[i];
        if (keep && nd->proc.pid > 0) {
            char kept[160];
            snprintf(kept, sizeof(kept), "%s.kept", nd->proc.log_path);
            (void)link(nd->proc.log_path, kept);
        }
        bool running = nd->proc.pid > 0 && server_proc_alive(&nd->proc);
        if (running)
            (void)server_proc_stop(&nd->proc, 3000);
        if (nd->started && (running || !nd->killed) &&
            nd->proc.exit_status != 0) {
            fprintf(stderr,
                    "cluster_proc: node %d %s with status %d (log %s)\n", i + 1, running ? "stopped" : "died on its own",
                    nd->proc.exit_status, nd->proc.log_path);
            bad++;
        }
        nd->started = false;
    }
    if (cp->netns) {
        for (int k = 0; k < NS_MADE_MAX; k++) {
            bool ours = strcmp(ns_made[k], cp->hub) == 0;
            for (int i = 0; i < cp->n && !ours; i++)
                ours = ns_made[k][0] != '\0' &&
                       strcmp(ns_made[k], cp->node[i].netns) == 0;
            if (ours) {
                (void)run("ip netns del %s", ns_made[k]);
                ns_made[k][0] = '\0';
            }
        }
        cp->netns = false;
    }
    return bad;
}

/* A node the waits below consider: running and not cut off. */
static bool counted(struct cluster_proc *cp, int i)
{
    return !cp->node[i].cut && cp->node[i].proc.pid > 0 &&
           server_proc_alive(&cp->node[i].proc);
}

int cluster_proc_wait_leader(struct cluster_proc *cp, int timeout_ms)
{
    long long end = cluster_proc_now_ms() + timeout_ms;
    char info[4096];
    do {
        int leader = -1;
        bool agree = true;
        for (int i = 0; i < cp->n && agree; i++) {
            if (!counted(cp, i))
                continue;
            if (cluster_proc_call(cp, i, "INFO replication", info,
                                  sizeof(info)) != 0) {
                agree = false;
                break;
            }
            long long lid = cluster_proc_info_int(info, "leader_id");
            int li = (int)lid - 1;
            if (lid <= 0 || li >= cp->n || !counted(cp, li) ||
                (leader >= 0 && li != leader))
                agree = false;
            leader = li;
            if (li == i && strstr(info, "raft_role:leader") == NULL)
                agree = false;
        }
        if (agree && leader >= 0)
            return leader;
        server_proc_pause_ms(POLL_PAUSE_MS);
    } while (cluster_proc_now_ms() < end);
    return -1;
}

long long cluster_proc_wait_applied_equal(struct cluster_proc *cp,
                                          long long min_index, int timeout_ms)
{
    long long end = cluster_proc_now_ms() + timeout_ms;
    char info[4096];
    do {
        long long want = -1;
        bool same = true;
        for (int i = 0; i < cp->n && same; i++) {
            if (!counted(cp, i))
                continue;
            if (cluster_proc_call(cp, i, "INFO replication", info,
                                  sizeof(info)) != 0) {
                same = false;
                break;
            }
            long long a = cluster_proc_info_int(info, "applied_index");
            long long c = cluster_proc_info_int(info, "commit_index");
            if (a < min_index || a != c || (want >= 0 && a != want))
                same = false;
            want = a;
        }
        if (same && want >= 0)
            return want;
        server_proc_pause_ms(POLL_PAUSE_MS);
    } while (cluster_proc_now_ms() < end);
    return -1;
}

/* ---- dump ---- */

#define DUMP_KEYS_MAX 200000
#define DUMP_SCAN_ROUNDS 100000

struct keyset {
    char **k;
    size_t n, cap;
};

static int keyset_add(struct keyset *ks, const char *p, size_t len)
{
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 1024;
        if (cap > DUMP_KEYS_MAX)
            return -1;
        char **k = realloc(ks->k, cap * sizeof(*k));
        if (k == NULL)
            return -1;
        ks->k = k;
        ks->cap = cap;
    }
    char *s = malloc(len + 1);
    if (s == NULL)
        return -1;
    memcpy(s, p, len);
    s[len] = '\0';
    ks->k[ks->n++] = s;
    return 0;
}

static void keyset_free(struct keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->k[i]);
    free(ks->k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads "$<len>\r\n<bytes>\r\n" at *p; returns the bytes or NULL. */
static const char *bulk(const char **p, size_t *len)
{
    if (**p != '$')
        return NULL;
    char *end;
    long n = strtol(*p + 1, &end, 10);
    if (n < 0 || end[0] != '\r')
        return NULL;
    const char *data = end + 2;
    *len = (size_t)n;
    *p = data + n + 2;
    return data;
}

/* One SCAN reply: appends the keys, returns the next cursor or -1. */
static long long scan_parse(const char *r, struct keyset *ks)
{
    if (strncmp(r, "*2\r\n", 4) != 0)
        return -1;
    const char *p = r + 4;
    size_t len;
    const char *cur = bulk(&p, &len);
    if (cur == NULL || *p != '*')
        return -1;
    long long cursor = strtoll(cur, NULL, 10);
    char *end;
    long n = strtol(p + 1, &end, 10);
    p = end + 2;
    for (long i = 0; i < n; i++) {
        const char *k = bulk(&p, &len);
        if (k == NULL || keyset_add(ks, k, len) != 0)
            return -1;
    }
    return cursor;
}

long cluster_proc_dump(struct cluster_proc *cp, int i, struct buf *out)
{
    struct resp_client c;
    struct keyset ks = {0};
    long result = -1;
    if (cluster_proc_connect(cp, i, &c, 5000) != 0)
        goto done;
    const char *r = resp_client_call(&c, "READONLY");
    if (r == NULL || strcmp(r, "+OK\r\n") != 0)
        goto done;
    long long cursor = 0;
    for (int round = 0; round < DUMP_SCAN_ROUNDS; round++) {
        char line[64];
        snprintf(line, sizeof(line), "SCAN %lld COUNT 1000", cursor);
        r = resp_client_call(&c, line);
        if (r == NULL || (cursor = scan_parse(r, &ks)) < 0)
            goto done;
        if (cursor == 0)
            break;
    }
    if (cursor != 0)
        goto done;
    qsort(ks.k, ks.n, sizeof(*ks.k), cmp_str);
    for (size_t k = 0; k < ks.n; k++) {
        if (k > 0 && strcmp(ks.k[k], ks.k[k - 1]) == 0)
            continue; /* SCAN may return a key twice */
        char line[600];
        snprintf(line, sizeof(line), "GET %s", ks.k[k]);
        r = resp_client_call(&c, line);
        const char *p = r;
        size_t len;
        const char *v = r != NULL ? bulk(&p, &len) : NULL;
        if (v == NULL)
            goto done;
        if (buf_printf(out, "%s=%.*s\n", ks.k[k], (int)len, v) != 0)
            goto done;
        result++;
    }
    result++;
done:
    resp_client_close(&c);
    keyset_free(&ks);
    return result;
}

void cluster_proc_print_state(struct cluster_proc *cp)
{
    char info[4096];
    for (int i = 0; i < cp->n; i++) {
        if (cp->node[i].proc.pid <= 0) {
            fprintf(stderr, "node %d: not running\n", i + 1);
            continue;
        }
        if (cluster_proc_call(cp, i, "INFO replication", info, sizeof(info)) !=
            0) {
            fprintf(stderr, "node %d: no answer (log %s)\n", i + 1,
                    cp->node[i].proc.log_path);
            continue;
        }
        for (char *p = info; *p != '\0'; p++)
            if (*p == '\r' || *p == '\n')
                *p = ' ';
        fprintf(stderr, "node %d%s: %s (log %s)\n", i + 1,
                cp->node[i].cut ? " (cut)" : "", info,
                cp->node[i].proc.log_path);
    }
}
