/*
 * command.c: lookup over the command tables.
 *
 * The tables are small and fixed, so lookup is a binary search over a
 * sorted index built on first use: O(log n) per command with
 * no hashing seed to worry about.  Names are compared case-insensitively, as
 * Redis does.
 */
#include "node/command.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"

/* Upper bound on the number of commands across all tables. */
#define CMD_COUNT_MAX 512

static const struct command *const tables[] = {
    cmd_server_table,
    cmd_keys_table,
    cmd_string_table,
};

static const struct command *index_sorted[CMD_COUNT_MAX];
static size_t index_count;

static int cmp_name(const void *a, const void *b)
{
    const struct command *ca = *(const struct command *const *)a;
    const struct command *cb = *(const struct command *const *)b;
    return strcmp(ca->name, cb->name);
}

static void index_build(void)
{
    for (size_t t = 0; t < ARRAY_LEN(tables); t++) {
        for (const struct command *c = tables[t]; c->name != NULL; c++) {
            ASSERT(index_count < CMD_COUNT_MAX);
            index_sorted[index_count++] = c;
        }
    }
    qsort(index_sorted, index_count, sizeof(index_sorted[0]), cmp_name);
    for (size_t i = 1; i < index_count; i++)
        ASSERT(strcmp(index_sorted[i - 1]->name, index_sorted[i]->name) < 0);
}

const struct command *cmd_lookup(const char *name, size_t len)
{
    if (index_count == 0)
        index_build();
    char lower[32];
    if (len == 0 || len >= sizeof(lower))
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        lower[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    lower[len] = '\0';
    size_t lo = 0, hi = index_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(lower, index_sorted[mid]->name);
        if (r == 0)
            return index_sorted[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void cmd_foreach(void (*visit)(void *ctx, const struct command *cmd),
                 void *ctx)
{
    if (index_count == 0)
        index_build();
    for (size_t i = 0; i < index_count; i++)
        visit(ctx, index_sorted[i]);
}

int cmd_arity_ok(const struct command *cmd, int argc)
{
    if (cmd->arity >= 0)
        return argc == cmd->arity;
    return argc >= -cmd->arity;
}
