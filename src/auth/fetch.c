/* fetch.c - see fetch.h. */
#include "auth/fetch.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"

void mg_fetch_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct st_body_t {
    mg_bytes_t bytes;
    bool too_large;
} body_t;

static size_t on_data(char *data, size_t size, size_t count, void *arg)
{
    body_t *body = arg;
    size_t len = size * count;
    if (body->bytes.len + len > MG_FETCH_MAX_BYTES) {
        body->too_large = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    mg_bytes_append(&body->bytes, data, len);
    return len;
}

/* The part of an OAuth error answer worth quoting (RFC 6749 section 5.2). */
static void describe_failure(long status, const body_t *body, const char *url, mg_error_t *err)
{
    json_t *answer = json_loadb(body->bytes.base, body->bytes.len, JSON_REJECT_DUPLICATES, NULL);
    const char *error = json_string_value(json_object_get(answer, "error"));
    const char *description = json_string_value(json_object_get(answer, "error_description"));
    if (error != NULL)
        mg_error_set(err, "%s answered HTTP %ld: %.64s%s%.160s", url, status, error, description != NULL ? ": " : "",
                     description != NULL ? description : "");
    else
        mg_error_set(err, "%s answered HTTP %ld", url, status);
    json_decref(answer);
}

/* RFC 6749 section 2.3.1: the client id and secret are form-urlencoded before they become the
 * Basic credentials, so a secret with ':' or non-ASCII bytes survives the trip. */
static int set_client_auth(CURL *curl, const mg_fetch_request_t *request, mg_error_t *err)
{
    char *user = curl_easy_escape(curl, request->client_id, 0);
    char *password = curl_easy_escape(curl, request->client_secret != NULL ? request->client_secret : "", 0);
    int rc = 0;
    if (user == NULL || password == NULL) {
        rc = mg_error_set(err, "out of memory");
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, user); /* curl copies both */
        curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
    }
    if (password != NULL)
        sodium_memzero(password, strlen(password));
    curl_free(user);
    curl_free(password);
    return rc;
}

int mg_fetch(const mg_fetch_request_t *request, char **out, size_t *out_len, mg_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return mg_error_set(err, "cannot start an HTTP client (out of memory)");
    body_t body = {0};
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request->timeout_ms > 0 ? request->timeout_ms : 5000L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MG_FETCH_MAX_BYTES);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mcpgate");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (request->form != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->form);
    int rc = -1;
    if (request->client_id != NULL && set_client_auth(curl, request, err) != 0)
        goto done;
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (body.too_large) {
        mg_error_set(err, "%s: the answer is larger than %d bytes", request->url, MG_FETCH_MAX_BYTES);
    } else if (code != CURLE_OK) {
        mg_error_set(err, "%s: %s", request->url, curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code));
    } else if (status < 200 || status > 299) {
        describe_failure(status, &body, request->url, err);
    } else {
        mg_bytes_append(&body.bytes, "", 1); /* the NUL */
        *out = mg_bytes_take(&body.bytes, out_len);
        (*out_len)--;
        rc = 0;
    }
done:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    mg_bytes_dispose(&body.bytes);
    return rc;
}

int mg_fetch_json(const mg_fetch_request_t *request, json_t **out, mg_error_t *err)
{
    char *body;
    size_t len;
    *out = NULL;
    if (mg_fetch(request, &body, &len, err) != 0)
        return -1;
    json_error_t json_error;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &json_error);
    free(body);
    if (*out == NULL)
        return mg_error_set(err, "%s: the answer is not JSON: %s", request->url, json_error.text);
    return 0;
}

int mg_fetch_form_add(char **form, const char *name, const char *value)
{
    char *name_escaped = curl_easy_escape(NULL, name, 0), *value_escaped = curl_easy_escape(NULL, value, 0);
    char *joined = NULL;
    int rc = -1;
    if (name_escaped != NULL && value_escaped != NULL) {
        size_t old_len = *form != NULL ? strlen(*form) : 0;
        size_t len = old_len + (old_len != 0) + strlen(name_escaped) + 1 + strlen(value_escaped) + 1;
        if ((joined = malloc(len)) != NULL) {
            snprintf(joined, len, "%s%s%s=%s", *form != NULL ? *form : "", old_len != 0 ? "&" : "", name_escaped,
                     value_escaped);
            free(*form);
            *form = joined;
            rc = 0;
        }
    }
    curl_free(name_escaped);
    curl_free(value_escaped);
    return rc;
}
