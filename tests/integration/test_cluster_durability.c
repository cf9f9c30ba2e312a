/*
 * test_cluster_durability.c: the promise of `durability fsync` against real
 * daemons on 127.0.0.1.
 *
 * 1. Every node of a three-node cluster crashes at once (kill -9 of all
 *    three) after a run of acknowledged writes: once restarted from their
 *    data directories they elect a leader and every acknowledged write is
 *    there, with its value (plus an INCR counter whose every increment was
 *    acknowledged: its value must be exactly their number).
 * 2. A flipped byte inside a node's log segment is caught by its checksum:
 *    the node refuses to start, exits non-zero and its log names the
 *    checksum mismatch; the other two keep serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "it.h"

#define NODES 3
#define KEYS 300
#define INCRS 200
#define LEADER_WAIT_MS 15000

static char base_dir[64];

static void start_durable(struct cluster_proc *cp)
{
    assert_int_equal(cluster_proc_start(cp, NODES, 0, false, NULL), 0);
    snprintf(cp->dir_base, sizeof(cp->dir_base), "%s", base_dir);
    for (int i = 0; i < NODES; i++)
        assert_int_equal(cluster_proc_node_start(cp, i, NULL), 0);
    assert_true(cluster_proc_wait_leader(cp, LEADER_WAIT_MS) >= 0);
}

/* Writes through node i; every reply must be an acknowledgement. */
static void write_all(struct cluster_proc *cp, int i)
{
    struct resp_client c;
    assert_int_equal(cluster_proc_connect(cp, i, &c, 5000), 0);
    char line[96];
    for (int k = 0; k < KEYS; k++) {
        snprintf(line, sizeof(line), "SET dur:%d value-%d", k, k);
        const char *r = resp_client_call(&c, line);
        assert_non_null(r);
        assert_string_equal(r, "+OK\r\n");
    }
    for (int k = 1; k <= INCRS; k++) {
        const char *r = resp_client_call(&c, "INCR dur:counter");
        assert_non_null(r);
        char want[32];
        snprintf(want, sizeof(want), ":%d\r\n", k);
        assert_string_equal(r, want);
    }
    resp_client_close(&c);
}

/* Reads everything back through node i with linearizable reads. */
static void check_all(struct cluster_proc *cp, int i)
{
    struct resp_client c;
    assert_int_equal(cluster_proc_connect(cp, i, &c, 5000), 0);
    char line[64], want[64];
    for (int k = 0; k < KEYS; k++) {
        snprintf(line, sizeof(line), "GET dur:%d", k);
        snprintf(want, sizeof(want), "$%zu\r\nvalue-%d\r\n",
                 strlen("value-") + (size_t)snprintf(NULL, 0, "%d", k), k);
        const char *r = resp_client_call(&c, line);
        assert_non_null(r);
        if (strcmp(r, want) != 0) {
            fprintf(stderr, "key dur:%d: got %s\n", k,
                    resp_client_show(r, strlen(r)));
            fail();
        }
    }
    snprintf(want, sizeof(want), "$%zu\r\n%d\r\n",
             (size_t)snprintf(NULL, 0, "%d", INCRS), INCRS);
    const char *r = resp_client_call(&c, "GET dur:counter");
    assert_non_null(r);
    assert_string_equal(r, want);
    resp_client_close(&c);
}

static void acknowledged_writes_survive_every_node_crashing(void **state)
{
    (void)state;
    struct cluster_proc cp;
    start_durable(&cp);
    write_all(&cp, 1); /* through a node that may be a follower */
    for (int i = 0; i < NODES; i++)
        (void)cluster_proc_node_kill(&cp, i); /* returns 128 + SIGKILL */
    for (int i = 0; i < NODES; i++)
        assert_int_equal(cluster_proc_node_start(&cp, i, NULL), 0);
    int leader = cluster_proc_wait_leader(&cp, LEADER_WAIT_MS);
    if (leader < 0)
        cluster_proc_print_state(&cp);
    assert_true(leader >= 0);
    for (int i = 0; i < NODES; i++)
        check_all(&cp, i);
    assert_int_equal(cluster_proc_stop(&cp), 0);
}

/* Path of the first log segment in dir, or -1. */
static int find_segment(const char *dir, char *out, size_t out_len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    int rc = -1;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, "-seg-") != NULL) {
            snprintf(out, out_len, "%s/%s", dir, e->d_name);
            rc = 0;
            break;
        }
    }
    closedir(d);
    return rc;
}

static void corrupt_segment_is_refused_at_start(void **state)
{
    (void)state;
    struct cluster_proc cp;
    start_durable(&cp);
    write_all(&cp, 0);
    (void)cluster_proc_node_kill(&cp, 2);

    char dir[192], seg[512];
    snprintf(dir, sizeof(dir), "%s/n3", base_dir);
    assert_int_equal(find_segment(dir, seg, sizeof(seg)), 0);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    assert_true(st.st_size > 4096);
    /* Flip one byte in the middle of the records, well before the tail a
     * crash may tear (a torn tail is repaired, not refused). */
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    off_t at = st.st_size / 2;
    unsigned char b = 0;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);

    /* The node must refuse to start and say why. */
    assert_int_not_equal(cluster_proc_node_start(&cp, 2, NULL), 0);
    assert_false(cluster_proc_node_up(&cp, 2));
    assert_true(cluster_proc_log_has(cp.node[2].proc.log_path, "checksum",
                                     5000));
    cp.node[2].killed = true; /* its non-zero exit is the expected one */
    /* The majority keeps serving. */
    check_all(&cp, 0);
    assert_int_equal(cluster_proc_stop(&cp), 0);
}

static int make_base(void **state)
{
    (void)state;
    snprintf(base_dir, sizeof(base_dir), "/tmp/cairn-it-dur-XXXXXX");
    return mkdtemp(base_dir) == NULL ? -1 : 0;
}

static int remove_base(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            acknowledged_writes_survive_every_node_crashing, make_base,
            remove_base),
        cmocka_unit_test_setup_teardown(corrupt_segment_is_refused_at_start,
                                        make_base, remove_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
