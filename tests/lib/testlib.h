/*
 * testlib.h: helpers shared by the cmocka tests.
 *
 * Allocation fault injection: test_alloc_fail_after(n) lets the next n
 * allocations succeed and fails every one after that until
 * test_alloc_reset().  A fault-path test loops n from 0 upward until the
 * operation succeeds, proving every failure point is handled.
 */
#ifndef CAIRN_TESTS_TESTLIB_H
#define CAIRN_TESTS_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

void test_alloc_fail_after(long n);
void test_alloc_reset(void);
/* Allocations failed by the hook since the last reset. */
long test_alloc_failures(void);

/* Seed for randomized tests: $CAIRN_TEST_SEED if set, else the default
 * given.  Printed so a failure can be replayed. */
uint64_t test_seed(uint64_t default_seed);

#endif
