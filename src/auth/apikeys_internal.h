/*
 * apikeys_internal.h - what apikeys.c (format, creation) and apikeys_table.c (verification) share.
 */
#ifndef MG_AUTH_APIKEYS_INTERNAL_H
#define MG_AUTH_APIKEYS_INTERNAL_H

#include "auth/apikeys.h"

/* The stored hash of a key's secret, bound to its id (see apikeys.c for why BLAKE2b suffices). */
void mg_apikeys_hash(const char id[MG_APIKEY_ID_LEN + 1], const unsigned char secret[MG_APIKEY_SECRET_BYTES],
                     unsigned char hash[MG_STORE_HASH_BYTES]);

#endif
