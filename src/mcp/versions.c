/* versions.c - see versions.h. */
#include "mcp/versions.h"

#include <string.h>

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

bool mg_versions_is_legacy(const char *version, size_t len)
{
    for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++) {
        if (strlen(legacy_versions[i]) == len && memcmp(legacy_versions[i], version, len) == 0)
            return true;
    }
    return false;
}

const char *mg_versions_negotiate_legacy(const char *requested)
{
    for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++) {
        if (strcmp(legacy_versions[i], requested) == 0)
            return legacy_versions[i];
    }
    return MG_VERSION_LATEST_LEGACY;
}
