/* files.c - see files.h. */
#include "core/files.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int mg_files_make_private_dir(const char *dir, mg_error_t *err)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path))
        return mg_error_set(err, "state_dir \"%s\": empty or too long", dir);
    memcpy(path, dir, len + 1);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return mg_error_set(err, "state_dir: cannot create \"%s\": %s", path, strerror(errno));
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mg_error_set(err, "state_dir \"%s\" is not a directory", dir);
    return 0;
}
