/*
 * session.c - sealed legacy session ids (see session.h, DESIGN.md section 2).
 *
 * Design. A legacy Mcp-Session-Id is the session itself: the claims are written
 * as compact JSON with short keys, encrypted with XChaCha20-Poly1305 under a
 * 32-byte key only the gateway holds, and sent as
 *
 *     "v1." base64url-no-padding( nonce[24] || ciphertext || tag[16] )
 *
 * The nonce is random per token (192 bits, so random nonces never collide in
 * practice), and the version prefix "v1" is the additional data, so a token can
 * never be reinterpreted under a later format. Nothing is stored server side:
 * any worker or replica holding the key opens any token.
 *
 * Threat model. mg_session_open is fed raw header values by anyone who can
 * reach the listener. It bounds the length before decoding, decodes into fixed
 * stack buffers, authenticates before parsing, and answers only "malformed
 * session id" or "session id not authentic", so a probe learns nothing about
 * which check failed beyond what the wire format already says. Authentic
 * plaintext is still validated strictly (exact key set, exact types, sid as 32
 * lowercase hex, strings that fit the struct buffers): a key leak or a bug in an
 * older writer must not turn into out-of-range values in the gateway. A token is
 * not a credential: the caller compares claims.principal with the request's
 * authenticated principal. Tokens do not expire here; issued_at lets the caller
 * apply a maximum age.
 *
 * seal refuses exactly what open would refuse, by decoding its own plaintext
 * before encrypting it, so every token the gateway issues can be opened again.
 *
 * Key rotation: open takes one key; during a rotation the caller tries the
 * current key and, on "not authentic", the previous one.
 *
 * Key file. state_dir/session.key holds 32 raw bytes. It is created on first use
 * in a temporary file (O_EXCL, mode 0600, fsync) then published with link(),
 * which unlike rename() never replaces a key another process published first;
 * the loser of that race loads the winner's key. An existing key file whose mode
 * lets group or others read it is refused (the message says to chmod 600): a
 * readable key lets any local user forge sessions for any principal, and a
 * one-line fix is cheaper than a warning nobody reads. Symlinks are followed so
 * that mounted secrets (e.g. Kubernetes volumes) work; the checks apply to the
 * file they point at.
 */
#include "mcp/session.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/files.h"
#include "core/json_write.h"

#define VERSION_AD "v1"
#define TOKEN_PREFIX VERSION_AD "."
#define TOKEN_PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SID_HEX_LEN 32
/* The largest nonce||ciphertext a token of MG_SESSION_MAX_TOKEN characters can carry. */
#define MAX_SEALED_BYTES ((MG_SESSION_MAX_TOKEN - TOKEN_PREFIX_LEN) * 3 / 4)

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == MG_SESSION_KEY_BYTES, "key size");
_Static_assert(sizeof(((mg_session_claims_t *)0)->sid) == SID_HEX_LEN + 1, "sid buffer");

static const char MALFORMED[] = "malformed session id";
static const char NOT_AUTHENTIC[] = "session id not authentic";

/* --- claims <-> JSON ------------------------------------------------------------ */

/* Short keys keep tokens small; they never leave the ciphertext. */
#define KEY_SID "s"
#define KEY_PRINCIPAL "p"
#define KEY_VERSION "v"
#define KEY_ISSUED_AT "t"
#define KEY_CLIENT_INFO "ci"
#define KEY_CAPABILITIES "cc"
#define KEY_UPSTREAMS "us"

static int is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* libsodium 1.0.18 decodes every byte >= 0x80 as '_' (it widens a signed char), so a token with
 * non-ASCII bytes would open; the alphabet is checked here before decoding. */
