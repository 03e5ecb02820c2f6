/*
 * actions.h - what the configuration says to do with one finding.
 *
 * A custom detector carries its own action; a built-in one takes its kind's action for the direction
 * the string travels (client to server: `requests`, server to client: `responses`; poisoning is about
 * tool definitions, which only travel from servers). A personal-data type left out of
 * `guards.pii.types` is off.
 */
#ifndef MG_GUARD_ACTIONS_H
#define MG_GUARD_ACTIONS_H

#include <stdbool.h>

#include "config/config.h"
#include "guard/detect.h"

mg_guard_action_t mg_guard_finding_action(const mg_config_guards_t *guards, const mg_guard_detectors_t *detectors,
                                          const mg_guard_finding_t *finding, bool request);
/* "off" | "flag" | "redact" | "block" | "wrap" | "quarantine" */
const char *mg_guard_action_name(mg_guard_action_t action);

#endif
