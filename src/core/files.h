/*
 * files.h - the state directory's files: created private, because they hold keys and credentials.
 */
#ifndef MG_CORE_FILES_H
#define MG_CORE_FILES_H

#include "core/error.h"

/* mkdir -p with mode 0700 for every directory it creates; fails when `dir` ends up not a directory.
 * Messages name it as the state_dir, the only directory the gateway makes. */
int mg_files_make_private_dir(const char *dir, mg_error_t *err);

#endif
