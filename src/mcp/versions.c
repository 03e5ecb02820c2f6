/* versions.c - see versions.h. */
#include "mcp/versions.h"

#include <string.h>

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

static bool equals(const char *known, const char *version, size_t len)
{
    return strlen(known) == len && memcmp(known, version, len) == 0;
}

bool mg_versions_is_legacy(const char *version, size_t len)
{
    for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++) {
        if (equals(legacy_versions[i], version, len))
            return true;
    }
    return false;
}

bool mg_versions_is_modern(const char *version, size_t len)
{
    return equals(MG_VERSION_MODERN, version, len);
}

const char *mg_versions_negotiate_legacy(const char *requested)
{
    for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++) {
        if (strcmp(legacy_versions[i], requested) == 0)
            return legacy_versions[i];
    }
    return MG_VERSION_LATEST_LEGACY;
}

json_t *mg_versions_supported(void)
{
    json_t *list = json_array();
    json_array_append_new(list, json_string(MG_VERSION_MODERN));
    for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++)
        json_array_append_new(list, json_string(legacy_versions[i]));
    return list;
}
