/*
 * secrets.c - the master key and the encrypted secret store (see secrets.h).
 *
 * Sealing. value -> crypto_aead_xchacha20poly1305_ietf_encrypt(value, ad = "mcpgate-secret-v1:" +
 * name, nonce = 24 random bytes, key = master key). XChaCha's 192-bit nonces may be drawn at
 * random for as many values as anyone will ever store, so there is no counter to keep. The version
 * in the associated data lets a later format coexist without ambiguity.
 *
 * Telling a wrong key from a tampered row. Both make the AEAD refuse, and "decryption failed" helps
 * nobody. The store records the fingerprint of the key its secrets were sealed with (the key check,
 * see store/sqlite_secrets.c); a mismatch is reported as a wrong master key with both
 * fingerprints, and only a refusal under the right key is reported as an altered row. The
 * fingerprint is a keyed BLAKE2b of a constant under the master key: it identifies the key without
 * revealing anything about it.
 *
 * The master key file is refused when group or others may read it, as state_dir/session.key is:
 * it opens every stored secret.
 */
#include "auth/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AD_PREFIX "mcpgate-secret-v1:"
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEY_FILE_MAX 256

bool mg_secrets_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MG_SECRETS_NAME_MAX || (len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return true;
}

void mg_secrets_env_name(const char *name, char *out, size_t size)
{
    size_t at = (size_t)snprintf(out, size, "%s", MG_SECRETS_ENV_PREFIX);
    for (; *name != '\0' && at + 1 < size; name++) {
        char c = *name;
        out[at++] = c == '-' || c == '.' ? '_' : c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    if (at < size)
        out[at] = '\0';
}

void mg_secrets_value_free(char *value, size_t len)
{
    if (value == NULL)
        return;
    sodium_memzero(value, len);
    free(value);
}

/* --- the master key ------------------------------------------------------------------------ */

/* The key check the store records: 16 bytes of keyed BLAKE2b of a constant, 32 hex digits. */
static void key_check(const mg_secrets_key_t *key, char out[MG_STORE_KEY_CHECK_LEN + 1])
{
    static const char label[] = "mcpgate secret store key check v1";
    unsigned char digest[MG_STORE_KEY_CHECK_LEN / 2];
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)label, sizeof(label) - 1, key->bytes,
                       sizeof(key->bytes));
    sodium_bin2hex(out, MG_STORE_KEY_CHECK_LEN + 1, digest, sizeof(digest));
}

/* The fingerprint people see is the first half of the key check. */
void mg_secrets_key_fingerprint(const mg_secrets_key_t *key, char out[17])
{
    char check[MG_STORE_KEY_CHECK_LEN + 1];
    key_check(key, check);
    memcpy(out, check, 16);
    out[16] = '\0';
}

void mg_secrets_key_dispose(mg_secrets_key_t *key)
{
    sodium_memzero(key->bytes, sizeof(key->bytes));
}

/* Text (hex or any base64) or, from a file, the raw bytes. `text` is not NUL-terminated. */
static int decode_key(const char *text, size_t len, bool raw_allowed, unsigned char out[MG_SECRETS_KEY_BYTES])
{
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t decoded;
    if (raw_allowed && len == MG_SECRETS_KEY_BYTES) {
        memcpy(out, text, MG_SECRETS_KEY_BYTES);
        return 0;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    for (size_t i = 0; i < len; i++) { /* libsodium 1.0.18's base64 decoder takes some bytes above 0x7f */
        if ((unsigned char)text[i] > 0x7f)
            return -1;
    }
    if (len == 2 * MG_SECRETS_KEY_BYTES &&
        sodium_hex2bin(out, MG_SECRETS_KEY_BYTES, text, len, NULL, &decoded, NULL) == 0 &&
        decoded == MG_SECRETS_KEY_BYTES)
        return 0;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        if (sodium_base642bin(out, MG_SECRETS_KEY_BYTES, text, len, NULL, &decoded, NULL, variants[i]) == 0 &&
            decoded == MG_SECRETS_KEY_BYTES)
            return 0;
    }
    sodium_memzero(out, MG_SECRETS_KEY_BYTES);
    return -1;
}

