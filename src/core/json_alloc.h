/*
 * json_alloc.h - the allocator jansson uses in the gateway: small blocks recycled per thread.
 *
 * A forwarded tools/call makes and frees some sixty small jansson blocks (values, their members,
 * hash buckets, strings) on its worker thread. glibc keeps only seven free blocks of a size per
 * thread at hand; beyond that a block goes through the arena's bins and comes back slower. Here
 * each thread keeps up to MG_JSON_ALLOC_KEPT free blocks of each size class up to 264 bytes and hands
 * them out again first. The blocks are ordinary malloc blocks, so a block may be freed by another
 * thread than made it, or by free() itself, and jansson's blocks made before the switch are freed
 * correctly after it. A thread's blocks go back to malloc when it ends.
 *
 * Built with AddressSanitizer or ThreadSanitizer, the switch does nothing: every block then goes
 * through the sanitizer's allocator, which must see each use after free and each hand-over.
 */
#ifndef MG_CORE_JSON_ALLOC_H
#define MG_CORE_JSON_ALLOC_H

#define MG_JSON_ALLOC_KEPT 256 /* free blocks kept per size class and thread */

/* Makes jansson allocate through the per-thread cache (json_set_alloc_funcs). Call once, early in
 * main, before any thread starts. */
void mg_json_alloc_install(void);

#endif
