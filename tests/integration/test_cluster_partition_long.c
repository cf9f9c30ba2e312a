/*
 * test_cluster_partition_long.c: a partition of the leader that lasts
 * LONG_HOLD_MS, then heals: the healed node must agree on the leader and
 * serve the majority's writes within HEAL_BOUND_MS (a liveness bound, not
 * a performance goal).  Everything else (namespaces, checks, skip when not
 * root) is test_cluster_partition.c, compiled here with
 * CLUSTER_PARTITION_LONG; it is a separate program so each file stays well
 * under a minute.
 */
#define CLUSTER_PARTITION_LONG 1
#define LONG_HOLD_MS 12000

#include "test_cluster_partition.c"
