/*
 * fuzz_tokens.c - libFuzzer target for the gateway's sealed tokens a client hands back:
 * MRTR requestStates (mrtr.h) and task handles (tasks.h).
 *
 * Every input is used twice, under a fixed all-zero key:
 *   1. as a token, the way a client's params.requestState / params.taskId reaches
 *      mg_mrtr_open and mg_tasks_open;
 *   2. as plaintext, sealed here under each prefix into an authentic token, to reach the
 *      claims checks that sit behind the AEAD and that random tokens never get past.
 * Whatever opens must be consistent: a state of a known kind, a handle with a server and a
 * string task id; nothing may crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mrtr.h"
#include "mcp/seal.h"
#include "mcp/tasks.h"

static const mg_session_key_t zero_key; /* all zero */
static const mg_mrtr_request_t request = {"anonymous", "tools/call", "everything__echo"};

static void open_both(const char *token, size_t len)
{
    mg_mrtr_state_t state;
    char why[160];
    if (mg_mrtr_open(&zero_key, token, len, &request, 1800000000, &state, why, sizeof(why)) == 0) {
        if (state.kind != MG_MRTR_PARK && state.kind != MG_MRTR_WRAP)
            abort();
        mg_mrtr_state_dispose(&state);
    } else if (strncmp(why, "Invalid requestState: ", 22) != 0) {
        abort();
    }
    char server[128];
    json_t *task_id = NULL;
    if (mg_tasks_open(&zero_key, "anonymous", token, len, server, sizeof(server), &task_id, why, sizeof(why)) == 0) {
        if (!json_is_string(task_id) || strlen(server) >= sizeof(server))
            abort();
        json_decref(task_id);
    } else if (task_id != NULL) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = malloc(size + 1);
    if (token == NULL)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    open_both(token, size);
    free(token);

    static const char *const prefixes[] = {"mcpgate.rs1.", "mcpgate.task1."};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char *sealed = mg_seal(&zero_key, prefixes[i], data, size, MG_MRTR_MAX_TOKEN);
        if (sealed != NULL) {
            open_both(sealed, strlen(sealed));
            free(sealed);
        }
    }
    return 0;
}
