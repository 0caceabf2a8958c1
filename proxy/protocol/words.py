"""Every bare answer word of the SMS-Activate protocol (seeds 002 and 004)."""

from __future__ import annotations

import enum


class Word(enum.StrEnum):
    """Bare protocol words; answers with arguments are rendered in `protocol.answers`."""

    # seeds/004:51 ACCESS_BALANCE:<amount>; 004:372 ACCESS_NUMBER:<id>:<phone>
    ACCESS_BALANCE = "ACCESS_BALANCE"
    ACCESS_NUMBER = "ACCESS_NUMBER"
    # seeds/004:210-213 setStatus answers
    ACCESS_READY = "ACCESS_READY"
    ACCESS_RETRY_GET = "ACCESS_RETRY_GET"
    ACCESS_ACTIVATION = "ACCESS_ACTIVATION"
    ACCESS_CANCEL = "ACCESS_CANCEL"
    # seeds/004:227-232 getStatus answers
    STATUS_WAIT_CODE = "STATUS_WAIT_CODE"
    STATUS_WAIT_RETRY = "STATUS_WAIT_RETRY"
    STATUS_WAIT_RESEND = "STATUS_WAIT_RESEND"
    STATUS_CANCEL = "STATUS_CANCEL"
    STATUS_OK = "STATUS_OK"
    # seeds/002:1144-1162 getFullSms; the word as SMS-Activate's libraries read it (smsactivate
    # api.py, the Java library's SMSActivateStatusNumber): FULL_SMS:<text>
    FULL_SMS = "FULL_SMS"
    # errors
    BAD_KEY = "BAD_KEY"
    BAD_ACTION = "BAD_ACTION"
    BAD_SERVICE = "BAD_SERVICE"
    BAD_STATUS = "BAD_STATUS"
    NO_ACTIVATION = "NO_ACTIVATION"
    NO_ACTIVATIONS = "NO_ACTIVATIONS"
    NO_NUMBERS = "NO_NUMBERS"
    NO_BALANCE = "NO_BALANCE"
    ERROR_SQL = "ERROR_SQL"
    WRONG_ACTIVATION_ID = "WRONG_ACTIVATION_ID"
    WRONG_MAX_PRICE = "WRONG_MAX_PRICE"
    ORDER_ALREADY_EXISTS = "ORDER_ALREADY_EXISTS"
    EARLY_CANCEL_DENIED = "EARLY_CANCEL_DENIED"
    WRONG_SERVICE = "WRONG_SERVICE"  # seeds/004:303 getListOfTopCountriesByService
    OPERATORS_NOT_FOUND = "OPERATORS_NOT_FOUND"  # seeds/004:76
    # seeds/004:359-388: additional service and extra activation
    RENEW_ACTIVATION_NOT_AVAILABLE = "RENEW_ACTIVATION_NOT_AVAILABLE"
    NEW_ACTIVATION_IMPOSSIBLE = "NEW_ACTIVATION_IMPOSSIBLE"
    WRONG_SECURITY = "WRONG_SECURITY"
    WRONG_ADDITIONAL_SERVICE = "WRONG_ADDITIONAL_SERVICE"
    # seeds/002:229, 004:130: getNumber's phoneException is malformed
    WRONG_EXCEPTION_PHONE = "WRONG_EXCEPTION_PHONE"
    # seeds/002:522, 004:318: getIncomingCallStatus for an id that is no call activation
    INVALID_ACTIVATION_ID = "INVALID_ACTIVATION_ID"
