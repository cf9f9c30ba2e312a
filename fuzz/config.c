/*
 * config.c: libFuzzer target for the configuration parser.
 *
 * The input is parsed as a config file, then (split at NUL bytes) as
 * command-line words.  Checked: no crash; an error comes with a message;
 * after a successful parse every setting formats to a value that parses back
 * to the same settings (CONFIG GET output is valid CONFIG SET input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "node/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond,  \
                    __LINE__);                                          \
            abort();                                                    \
        }                                                               \
    } while (0)

#define WORDS_MAX 32

static void check_round_trip(const struct node_config *c)
{
    struct node_config d;
    config_init(&d);
    char v[CONFIG_STR_MAX + 128];
    for (size_t i = 0; i < config_table_len; i++) {
        config_format(c, &config_table[i], v, sizeof(v));
        CHECK(config_set_value(&d, &config_table[i], v) == NULL);
    }
    CHECK(memcmp(c, &d, sizeof(d)) == 0);
}

static void parse_words(const uint8_t *data, size_t size)
{
    static char copy[4096];
    if (size >= sizeof(copy))
        return;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *words[WORDS_MAX];
    int n = 0;
    for (size_t i = 0; i <= size && n < WORDS_MAX;) {
        words[n++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    struct node_config c;
    config_init(&c);
    char err[CONFIG_ERR_MAX] = "";
    int rc = config_load_args(&c, n, words, err, sizeof(err));
    CHECK(rc == 0 || (rc == CAIRN_ECONFIG && err[0] != '\0'));
    if (rc == 0)
        check_round_trip(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct node_config c;
    config_init(&c);
    char err[CONFIG_ERR_MAX] = "";
    int rc = config_load_text(&c, (const char *)data, size, err, sizeof(err));
    CHECK(rc == 0 || (rc == CAIRN_ECONFIG && err[0] != '\0'));
    if (rc == 0)
        check_round_trip(&c);
    parse_words(data, size);
    return 0;
}
