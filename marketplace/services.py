"""The marketplace's writes, one import away. Each lives in the module named by its domain
word: negotiation (offers), agreements, checkout, certificates, notifications."""

from marketplace.agreements import (
    agreement_activate,
    agreement_expire,
    agreement_terminate,
    agreements_expire_due,
)
from marketplace.certificates import (
    certificate_issue,
    certificate_verify,
    signing_key_current,
    signing_key_rotate,
)
from marketplace.checkout import (
    checkout_attempt_declined,
    checkout_attempt_expired,
    checkout_attempt_paid,
    checkout_attempt_start,
    checkout_session_settle,
)
from marketplace.negotiation import (
    offer_accept,
    offer_counter,
    offer_expire,
    offer_reject,
    offer_request,
    offer_withdraw,
    offers_expire_due,
)
from marketplace.notifications import (
    notification_create,
    notification_email_send,
    notification_mark_read,
)

__all__ = [
    "agreement_activate",
    "agreement_expire",
    "agreement_terminate",
    "agreements_expire_due",
    "certificate_issue",
    "certificate_verify",
    "checkout_attempt_declined",
    "checkout_attempt_expired",
    "checkout_attempt_paid",
    "checkout_attempt_start",
    "checkout_session_settle",
    "notification_create",
    "notification_email_send",
    "notification_mark_read",
    "offer_accept",
    "offer_counter",
    "offer_expire",
    "offer_reject",
    "offer_request",
    "offer_withdraw",
    "offers_expire_due",
    "signing_key_current",
    "signing_key_rotate",
]
