/*
 * fuzz_admin_route.c - libFuzzer target for the admin API's readers of untrusted input (http/admin_route.h).
 *
 * Input: one byte that picks the method (even: GET, odd: POST), then the request-target up to the first
 * newline, then the body. mg_admin_route_parse reads only the bytes it is given and answers 0, 400, 404 or
 * 405; a target it accepts names an action whose fields hold what admin_route.h promises (a well-formed
 * approval id, a non-empty server, no control characters), and the method it matched is the one it
 * names. mg_admin_body_parse answers 0 with a reason of at most MG_ADMIN_REASON_MAX bytes, or 400; the
 * body's bytes also go through mg_admin_is_json_type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/approvals.h"
#include "http/admin_route.h"

static void check(int condition)
{
    if (!condition)
        abort();
}

static int printable(const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        if (*c < 0x20 || *c == 0x7f)
            return 0;
    }
    return 1;
}

static void route(const char *method, const uint8_t *data, size_t size)
{
    char *target = malloc(size > 0 ? size : 1); /* exact size: AddressSanitizer sees a read past the end */
    if (target == NULL)
        return;
    memcpy(target, data, size);
    mg_admin_route_t parsed;
    char error[256];
    int status = mg_admin_route_parse(method, strlen(method), target, size, &parsed, error, sizeof(error));
    check(status == 0 || status == MG_ADMIN_BAD_REQUEST || status == MG_ADMIN_NOT_FOUND ||
          status == MG_ADMIN_BAD_METHOD);
    if (status != 0 && status != MG_ADMIN_NOT_FOUND)
        check(parsed.allow != NULL);
    if (status == MG_ADMIN_BAD_METHOD)
        check(strcmp(parsed.allow, method) != 0);
    if (status == 0) {
        check(strcmp(parsed.allow, method) == 0);
        switch (parsed.action) {
        case MG_ADMIN_LIST_APPROVALS:
        case MG_ADMIN_LIST_TOOLS:
            check(strcmp(method, "GET") == 0);
            break;
        case MG_ADMIN_DECIDE_APPROVAL:
            check(mg_approvals_id_valid(parsed.id));
            check(strcmp(parsed.verdict, "approved") == 0 || strcmp(parsed.verdict, "denied") == 0);
            break;
        case MG_ADMIN_APPROVE_TOOL:
            check(parsed.server[0] != '\0' && printable(parsed.server) && printable(parsed.tool));
            break;
        default:
            check(0);
        }
    }
    free(target);
}

static void body(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL)
        return;
    memcpy(text, data, size);
    char reason[MG_ADMIN_REASON_MAX + 1], error[256];
    int status = mg_admin_body_parse(text, size, reason, error, sizeof(error));
    check(status == 0 || status == MG_ADMIN_BAD_REQUEST);
    if (status == 0)
        check(strlen(reason) <= MG_ADMIN_REASON_MAX);
    (void)mg_admin_is_json_type(text, size);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *method = (data[0] & 1) != 0 ? "POST" : "GET";
    data++;
    size--;
    const uint8_t *newline = memchr(data, '\n', size);
    size_t target_len = newline != NULL ? (size_t)(newline - data) : size;
    route(method, data, target_len);
    if (newline != NULL)
        body(newline + 1, size - target_len - 1);
    return 0;
}