static int is_base64url(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* Copies a non-empty JSON string that fits dst (with its NUL); returns 0 or -1. */
static int copy_string(const json_t *value, char *dst, size_t dst_size)
{
    if (!json_is_string(value))
        return -1;
    size_t len = json_string_length(value);
    if (len == 0 || len >= dst_size || memchr(json_string_value(value), '\0', len) != NULL)
        return -1;
    memcpy(dst, json_string_value(value), len + 1);
    return 0;
}

static int upstreams_valid(const json_t *upstreams)
{
    const char *name;
    const json_t *session_id;
    if (!json_is_object(upstreams))
        return 0;
    json_object_foreach((json_t *)upstreams, name, session_id)
    {
        if (!json_is_string(session_id))
            return 0;
    }
    return 1;
}

/* Fills claims from the decrypted plaintext. Returns NULL or a reason, which only seal shows. */
static const char *claims_decode(const unsigned char *plaintext, size_t len, mg_session_claims_t *claims)
{
    json_error_t json_error;
    json_t *root = json_loadb((const char *)plaintext, len, JSON_REJECT_DUPLICATES, &json_error);
    const char *reason = NULL;
    const char *key;
    json_t *value;
    int seen_sid = 0, seen_principal = 0, seen_version = 0, seen_issued_at = 0;

    memset(claims, 0, sizeof(*claims));
    if (root == NULL)
        return "claims do not serialize to JSON that parses back";
    if (!json_is_object(root)) {
        reason = "claims are not a JSON object";
        goto out;
    }
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, KEY_SID) == 0) {
            seen_sid = copy_string(value, claims->sid, sizeof(claims->sid)) == 0 &&
                       strlen(claims->sid) == SID_HEX_LEN && is_lower_hex(claims->sid, SID_HEX_LEN);
            if (!seen_sid)
                reason = "sid must be 32 lowercase hex characters";
        } else if (strcmp(key, KEY_PRINCIPAL) == 0) {
            seen_principal = copy_string(value, claims->principal, sizeof(claims->principal)) == 0;
            if (!seen_principal)
                reason = "principal must be a non-empty string shorter than 256 bytes";
        } else if (strcmp(key, KEY_VERSION) == 0) {
            seen_version = copy_string(value, claims->protocol_version, sizeof(claims->protocol_version)) == 0;
            if (!seen_version)
                reason = "protocol_version must be a non-empty string shorter than 32 bytes";
        } else if (strcmp(key, KEY_ISSUED_AT) == 0) {
            seen_issued_at = json_is_integer(value) && json_integer_value(value) >= 0;
            if (!seen_issued_at)
                reason = "issued_at must be a non-negative integer";
            claims->issued_at = seen_issued_at ? (int64_t)json_integer_value(value) : 0;
        } else if (strcmp(key, KEY_CLIENT_INFO) == 0 && json_is_object(value)) {
            claims->client_info = json_incref(value);
        } else if (strcmp(key, KEY_CAPABILITIES) == 0 && json_is_object(value)) {
            claims->client_capabilities = json_incref(value);
        } else if (strcmp(key, KEY_UPSTREAMS) == 0 && upstreams_valid(value)) {
            claims->upstream_sessions = json_incref(value);
        } else {
            reason = "client_info and client_capabilities must be objects, upstream_sessions an object of strings";
        }
        if (reason != NULL)
            goto out;
    }
    if (!(seen_sid && seen_principal && seen_version && seen_issued_at))
        reason = "sid, principal, protocol_version and issued_at are required";
out:
    json_decref(root);
    if (reason != NULL) {
        mg_session_claims_dispose(claims);
        memset(claims, 0, sizeof(*claims));
    }
    return reason;
}

