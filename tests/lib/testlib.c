/* testlib.c: see testlib.h. */
#include "testlib.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"

static long allow_left;
static long failures;

static bool fail_hook(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    if (allow_left > 0) {
        allow_left--;
        return false;
    }
    failures++;
    return true;
}

void test_alloc_fail_after(long n)
{
    allow_left = n;
    failures = 0;
    cairn_alloc_set_fail_hook(fail_hook, NULL);
}

void test_alloc_reset(void)
{
    cairn_alloc_set_fail_hook(NULL, NULL);
}

long test_alloc_failures(void)
{
    return failures;
}

uint64_t test_seed(uint64_t default_seed)
{
    const char *s = getenv("CAIRN_TEST_SEED");
    uint64_t seed = s != NULL ? strtoull(s, NULL, 0) : default_seed;
    fprintf(stderr, "test seed: %llu (set CAIRN_TEST_SEED to replay)\n",
            (unsigned long long)seed);
    return seed;
}
