/*
 * fuzz_webhook_verdict.c - libFuzzer target for the webhook guard's answer parser
 * (guard/webhook.h: mg_webhook_parse_verdict).
 *
 * Input: any bytes as the service's answer body, under status 200 and under the first byte's status
 * (so that non-200 paths are walked too). Whatever comes in: the verdict is one of the three, the reason
 * is NUL-terminated within MG_WEBHOOK_REASON_MAX and holds no control character, allow comes only with
 * status 200, and the same input gives the same verdict and reason twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/webhook.h"

static void check(int condition)
{
    if (!condition)
        abort();
}

static void one(int status, const char *body, size_t len)
{
    char reason[MG_WEBHOOK_REASON_MAX], again[MG_WEBHOOK_REASON_MAX];
    memset(reason, 'x', sizeof(reason));
    mg_webhook_verdict_t verdict = mg_webhook_parse_verdict(status, body, len, reason);
    check(verdict == MG_WEBHOOK_ALLOW || verdict == MG_WEBHOOK_BLOCK || verdict == MG_WEBHOOK_ERROR);
    check(memchr(reason, '\0', sizeof(reason)) != NULL);
    for (size_t i = 0; reason[i] != '\0'; i++)
        check((unsigned char)reason[i] >= 0x20 && reason[i] != 0x7f);
    check(verdict != MG_WEBHOOK_ALLOW || status == 200);
    check(mg_webhook_parse_verdict(status, body, len, again) == verdict);
    check(strcmp(reason, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(200, (const char *)data, size);
    if (size > 0)
        one(100 + data[0] * 2, (const char *)data + 1, size - 1);
    return 0;
}