static int load_key_file(const char *path, const char *how, mg_secrets_key_t *key, mg_error_t *err)
{
    char text[KEY_FILE_MAX + 1];
    struct stat st;
    ssize_t got = 0;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return mg_error_set(err, "master key file %s (%s): cannot open: %s", path, how, strerror(errno));
    if (fstat(fd, &st) != 0)
        mg_error_set(err, "master key file %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        mg_error_set(err, "master key file %s: not a regular file", path);
    else if ((st.st_mode & 077) != 0)
        mg_error_set(err, "master key file %s: mode %04o lets group or others read it; run chmod 600 %s", path,
                     (unsigned)(st.st_mode & 07777), path);
    else if ((got = read(fd, text, sizeof(text))) < 0)
        mg_error_set(err, "master key file %s: cannot read: %s", path, strerror(errno));
    else if (got > KEY_FILE_MAX || decode_key(text, (size_t)got, true, key->bytes) != 0)
        mg_error_set(err, "master key file %s: expected 32 bytes written as 64 hex digits or base64, or 32 raw bytes",
                     path);
    else
        rc = 0;
    close(fd);
    sodium_memzero(text, sizeof(text));
    if (rc == 0)
        snprintf(key->source, sizeof(key->source), "%s (%s)", path, how);
    return rc;
}

int mg_secrets_key_load(const char *config_file, mg_secrets_key_t *key, mg_error_t *err)
{
    const char *inline_key = getenv("MCPGATE_MASTER_KEY"), *file = getenv("MCPGATE_MASTER_KEY_FILE");
    memset(key, 0, sizeof(*key));
    if (sodium_init() < 0)
        return mg_error_set(err, "libsodium failed to initialize");
    /* Set to the empty string counts as not set, so `MCPGATE_MASTER_KEY= cmd` can mask a variable. */
    inline_key = inline_key != NULL && inline_key[0] != '\0' ? inline_key : NULL;
    file = file != NULL && file[0] != '\0' ? file : NULL;
    if (inline_key != NULL && file != NULL)
        return mg_error_set(err, "both MCPGATE_MASTER_KEY and MCPGATE_MASTER_KEY_FILE are set; set only one");
    if (inline_key != NULL) {
        if (decode_key(inline_key, strlen(inline_key), false, key->bytes) != 0)
            return mg_error_set(err,
                                "MCPGATE_MASTER_KEY: expected 32 bytes written as 64 hex digits or base64, got %zu "
                                "characters",
                                strlen(inline_key));
        snprintf(key->source, sizeof(key->source), "MCPGATE_MASTER_KEY");
        return 0;
    }
    if (file != NULL)
        return load_key_file(file, "MCPGATE_MASTER_KEY_FILE", key, err);
    if (config_file != NULL)
        return load_key_file(config_file, "secrets.master_key_file", key, err);
    mg_error_set(err, "no master key: set MCPGATE_MASTER_KEY or MCPGATE_MASTER_KEY_FILE, or secrets.master_key_file "
                      "in the configuration (`mcpgate secrets init-key FILE` makes one)");
    return MG_SECRETS_NO_MASTER_KEY;
}

int mg_secrets_key_create(const char *path, mg_secrets_key_t *key, mg_error_t *err)
{
    char text[sodium_base64_ENCODED_LEN(MG_SECRETS_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1];
    memset(key, 0, sizeof(*key));
    if (sodium_init() < 0)
        return mg_error_set(err, "libsodium failed to initialize");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return mg_error_set(err, "%s exists; not overwriting a master key (what it sealed would be lost)", path);
    if (fd < 0)
        return mg_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    randombytes_buf(key->bytes, sizeof(key->bytes));
    sodium_bin2base64(text, sizeof(text), key->bytes, sizeof(key->bytes), sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(text);
    text[len++] = '\n';
    int rc = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    sodium_memzero(text, sizeof(text));
    if (rc != 0) {
        mg_error_set(err, "%s: cannot write: %s", path, strerror(errno));
        unlink(path);
        mg_secrets_key_dispose(key);
        return -1;
    }
    snprintf(key->source, sizeof(key->source), "%s", path);
    return 0;
}

/* --- sealing ------------------------------------------------------------------------------- */

/* The associated data: AD_PREFIX + name. */
static size_t make_ad(const char *name, unsigned char *ad, size_t size)
{
    int len = snprintf((char *)ad, size, AD_PREFIX "%s", name);
    return len < 0 ? 0 : (size_t)len;
}

int mg_secrets_put(mg_store_t *store, const mg_secrets_key_t *key, const char *name, const char *value, size_t len,
                   int64_t now, mg_error_t *err)
{
    unsigned char ad[sizeof(AD_PREFIX) + MG_SECRETS_NAME_MAX], nonce[NONCE_BYTES];
    char check[MG_STORE_KEY_CHECK_LEN + 1];
    if (!mg_secrets_name_valid(name, strlen(name)))
        return mg_error_set(err, "secret name \"%s\": 1 to %d characters from A-Z a-z 0-9 _ . - (not . or ..)", name,
                            MG_SECRETS_NAME_MAX);
    if (len == 0)
        return mg_error_set(err, "secret %s: the value is empty", name);
    if (len > MG_SECRETS_VALUE_MAX)
        return mg_error_set(err, "secret %s: the value is longer than %d bytes", name, MG_SECRETS_VALUE_MAX);
    if (memchr(value, '\0', len) != NULL)
        return mg_error_set(err, "secret %s: the value contains a NUL byte", name);
    if (sodium_init() < 0)
        return mg_error_set(err, "libsodium failed to initialize");
    unsigned char *sealed = malloc(len + TAG_BYTES);
    if (sealed == NULL)
        return mg_error_set(err, "out of memory");
    unsigned long long sealed_len;
    randombytes_buf(nonce, sizeof(nonce));
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &sealed_len, (const unsigned char *)value, len, ad,
                                               make_ad(name, ad, sizeof(ad)), NULL, nonce, key->bytes);
    key_check(key, check);
    mg_store_secret_t row = {.name = (char *)name,
                             .nonce = nonce,
                             .nonce_len = sizeof(nonce),
                             .ciphertext = sealed,
                             .ciphertext_len = (size_t)sealed_len,
                             .updated_at = now};
    int rc = mg_store_secret_put(store, &row, check, err);
    if (rc == MG_STORE_CONFLICT) {
        char fingerprint[17], recorded[MG_STORE_KEY_CHECK_LEN + 1];
        mg_secrets_key_fingerprint(key, fingerprint);
        if (mg_store_secret_key_check(store, recorded, NULL) != 0)
            recorded[0] = '\0';
        recorded[16] = '\0';
        mg_error_set(err,
                     "the master key from %s (fingerprint %s) is not the one the secrets in %s are sealed with "
                     "(fingerprint %s)",
                     key->source, fingerprint, mg_store_path(store), recorded);
    }
    free(sealed);
    return rc;
}

int mg_secrets_get(mg_store_t *store, const mg_secrets_key_t *key, const char *name, char **value, size_t *len,
                   mg_error_t *err)
{
    unsigned char ad[sizeof(AD_PREFIX) + MG_SECRETS_NAME_MAX];
    char check[MG_STORE_KEY_CHECK_LEN + 1], recorded[MG_STORE_KEY_CHECK_LEN + 1];
    mg_store_secret_t row;
    *value = NULL;
    *len = 0;
    if (!mg_secrets_name_valid(name, strlen(name)))
        return mg_error_set(err, "secret name \"%s\" is not valid", name);
    if (sodium_init() < 0)
        return mg_error_set(err, "libsodium failed to initialize");
    int rc = mg_store_secret_get(store, name, &row, err);
    if (rc != 0)
        return rc;
    key_check(key, check);
    if (mg_store_secret_key_check(store, recorded, NULL) == 0 && strcmp(recorded, check) != 0) {
        char fingerprint[17];
        mg_secrets_key_fingerprint(key, fingerprint);
        recorded[16] = '\0';
        rc = mg_error_set(err,
                          "secret %s: the master key from %s (fingerprint %s) is not the one the secrets in %s are "
                          "sealed with (fingerprint %s)",
                          name, key->source, fingerprint, mg_store_path(store), recorded);
        goto done;
    }
    unsigned long long plain_len = 0;
    bool shaped = row.nonce_len == NONCE_BYTES && row.ciphertext_len >= TAG_BYTES;
    char *plain = shaped ? malloc(row.ciphertext_len - TAG_BYTES + 1) : NULL;
    if (shaped && plain == NULL) {
        rc = mg_error_set(err, "out of memory");
        goto done;
    }
    if (!shaped ||
        crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)plain, &plain_len, NULL, row.ciphertext,
                                                   row.ciphertext_len, ad, make_ad(name, ad, sizeof(ad)), row.nonce,
                                                   key->bytes) != 0 ||
        memchr(plain, '\0', (size_t)plain_len) != NULL) {
        mg_secrets_value_free(plain, shaped ? row.ciphertext_len - TAG_BYTES : 0);
        rc = mg_error_set(err,
                          "secret %s: its sealed value in %s fails authentication under the right master key: the "
                          "row was altered or copied from another secret; set it again",
                          name, mg_store_path(store));
        goto done;
    }
    plain[plain_len] = '\0';
    *value = plain;
    *len = (size_t)plain_len;
done:
    mg_store_secret_dispose(&row);
    return rc;
}
