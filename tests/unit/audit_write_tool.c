/*
 * audit_write_tool.c - writes a real audit trail for the end-to-end tests (tests/e2e/audit-cli.test.mjs).
 *
 *   audit_write_tool CONFIG COUNT
 *
 * Loads CONFIG (its `audit` section), and emits COUNT records through the audit module exactly as
 * the gateway would (mg_audit_create, start, emit, destroy), so the trail the tests tamper with is
 * the module's own output, not a hand-made imitation. Record i (from 0) is by "alice" when i is
 * even and "bob" otherwise, calls tool "echo" on server "everything" when i % 3 != 2 and "add" on
 * "math" otherwise, and is denied when i % 4 == 3 (rule "roles[0].deny[0]"), allowed otherwise.
 * Running it again continues the chain.
 */
#include <stdio.h>
#include <stdlib.h>

#include "audit/audit.h"
#include "config/config.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: audit_write_tool CONFIG COUNT\n");
        return 2;
    }
    mg_config_t *config;
    mg_error_t err;
    mg_audit_t *audit;
    if (mg_config_load_file(argv[1], &config, &err) != 0 || !config->audit.enabled ||
        mg_audit_create(&config->audit, &audit, &err) != 0 || mg_audit_start(audit, &err) != 0) {
        fprintf(stderr, "%s\n", config != NULL && !config->audit.enabled ? "no audit section" : err.message);
        return 1;
    }
    long count = strtol(argv[2], NULL, 10);
    for (long i = 0; i < count; i++) {
        json_t *id = json_integer(i + 1);
        json_t *arguments = json_pack("{s:s, s:i}", "message", "secret text", "n", (int)i);
        mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
        event.request_id = id;
        event.principal.subject = i % 2 == 0 ? "alice" : "bob";
        event.principal.method = "api_key";
        event.client_address = "127.0.0.1";
        event.protocol_version = "2025-06-18";
        event.server = i % 3 != 2 ? "everything" : "math";
        event.item_kind = MG_AUDIT_ITEM_TOOL;
        event.item_name = i % 3 != 2 ? "echo" : "add";
        event.method = "tools/call";
        event.decision = i % 4 == 3 ? MG_AUDIT_DENY : MG_AUDIT_ALLOW;
        event.rule = i % 4 == 3 ? "roles[0].deny[0]" : "roles[0].allow[0]";
        event.arguments = arguments;
        event.status = i % 4 == 3 ? "error" : "ok";
        event.total_us = 100 + i;
        int rc = mg_audit_emit(audit, &event, &err);
        json_decref(id);
        json_decref(arguments);
        if (rc != 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
    }
    mg_audit_destroy(audit);
    mg_config_release(config);
    return 0;
}
