/*
 * fuzz_asked.c - libFuzzer target for the ids of servers' requests to clients (mcp/asked.h).
 *
 * Input: an id as a client would send it back. Whatever comes in, mg_asked_id_parse either refuses it
 * or splits it into parts that lie inside it and that mg_asked_id_make puts back together into the
 * same id (with "-" for a method that is not plain); an id made from any asker, method and tail parses back into them
 * (the method as "-" when it is not a plain method name). The tail of an `approver: user` question
 * (guard/approvals.h: "<worker>:<approval id>") is taken only as the gateway makes it: a worker in range and a
 * valid id, which make the same tail again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "guard/approvals.h"
#include "mcp/asked.h"

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *id = malloc(size + 1);
    if (id == NULL)
        return 0;
    memcpy(id, data, size);
    id[size] = '\0';
    mg_asked_id_t parsed;
    if (mg_asked_id_parse(id, &parsed)) {
        size_t len = strlen(id);
        check(parsed.asker > id && parsed.asker + parsed.asker_len < id + len);
        check(parsed.method > parsed.asker && parsed.method + parsed.method_len < id + len + 1);
        check(parsed.asker_len > 0 && parsed.method_len > 0);
        check(memchr(parsed.asker, ':', parsed.asker_len) == NULL &&
              memchr(parsed.method, ':', parsed.method_len) == NULL);
        char *asker = strndup(parsed.asker, parsed.asker_len);
        char *method = strndup(parsed.method, parsed.method_len);
        char *again = asker != NULL && method != NULL ? mg_asked_id_make(asker, method, parsed.tail) : NULL;
        if (again != NULL) {
            mg_asked_id_t reparsed;
            check(mg_asked_id_parse(again, &reparsed));
            check(reparsed.asker_len == parsed.asker_len && strcmp(reparsed.tail, parsed.tail) == 0);
            /* the same id again, unless its method was not plain (then "-") */
            check(strcmp(again, id) == 0 || (reparsed.method_len == 1 && reparsed.method[0] == '-'));
        }
        free(again);
        free(method);
        free(asker);
    }
    size_t worker;
    char approval[MG_APPROVALS_ID_LEN + 1];
    const char *tail = mg_asked_id_parse(id, &parsed) ? parsed.tail : id;
    if (mg_approvals_parse_tail(tail, 64, &worker, approval)) {
        check(worker < 64 && mg_approvals_id_valid(approval));
        char again[80];
        snprintf(again, sizeof(again), "%zu:%s", worker, approval);
        check(strcmp(again, tail) == 0 || (tail[0] == '0' && strlen(tail) > strlen(again))); /* leading zeros */
    }
    /* the input as a method and as a tail: what is made always parses back */
    char *made = mg_asked_id_make("server", id, id);
    if (made != NULL) {
        check(mg_asked_id_parse(made, &parsed));
        check(mg_asked_id_from(&parsed, "server"));
        check(strcmp(parsed.tail, id) == 0);
        check((parsed.method_len == 1 && parsed.method[0] == '-') ||
              (parsed.method_len == strlen(id) && memcmp(parsed.method, id, parsed.method_len) == 0));
        free(made);
    }
    free(id);
    return 0;
}
