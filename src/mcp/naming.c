/* naming.c - see naming.h for the scheme and why it is unambiguous. */
#include "mcp/naming.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *join(const char *prefix, const char *separator, const char *name)
{
    size_t len = strlen(prefix) + strlen(separator) + strlen(name) + 1;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s%s%s", prefix, separator, name);
    return out;
}

static int split(const mg_config_t *config, const char *public_name, const char *separator, size_t *server_index,
                 const char **local)
{
    const char *cut = strstr(public_name, separator);
    if (cut == NULL || cut == public_name)
        return -1;
    size_t prefix_len = (size_t)(cut - public_name);
    for (size_t i = 0; i < config->servers_len; i++) {
        const char *name = config->servers[i].name;
        if (strlen(name) == prefix_len && memcmp(name, public_name, prefix_len) == 0) {
            *server_index = i;
            *local = cut + strlen(separator);
            return 0;
        }
    }
    return -1;
}

char *mg_naming_join_name(const mg_config_t *config, size_t server_index, const char *name)
{
    return join(config->servers[server_index].name, config->tool_separator, name);
}

int mg_naming_split_name(const mg_config_t *config, const char *public_name, size_t *server_index,
                         const char **local_name)
{
    if (split(config, public_name, config->tool_separator, server_index, local_name) != 0)
        return -1;
    return **local_name == '\0' ? -1 : 0;
}

char *mg_naming_join_uri(const mg_config_t *config, size_t server_index, const char *uri)
{
    return join(config->servers[server_index].name, "+", uri);
}

int mg_naming_split_uri(const mg_config_t *config, const char *public_uri, size_t *server_index, const char **local_uri)
{
    if (split(config, public_uri, "+", server_index, local_uri) != 0)
        return -1;
    return **local_uri == '\0' ? -1 : 0;
}