static json_t *claims_encode(const mg_session_claims_t *claims)
{
    json_t *root = json_object();
    int failed = root == NULL;
    /* The struct strings may lack their NUL if a caller filled them carelessly. */
    json_t *sid = json_stringn(claims->sid, strnlen(claims->sid, sizeof(claims->sid)));
    json_t *principal = json_stringn(claims->principal, strnlen(claims->principal, sizeof(claims->principal)));
    json_t *version =
        json_stringn(claims->protocol_version, strnlen(claims->protocol_version, sizeof(claims->protocol_version)));

    /* json_object_set_new steals the value even when it fails, and refuses a NULL one. */
    failed |= json_object_set_new(root, KEY_SID, sid) != 0;
    failed |= json_object_set_new(root, KEY_PRINCIPAL, principal) != 0;
    failed |= json_object_set_new(root, KEY_VERSION, version) != 0;
    failed |= json_object_set_new(root, KEY_ISSUED_AT, json_integer(claims->issued_at)) != 0;
    if (claims->client_info != NULL)
        failed |= json_object_set(root, KEY_CLIENT_INFO, claims->client_info) != 0;
    if (claims->client_capabilities != NULL)
        failed |= json_object_set(root, KEY_CAPABILITIES, claims->client_capabilities) != 0;
    if (claims->upstream_sessions != NULL)
        failed |= json_object_set(root, KEY_UPSTREAMS, claims->upstream_sessions) != 0;
    if (failed) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* --- public API ------------------------------------------------------------------ */

void mg_session_claims_init(mg_session_claims_t *claims)
{
    unsigned char random[SID_HEX_LEN / 2];
    if (sodium_init() < 0) {
        /* Nothing to report to, and nothing lost: randombytes_buf still reads the kernel CSPRNG and
         * aborts rather than return predictable bytes. */
    }
    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(claims->sid, sizeof(claims->sid), random, sizeof(random));
    claims->issued_at = (int64_t)time(NULL);
}

void mg_session_claims_dispose(mg_session_claims_t *claims)
{
    json_decref(claims->client_info);
    json_decref(claims->client_capabilities);
    json_decref(claims->upstream_sessions);
    claims->client_info = claims->client_capabilities = claims->upstream_sessions = NULL;
}

int mg_session_seal(const mg_session_key_t *key, const mg_session_claims_t *claims, char **token, mg_error_t *err)
{
    mg_session_claims_t check;
    const char *reason;
    char *plaintext = NULL;
    unsigned char *sealed = NULL;
    int ret = -1;

    *token = NULL;
    if (sodium_init() < 0)
        return mg_error_set(err, "session seal: libsodium failed to initialize");
    json_t *root = claims_encode(claims);
    if (root == NULL)
        return mg_error_set(err, "session seal: claims hold a string that is not valid UTF-8, or out of memory");
    size_t plaintext_len = 0;
    plaintext = mg_json_write_text(root, JSON_COMPACT, &plaintext_len);
    json_decref(root);
    if (plaintext == NULL)
        return mg_error_set(err, "session seal: claims cannot be serialized to JSON");
    if ((reason = claims_decode((const unsigned char *)plaintext, plaintext_len, &check)) != NULL) {
        mg_error_set(err, "session seal: %s", reason);
        goto out;
    }
    mg_session_claims_dispose(&check);

    size_t sealed_len = NONCE_BYTES + plaintext_len + TAG_BYTES;
    size_t token_size =
        TOKEN_PREFIX_LEN + sodium_base64_ENCODED_LEN(sealed_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (token_size - 1 > MG_SESSION_MAX_TOKEN) {
        mg_error_set(err, "session seal: claims too large: token would be %zu bytes, limit %d", token_size - 1,
                     MG_SESSION_MAX_TOKEN);
        goto out;
    }
    if ((sealed = malloc(sealed_len)) == NULL || (*token = malloc(token_size)) == NULL) {
        mg_error_set(err, "session seal: out of memory");
        goto out;
    }
    randombytes_buf(sealed, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + NONCE_BYTES, NULL, (const unsigned char *)plaintext,
                                               plaintext_len, (const unsigned char *)VERSION_AD, sizeof(VERSION_AD) - 1,
                                               NULL, sealed, key->bytes);
    memcpy(*token, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    sodium_bin2base64(*token + TOKEN_PREFIX_LEN, token_size - TOKEN_PREFIX_LEN, sealed, sealed_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ret = 0;
out:
    sodium_memzero(plaintext, plaintext_len);
    free(plaintext);
    free(sealed);
    if (ret != 0) {
        free(*token);
        *token = NULL;
    }
    return ret;
}

int mg_session_open(const mg_session_key_t *key, const char *token, size_t len, mg_session_claims_t *claims,
                    mg_error_t *err)
{
    unsigned char sealed[MAX_SEALED_BYTES];
    unsigned char plaintext[MAX_SEALED_BYTES];
    size_t sealed_len;
    unsigned long long plaintext_len;
    int ret;

    memset(claims, 0, sizeof(*claims));
    if (token == NULL || len <= TOKEN_PREFIX_LEN || len > MG_SESSION_MAX_TOKEN ||
        memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0 ||
        !is_base64url(token + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN))
        return mg_error_set(err, MALFORMED);
    if (sodium_init() < 0)
        return mg_error_set(err, "session open: libsodium failed to initialize");
    /* Without a b64_end pointer libsodium rejects trailing junk and non-canonical final bits. */
    if (sodium_base642bin(sealed, sizeof(sealed), token + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN, NULL, &sealed_len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sealed_len < NONCE_BYTES + TAG_BYTES)
        return mg_error_set(err, MALFORMED);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plaintext, &plaintext_len, NULL, sealed + NONCE_BYTES,
                                                   sealed_len - NONCE_BYTES, (const unsigned char *)VERSION_AD,
                                                   sizeof(VERSION_AD) - 1, sealed, key->bytes) != 0)
        return mg_error_set(err, NOT_AUTHENTIC);
    ret = claims_decode(plaintext, (size_t)plaintext_len, claims) == NULL ? 0 : mg_error_set(err, MALFORMED);
    sodium_memzero(plaintext, (size_t)plaintext_len);
    return ret;
}

/* --- key file -------------------------------------------------------------------- */

static int read_key(int fd, const char *path, mg_session_key_t *key, mg_error_t *err)
{
    struct stat st;
    size_t done = 0;
    if (fstat(fd, &st) != 0)
        return mg_error_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mg_error_set(err, "%s: not a regular file", path);
    if ((st.st_mode & 077) != 0)
        return mg_error_set(err, "%s: mode %04o lets group or others read the session key; run chmod 600 %s", path,
                            (unsigned)(st.st_mode & 07777), path);
    if (st.st_size != MG_SESSION_KEY_BYTES)
        return mg_error_set(err, "%s: must hold exactly %d bytes, found %lld", path, MG_SESSION_KEY_BYTES,
                            (long long)st.st_size);
    while (done < sizeof(key->bytes)) {
        ssize_t n = read(fd, key->bytes + done, sizeof(key->bytes) - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sodium_memzero(key, sizeof(*key));
            return mg_error_set(err, "%s: short read: %s", path, n < 0 ? strerror(errno) : "file shrank");
        }
        done += (size_t)n;
    }
    return 0;
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns 0 with key filled, 1 if another process published a key first, -1 on error. */
static int create_key(const char *state_dir, const char *path, mg_session_key_t *key, mg_error_t *err)
{
    char tmp[PATH_MAX];
    unsigned char suffix[8];
    char suffix_hex[sizeof(suffix) * 2 + 1];
    int ret = -1;

    randombytes_buf(suffix, sizeof(suffix));
    sodium_bin2hex(suffix_hex, sizeof(suffix_hex), suffix, sizeof(suffix));
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, suffix_hex) >= (int)sizeof(tmp))
        return mg_error_set(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return mg_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
    randombytes_buf(key->bytes, sizeof(key->bytes));
    if (write_all(fd, key->bytes, sizeof(key->bytes)) != 0 || fsync(fd) != 0) {
        mg_error_set(err, "%s: cannot write: %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) != 0) {
        mg_error_set(err, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            ret = 1;
        else
            mg_error_set(err, "%s: cannot publish key: %s", path, strerror(errno));
        goto out;
    }
    /* Make the new directory entry durable; a failure here leaves a usable key, so it is not fatal. */
    int dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        (void)fsync(dir_fd);
        close(dir_fd);
    }
    ret = 0;
out:
    unlink(tmp);
    if (ret != 0)
        sodium_memzero(key, sizeof(*key));
    return ret;
}

int mg_session_key_load_or_create(const char *state_dir, mg_session_key_t *key, mg_error_t *err)
{
    char path[PATH_MAX];

    if (sodium_init() < 0)
        return mg_error_set(err, "session key: libsodium failed to initialize");
    if (mg_files_make_private_dir(state_dir, err) != 0)
        return -1;
    if (snprintf(path, sizeof(path), "%s/session.key", state_dir) >= (int)sizeof(path))
        return mg_error_set(err, "state_dir \"%s\": path too long", state_dir);
    for (int attempt = 0; attempt < 2; attempt++) {
        /* O_NONBLOCK so a FIFO planted as the key cannot hang startup; read_key refuses it. */
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            int ret = read_key(fd, path, key, err);
            close(fd);
            return ret;
        }
        if (errno != ENOENT)
            return mg_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        int created = create_key(state_dir, path, key, err);
        if (created <= 0)
            return created;
        /* Another process published its key between our open and link: use that one. */
    }
    return mg_error_set(err, "%s: appeared and vanished while creating it", path);
}
