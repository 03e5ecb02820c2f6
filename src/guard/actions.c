/*
 * actions.c - from a finding to the configured action (actions.h).
 */
#include <string.h>

#include "guard/actions.h"

static unsigned pii_type_bit(const char *type)
{
    static const struct {
        const char *type;
        unsigned bit;
    } types[] = {{"email", MG_GUARD_PII_EMAIL}, {"card_number", MG_GUARD_PII_CARD}, {"us_ssn", MG_GUARD_PII_SSN},
                 {"phone", MG_GUARD_PII_PHONE}, {"iban", MG_GUARD_PII_IBAN},        {"ipv4", MG_GUARD_PII_IP},
                 {"ipv6", MG_GUARD_PII_IP}};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        if (strcmp(type, types[t].type) == 0)
            return types[t].bit;
    }
    return 0;
}

mg_guard_action_t mg_guard_finding_action(const mg_config_guards_t *guards, const mg_guard_detectors_t *detectors,
                                          const mg_guard_finding_t *finding, bool request)
{
    int custom = mg_guard_detector_action(detectors, finding->detector);
    if (custom >= 0)
        return (mg_guard_action_t)custom;
    switch (finding->kind) {
    case MG_GUARD_SECRETS:
        return request ? guards->secrets_requests : guards->secrets_responses;
    case MG_GUARD_PII:
        if ((pii_type_bit(mg_guard_detector_type(detectors, finding->detector)) & guards->pii_types) == 0)
            return MG_GUARD_ACTION_OFF;
        return request ? guards->pii_requests : guards->pii_responses;
    case MG_GUARD_INJECTION:
        return request ? MG_GUARD_ACTION_OFF : guards->injection_responses;
    case MG_GUARD_POISONING:
        return guards->poisoning_tools;
    default:
        return MG_GUARD_ACTION_OFF;
    }
}

const char *mg_guard_action_name(mg_guard_action_t action)
{
    static const char *const names[] = {"off", "flag", "redact", "block", "wrap", "quarantine"};
    return (unsigned)action < sizeof(names) / sizeof(names[0]) ? names[action] : "off";
}
