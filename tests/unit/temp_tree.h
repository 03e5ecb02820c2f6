/*
 * temp_tree.h - a throw-away directory tree per unit test (state_dir, secrets dir), shared by the
 * tests of the store, API keys and secrets.
 */
#ifndef MG_TESTS_TEMP_TREE_H
#define MG_TESTS_TEMP_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Makes /tmp/mg-test-<name>-XXXXXX into `root` (at least 64 bytes); -1 on failure. */
static inline int temp_tree_make(char *root, size_t size, const char *name)
{
    snprintf(root, size, "/tmp/mg-test-%s-XXXXXX", name);
    return mkdtemp(root) == NULL ? -1 : 0;
}

static inline int temp_tree_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes the tree, whatever it holds. */
static inline void temp_tree_remove(const char *root)
{
    nftw(root, temp_tree_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
