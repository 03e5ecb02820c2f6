/*
 * asked.h - the ids under which a server's request to a client travels through the gateway.
 *
 * A server's request (elicitation, sampling, roots, ping) reaches the client under an id the gateway
 * makes, "mcpgate:<asker>:<method>:<tail>":
 *   - <asker> is the configured server that asked, MG_ASKED_BRIDGE for the questions of a modern
 *     server that the gateway puts to a legacy client itself (http/park.h), or MG_ASKED_APPROVAL for the
 *     gateway's own question of an `approver: user` rule (guard/approvals.h);
 *   - <method> is the method asked, or "-" when the server's method is not a plain method name;
 *   - <tail> is what the asker needs to find its request again (the server's own id as JSON, a number).
 * The client's response comes back under that id, wherever it lands: the asker routes it by <tail>, and
 * the validation stage checks its result against <method>'s result schema (validate.h).
 */
#ifndef MG_MCP_ASKED_H
#define MG_MCP_ASKED_H

#include <stdbool.h>
#include <stddef.h>

#define MG_ASKED_PREFIX "mcpgate:"
#define MG_ASKED_BRIDGE "ask" /* the asker of the bridge's questions */
/* The asker of `approver: user` rules' questions (guard/approvals.h). Its '_' is outside the characters of
 * a server name ([a-z0-9-], config/servers.c), so no configured server can ask under the same name. */
#define MG_ASKED_APPROVAL "user_approval"

typedef struct st_mg_asked_id_t {
    const char *asker; /* not terminated: asker_len bytes */
    size_t asker_len;
    const char *method; /* not terminated: method_len bytes; "-" for a method the id could not carry */
    size_t method_len;
    const char *tail; /* the rest of the id, terminated */
} mg_asked_id_t;

/* The id of `method` asked by `asker`, ending in `tail`: malloc'd, NULL when out of memory. */
char *mg_asked_id_make(const char *asker, const char *method, const char *tail);

/* Splits an id of that form (pointers into `id`); false for any other id. */
bool mg_asked_id_parse(const char *id, mg_asked_id_t *out);

/* Whether the parsed id was asked by `asker`. */
bool mg_asked_id_from(const mg_asked_id_t *parsed, const char *asker);

#endif
