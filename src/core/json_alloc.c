/*
 * json_alloc.c - per-thread recycling of jansson's small blocks (contract in json_alloc.h).
 *
 * Size classes follow glibc's own block sizes: a block whose usable size is 16k + 8 bytes serves any
 * request up to that, so class k holds blocks of at least 16k + 8 usable bytes and a free block is
 * filed by malloc_usable_size (a block glibc made a little larger than asked still serves its class).
 * A free block's first word links it into its class's list.
 */
#include "core/json_alloc.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Off under the sanitizers: they must see every block come from and go back to their allocator. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RECYCLE 0
#endif
#endif
#ifndef RECYCLE
#define RECYCLE 1
#endif

#if RECYCLE

#define CLASSES 16 /* usable sizes 24, 40, ..., 264 */

typedef struct st_free_list_t {
    void *head;
    unsigned count;
} free_list_t;

/* The thread's lists (index k: blocks of 16k + 8 usable bytes or more), and whether its exit returns
 * them. initial-exec: the core library is built position-independent, and the general model would
 * call __tls_get_addr on every allocation; only executables link it. */
#define THREAD_LOCAL _Thread_local __attribute__((tls_model("initial-exec")))
static THREAD_LOCAL free_list_t lists[CLASSES + 1];
static THREAD_LOCAL bool registered;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void release_thread_blocks(void *unused)
{
    (void)unused;
    for (size_t k = 1; k <= CLASSES; k++) {
        while (lists[k].head != NULL) {
            void *block = lists[k].head;
            lists[k].head = *(void **)block;
            free(block);
        }
        lists[k].count = 0;
    }
}

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, release_thread_blocks) != 0)
        abort(); /* at start-up: no key left is a broken process */
}

static void *recycled_malloc(size_t size)
{
    size_t k = size <= 24 ? 1 : (size + 7) / 16;
    if (k > CLASSES)
        return malloc(size);
    free_list_t *list = &lists[k];
    void *block = list->head;
    if (block == NULL)
        return malloc(16 * k + 8);
    list->head = *(void **)block;
    list->count--;
    return block;
}

static void keep(void *block, size_t k)
{
    *(void **)block = lists[k].head;
    lists[k].head = block;
    lists[k].count++;
}

/* Out of the common path, so that it stays a few instructions: a thread's first block, a full list. */
static __attribute__((noinline)) void free_slowly(void *block, size_t k)
{
    if (k == 0 || k > CLASSES || lists[k].count >= MG_JSON_ALLOC_KEPT) {
        free(block);
        return;
    }
    pthread_once(&exit_key_once, make_exit_key);
    pthread_setspecific(exit_key, lists); /* any non-NULL value: the destructor then runs */
    registered = true;
    keep(block, k);
}

static void recycled_free(void *block)
{
    if (block == NULL)
        return;
    size_t k = (malloc_usable_size(block) - 8) / 16;
    if (k - 1 >= CLASSES || lists[k].count >= MG_JSON_ALLOC_KEPT || !registered) {
        free_slowly(block, k);
        return;
    }
    keep(block, k);
}

void mg_json_alloc_install(void)
{
    json_set_alloc_funcs(recycled_malloc, recycled_free);
}

#else

void mg_json_alloc_install(void) {}

#endif
