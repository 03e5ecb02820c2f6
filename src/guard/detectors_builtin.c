/*
 * detectors_builtin.c - the built-in detectors: one line each, pattern and the check that confirms it.
 *
 * Patterns follow the formats the issuers document (AWS key ids, GitHub's prefixed tokens, Slack's xox*,
 * Stripe's sk_live_, JWT's base64url "eyJ" header...). vectorscan compiles them, also with
 * HS_FLAG_SOM_LEFTMOST (detect.c), which rules out back-references and look-around; boundaries a pattern
 * cannot say are checked afterwards (`bound`). Where a format cannot be told from noise by its shape alone (an
 * assignment's value, 13 digits, a dotted quad), the check does the work: see validators.c.
 *
 * Injection and poisoning markers are phrases. They are written to catch what indirect prompt injection
 * and poisoned tool descriptions actually say (instruction overrides, fake role markers, hidden
 * directives, exfiltration through links and images) with few words of slack, so that an ordinary
 * sentence does not fire them; docs/detection.md measures what they catch and miss.
 *
 * Entries without a pattern are detectors the scan runs itself (whitespace padding, tool shadowing):
 * they still need an index, a type and a kind.
 */
#include <hs/hs.h>

#include "guard/detect_internal.h"

#define CASELESS HS_FLAG_CASELESS
#define MULTILINE HS_FLAG_MULTILINE
#define S MG_GUARD_SECRETS
#define P MG_GUARD_PII
#define I (MG_GUARD_INJECTION | MG_GUARD_POISONING)
#define T MG_GUARD_POISONING

/* region, start and prefilter are left out where they are REGION_NONE, START_WIDTH and NULL */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* type, pattern, flags, kinds, priority, check, span, bound, all_ends, score, min_entropy, max_length, region,
 * start, prefilter. A detector in a region must stay inside the region's alphabet and use no assertion
 * (detect_internal.h); one with a start parser must keep the shape the parser relies on (detect_regions.c;
 * test_start_parsers in tests/unit/test_guard_detect.c compares each parser with vectorscan). A prefilter's
 * matches must end wherever the pattern's do. */
