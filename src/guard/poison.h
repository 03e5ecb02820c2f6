/*
 * poison.h - tool poisoning: the detectors (detect.h) over the definitions a server lists and its
 * instructions, and the worker's scratch space for every scan made on a worker thread.
 *
 * Where a worker judges its tool catalog for pinning (pins_catalog.c), each definition is scanned for
 * poisoning (message.h's definition walk: name, description, schema property names, descriptions,
 * enums, defaults, annotations) and, given the other servers' tool names, for shadowing. A finding whose
 * action is `quarantine` holds the definition through mg_pins_flag until an operator approves exactly it;
 * `flag` logs it (guards.poisoning) and lets it be served.
 */
#ifndef MG_GUARD_POISON_H
#define MG_GUARD_POISON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "guard/detect.h"

struct st_mg_worker_t;

/* The worker's scratch (made on first use; NULL only when memory ran out, which is logged). Worker thread. */
mg_guard_scratch_t *mg_guard_worker_scratch(struct st_mg_worker_t *worker);

/* The strongest action the poisoning findings in `definition` (a listed tool, or the instructions as a
 * string) of server `server_index` call for, MG_GUARD_ACTION_OFF when none; `detail` gets their types and
 * places ("instruction_override at /description") for people, never the text. Worker thread. */
mg_guard_action_t mg_guard_poisoning(struct st_mg_worker_t *worker, size_t server_index, json_t *definition,
                                     char *detail, size_t detail_size);

#endif
