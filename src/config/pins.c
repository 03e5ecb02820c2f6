/*
 * pins.c - the `pins` section: what the gateway does when a tool's definition changes after it was
 * first seen (docs/guards.md, "Tool pinning"; src/guard/pins.h enforces it).
 *
 *   pins: {mode: enforce}   # enforce | warn | off
 *
 * Without the section the mode is enforce: a security gateway holds a changed tool for review by
 * default, and first sight is trust on first use, so nothing needs configuring before the first run.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

static const char *const pins_keys[] = {"mode", NULL};

int mg_config_load_pins(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_pins_t *pins)
{
    pins->mode = MG_PINS_ENFORCE;
    if (node == NULL)
        return 0;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, "pins") != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, "pins", pins_keys) != 0)
        return -1;
    yaml_node_t *mode = mg_config_yaml_get(&loader->yaml, node, "mode", NULL);
    if (mode == NULL)
        return 0;
    char *text;
    if (mg_config_yaml_string(&loader->yaml, mode, "pins.mode", &text) != 0)
        return -1;
    int rc = 0;
    if (strcmp(text, "enforce") == 0)
        pins->mode = MG_PINS_ENFORCE;
    else if (strcmp(text, "warn") == 0)
        pins->mode = MG_PINS_WARN;
    else if (strcmp(text, "off") == 0)
        pins->mode = MG_PINS_OFF;
    else
        rc = mg_config_yaml_fail(&loader->yaml, mode, "pins.mode", "\"%s\" must be enforce, warn or off",
                                 mg_config_yaml_raw(mode));
    free(text);
    return rc;
}

const char *mg_config_pins_mode_name(mg_pins_mode_t mode)
{
    switch (mode) {
    case MG_PINS_WARN:
        return "warn";
    case MG_PINS_OFF:
        return "off";
    default:
        return "enforce";
    }
}