const mg_guard_detector_def_t mg_guard_builtin_detectors[] = {
    /* ---- secrets ---- */
    {"aws_access_key", "(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}", 0, S, 90, CHECK_AWS_KEY_ID, SPAN_MATCH,
     BOUND_ALNUM, false, 0, 0, 0},
    {"aws_secret_key",
     "aws_?(?:secret_?(?:access_?)?key|secret)[\"']?\\s{0,4}(?:=|:|=>|:=)\\s{0,4}[\"']?[A-Za-z0-9/+]{40}", CASELESS, S,
     90, CHECK_ENTROPY, SPAN_VALUE, BOUND_NONE, false, 0.9f, 3.5, 0},
    {"gcp_api_key", "AIza[0-9A-Za-z_-]{35}", 0, S, 90, CHECK_NONE, SPAN_MATCH, BOUND_TOKEN, false, 0.9f, 0, 39},
    {"gcp_service_account_key", "\"private_key\"\\s*:\\s*\"-----BEGIN (?:RSA )?PRIVATE KEY-----", 0, S, 96, CHECK_NONE,
     SPAN_PEM_BLOCK, BOUND_NONE, false, 0.95f, 0, 0},
    {"azure_storage_key", "AccountKey=[A-Za-z0-9+/]{86}==", CASELESS, S, 90, CHECK_NONE, SPAN_VALUE, BOUND_NONE, false,
     0.95f, 0, 0},
    {"azure_shared_access_key", "SharedAccessKey=[A-Za-z0-9+/]{42,44}=?", CASELESS, S, 90, CHECK_ENTROPY, SPAN_VALUE,
     BOUND_NONE, false, 0.9f, 4.0, 0},
    {"azure_sas_signature", "[?&]sig=[A-Za-z0-9%+/]{40,}(?:%3D|=)?", 0, S, 80, CHECK_NONE, SPAN_VALUE, BOUND_NONE,
     false, 0.8f, 0, 0},
    {"github_token", "gh[pousr]_[A-Za-z0-9]{36}", 0, S, 95, CHECK_GITHUB_CRC, SPAN_MATCH, BOUND_ALNUM, false, 0, 0, 0},
    {"github_token", "github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", 0, S, 95, CHECK_NONE, SPAN_MATCH, BOUND_ALNUM, false,
     0.95f, 0, 0},
    {"gitlab_token", "gl(?:pat|dt|rt|ptt|cbt|oas|ft|imt|agent)-[A-Za-z0-9_-]{20}", 0, S, 95, CHECK_NONE,
     SPAN_EXTEND_TOKEN, BOUND_TOKEN, false, 0.95f, 0, 0},
    {"slack_token", "xox[abposr]-[A-Za-z0-9-]{10,}", 0, S, 95, CHECK_NONE, SPAN_MATCH, BOUND_TOKEN, false, 0.95f, 0, 0},
    {"slack_webhook", "https://hooks\\.slack\\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}", 0, S, 95,
     CHECK_NONE, SPAN_MATCH, BOUND_TOKEN, false, 0.95f, 0, 0},
    {"stripe_key", "(?:sk|rk)_live_[A-Za-z0-9]{20,}", 0, S, 95, CHECK_NONE, SPAN_MATCH, BOUND_ALNUM, false, 0.95f, 0,
     0},
    {"anthropic_api_key", "sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{40,}", 0, S, 96, CHECK_NONE, SPAN_MATCH,
     BOUND_TOKEN, false, 0.98f, 0, 0},
    {"openrouter_api_key", "sk-or-v1-[0-9a-f]{64}", 0, S, 96, CHECK_NONE, SPAN_MATCH, BOUND_TOKEN, false, 0.98f, 0, 0},
    {"openai_api_key", "sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{32,}", 0, S, 94, CHECK_OPENAI_KEY, SPAN_MATCH,
     BOUND_TOKEN, false, 0, 0, 0},
    {"huggingface_token", "hf_[A-Za-z]{34}", 0, S, 90, CHECK_ENTROPY, SPAN_MATCH, BOUND_ALNUM, false, 0.9f, 3.5, 0},
    {"groq_api_key", "gsk_[A-Za-z0-9]{52}", 0, S, 90, CHECK_NONE, SPAN_MATCH, BOUND_ALNUM, false, 0.95f, 0, 0},
    {"xai_api_key", "xai-[A-Za-z0-9]{80}", 0, S, 90, CHECK_NONE, SPAN_MATCH, BOUND_ALNUM, false, 0.95f, 0, 0},
    {"replicate_api_token", "r8_[A-Za-z0-9]{37}", 0, S, 90, CHECK_ENTROPY, SPAN_MATCH, BOUND_ALNUM, false, 0.9f, 3.5,
     0},
    {"perplexity_api_key", "pplx-[A-Za-z0-9]{48}", 0, S, 90, CHECK_NONE, SPAN_MATCH, BOUND_ALNUM, false, 0.95f, 0, 0},
    {"jwt", "eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}", 0, S, 90, CHECK_JWT, SPAN_MATCH,
     BOUND_TOKEN, false, 0, 0, 0},
    {"private_key", "-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----", 0, S, 95,
     CHECK_NONE, SPAN_PEM_BLOCK, BOUND_NONE, false, 0.95f, 0, 0},
    {"connection_string_password", "[a-z][a-z0-9+.-]{1,20}://[^\\s:/@\"'<>]+:[^\\s/@\"'<>]+@[A-Za-z0-9\\[]", CASELESS,
     S, 80, CHECK_URL_PASSWORD, SPAN_URL_PASSWORD, BOUND_NONE, false, 0, 0, 0},
    {"generic_secret",
     "(?:password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key|access[_-]?token|auth[_-]?token|token|private[_"
     "-]?key|client[_-]?secret|credentials?)[A-Za-z0-9_.-]{0,24}[\"']?\\s{0,4}(?:=|:|=>|:=)\\s{0,4}[\"']?[^\\s\"',;]{8,"
     "}",
     CASELESS, S, 40, CHECK_GENERIC_SECRET, SPAN_VALUE, BOUND_NONE, false, 0, 3.0, 0, REGION_NONE, START_ASSIGNMENT},
    {"high_entropy_string", "[\"'][A-Za-z0-9+/_-]{20,}={0,2}[\"']", 0, S, 30, CHECK_ENTROPY, SPAN_VALUE, BOUND_NONE,
     false, 0.5f, -1, 100, REGION_BASE64},
    {"high_entropy_string", "[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9+/]{20,}={0,2}", 0, S, 30, CHECK_ENTROPY, SPAN_VALUE,
     BOUND_BASE64, false, 0.5f, -1, 100, REGION_BASE64, START_KEY_VALUE},

    /* ---- personal data ---- */
    {"email", "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,24}", 0, P, 80, CHECK_EMAIL,
     SPAN_MATCH, BOUND_ALNUM, false, 0, 0, 0, REGION_EMAIL, START_EMAIL},
    {"card_number", "[2-6](?:[ -]?[0-9]){12,18}", 0, P, 90, CHECK_LUHN_CARD, SPAN_MATCH, BOUND_DIGIT, true, 0, 0, 0,
     REGION_NUMBER, START_CARD},
    {"us_ssn", "[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}", 0, P, 85, CHECK_SSN, SPAN_MATCH, BOUND_DIGIT, false, 0, 0, 0,
     REGION_NUMBER},
    {"iban", "[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?", 0, P, 90, CHECK_IBAN, SPAN_MATCH,
     BOUND_ALNUM, true, 0, 0, 0, REGION_IBAN, START_IBAN},
    {"phone",
     "(?:\\+[0-9]{1,3}[ .-]?)?(?:\\([0-9]{1,4}\\)[ .-]?)?[0-9]{2,4}(?:[ .-][0-9]{2,4}){1,4}(?: ?(?:x|ext\\.?) ?[0-9]{1,"
     "6})?",
     0, P, 50, CHECK_PHONE, SPAN_MATCH, BOUND_DIGIT, true, 0, 0, 0, REGION_NUMBER, START_PHONE},
    {"ipv4", "(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
     0, P, 70, CHECK_IPV4, SPAN_MATCH, BOUND_DIGIT, false, 0, 0, 0, REGION_NUMBER},
    {"ipv6", "[0-9a-f]{0,4}:[0-9a-f]{0,4}:[0-9a-f:]{1,37}(?:%[a-z0-9]{1,15})?", CASELESS, P, 70, CHECK_IPV6, SPAN_MATCH,
     BOUND_ALNUM, false, 0, 0, 0, REGION_IPV6},

    /* ---- prompt injection (also poisoning in tool definitions) ---- */
    {"instruction_override",
     "\\b(?:ignore|disregard|forget|override|bypass|skip|abandon)\\s+(?:(?:all|any|the|your|my|these|those|every|of)"
     "\\s+"
     "){0,3}(?:previous|prior|above|earlier|preceding|former|original|initial|old|system|existing|safety|developer)\\s+"
     "("
     "?:instructions?|prompts?|rules|directions|guidelines|directives|commands|context|guardrails|constraints|orders|"
     "messages?|policies|programming)\\b",
     CASELESS, I, 90, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.9f, 0, 0},
    {"instruction_override",
     "\\b(?:ignore|disregard|forget)\\s+(?:all|everything)\\s+(?:(?:you\\s+(?:were|have\\s+been)\\s+told)|above|before|"
     "prior|previously)\\b",
     CASELESS, I, 90, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.9f, 0, 0},
    {"role_reassignment",
     "\\b(?:you\\s+are\\s+now\\s+(?:a|an|the|in|no\\s+longer|free|dan|unrestricted|jailbroken|my)|from\\s+now\\s+on,?"
     "\\s+you\\s+(?:are|will|must|shall|should)|(?:new|updated|real|actual)\\s+(?:system\\s+)?instructions?\\s*:|(?:"
     "developer|god|dan|jailbreak)\\s+mode|do\\s+anything\\s+now|act\\s+as\\s+(?:an?\\s+)?(?:unrestricted|unfiltered|"
     "jailbroken))\\b",
     CASELESS, I, 70, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.75f, 0, 0, REGION_NONE, START_WIDTH,
     /* each branch cut before a word rarer than its first ("now a", "instructions:", "unfiltered"): every
      * end of the pattern is an end of the prefilter */
     "now\\s+(?:a|an|the|in|no\\s+longer|free|dan|unrestricted|jailbroken|my)\\b|now\\s+on,?\\s+you\\s+(?:are|will|"
     "must|shall|should)\\b|instructions?\\s*:\\b|(?:developer|god|dan|jailbreak)\\s+mode\\b|anything\\s+now\\b|(?:"
     "unrestricted|unfiltered|jailbroken)\\b"},
    {"role_marker",
     "<\\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\\|>|\\[/?(?:SYSTEM|"
     "INST|SYS)\\]|<</?SYS>>|</?(?:tool_result|tool_use|function_results?|function_calls|system|system-reminder|"
     "assistant|human|tool_output|untrusted_data)>",
     CASELESS, I, 90, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.9f, 0, 0},
    {"role_marker",
     "^[ \\t]*#{2,}[ \\t]*(?:instructions?|system(?:\\s+prompt)?|new\\s+instructions?)[ \\t]*:?[ \\t]*$|\\b(?:system|"
     "admin|developer)\\s+(?:override|message|note|instruction|prompt)\\s*:",
     CASELESS | MULTILINE, I, 85, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.8f, 0, 0},
    {"hidden_directive",
     "\\b(?:(?:do\\s+not|don'?t|never)\\s+(?:tell|inform|mention|reveal|show|disclose|notify|alert|let)\\s+(?:(?:this|"
     "it|anything)\\s+to\\s+)?(?:the\\s+)?(?:user|human|operator)s?|without\\s+(?:telling|informing|notifying|alerting|"
     "asking)\\s+(?:the\\s+)?(?:user|human)s?|(?:the\\s+)?user\\s+(?:must|should|will)\\s+(?:not|never)\\s+(?:know|see|"
     "notice|be\\s+(?:told|informed))|keep\\s+(?:this|it)\\s+(?:a\\s+)?(?:secret|hidden|confidential)\\s+from|"
     "secretly)\\b",
     CASELESS, I, 80, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.8f, 0, 0},
    {"exfiltration", "!\\[[^\\]\\n]*\\]\\(\\s*https?://[^)\\s?]*\\?[^)\\s]*=", CASELESS, I, 80, CHECK_NONE, SPAN_MATCH,
     BOUND_NONE, false, 0.8f, 0, 0},
    {"exfiltration", "https?://[^\\s)\"']*[?&][A-Za-z0-9_-]+=(?:\\{\\{?|\\$\\{|<|\\[)[A-Za-z0-9_. -]*", CASELESS, I, 80,
     CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.8f, 0, 0},
    {"exfiltration",
     "\\b(?:send|post|forward|upload|transmit|exfiltrate|leak|email|submit|share)\\s+(?:[A-Za-z0-9'_-]+\\s+){0,6}(?:to|"
     "at)\\s+(?:https?://|[A-Za-z0-9._+-]+@[A-Za-z0-9-]+\\.)",
     CASELESS, I, 75, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.7f, 0, 0},
    {"tool_call_instruction",
     "\\b(?:call|invoke|use|run|execute|trigger)\\s+(?:the\\s+)?[`\"']?[A-Za-z0-9_.-]+[`\"']?\\s+(?:tool|function)\\s+("
     "?:with|to|and|using|passing)\\b",
     CASELESS, I, 60, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.5f, 0, 0, REGION_NONE, START_WIDTH,
     "(?:tool|function)\\s+(?:with|to|and|using|passing)\\b"},
    {"response_manipulation",
     "\\b(?:(?:in|to|into|within|throughout|at\\s+the\\s+(?:end|beginning|start)\\s+of)\\s+your\\s+(?:response|answer|"
     "reply|output|summary|code|solution|implementation|codebase)s?|your\\s+(?:response|answer|reply|output|code)\\s+("
     "?:should|must|needs?\\s+to|has\\s+to)|(?:following|subsequent|below)\\s+code\\s+(?:block|section|snippet|excerpt|"
     "segment|fragment|piece))\\b",
     CASELESS, I, 50, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.5f, 0, 0, REGION_NONE, START_WIDTH,
     /* the first branch's two-letter words ("in your response") cost the main database more than all
      * the others together; what follows them ends where the branch does */
     "your\\s+(?:response|answer|reply|output|summary|code|solution|implementation|codebase)s?\\b|your\\s+(?:"
     "response|answer|reply|output|code)\\s+(?:should|must|needs?\\s+to|has\\s+to)\\b|\\b(?:following|subsequent|"
     "below)\\s+code\\s+(?:block|section|snippet|excerpt|segment|fragment|piece)\\b"},
    {"hidden_padding", NULL, 0, I, 40, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.6f, 0, 0},

    /* ---- tool poisoning (descriptions, parameters, server instructions) ---- */
    {"important_tag", "<\\s*/?\\s*(?:important|critical|system|instructions?|hidden|secret|admin|override)\\s*>",
     CASELESS, T, 90, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.9f, 0, 0},
    {"sensitive_file_reference",
     "~/\\.ssh\\b|\\.ssh/(?:id_[a-z0-9]+|authorized_keys|config)|\\bid_(?:rsa|ed25519|ecdsa|dsa)\\b|\\bmcp\\.json\\b|"
     "claude_desktop_config\\.json|\\.cursor/|\\.aws/credentials|/etc/(?:passwd|shadow)\\b|\\.netrc\\b|\\.git-"
     "credentials\\b|\\.kube/config\\b|\\.docker/config\\.json|\\.npmrc\\b|\\.pypirc\\b|(?:^|[\\s/\"'`])\\.env\\b",
     CASELESS | MULTILINE, T, 80, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.8f, 0, 0},
    {"tool_precondition",
     "\\b(?:before|after|when(?:ever)?)\\s+(?:using|calling|invoking|running)\\s+(?:this|any|the|other|another)\\s+(?:"
     "[A-Za-z0-9_-]+\\s+)?(?:tool|function)s?,?\\s+(?:you\\s+)?(?:must|always|first|should\\s+always)\\b",
     CASELESS, T, 60, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.6f, 0, 0},
    {"tool_shadowing",
     "\\b(?:instead\\s+of|rather\\s+than)\\s+(?:using\\s+|calling\\s+)?(?:the\\s+)?[A-Za-z0-9_.-]+\\s+tool\\b|\\b(?:"
     "all|"
     "any|every)\\s+(?:e-?mails?|messages?|requests?)\\s+(?:must|should)\\s+(?:also\\s+)?be\\s+(?:sent|forwarded|bcc'?"
     "d|"
     "copied)\\s+to\\b",
     CASELESS, T, 60, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.6f, 0, 0, REGION_NONE, START_WIDTH,
     "(?:instead\\s+of|rather\\s+than)\\s+(?:using\\s+|calling\\s+)?(?:the\\s+)?[A-Za-z0-9_.-]+\\s+tool\\b|(?:e-?"
     "mails?|messages?|requests?)\\s+(?:must|should)\\s+(?:also\\s+)?be\\s+(?:sent|forwarded|bcc'?d|copied)\\s+to\\b"},
    {"tool_shadowing", NULL, 0, T, 70, CHECK_NONE, SPAN_MATCH, BOUND_NONE, false, 0.7f, 0, 0},
};

const size_t mg_guard_builtin_detectors_len =
    sizeof(mg_guard_builtin_detectors) / sizeof(mg_guard_builtin_detectors[0]);
