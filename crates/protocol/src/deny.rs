//! Why the daemon refused: one code for every refusal it sends.

use crate::types::wire_enum;

wire_enum! {
    /// Why a login, PIN change or session request was refused (`"reason"` in a `denied`
    /// answer). A client maps each code once (the PAM module to a return code and a sentence);
    /// a code it does not know is an unreadable answer, never a grant.
    #[non_exhaustive]
    pub enum DenyCode ("deny code") {
        /// A wrong PIN; `tries_left` says how many remain.
        WrongPin = "wrong_pin",
        /// The PIN is blocked (no tries left); the access manager unblocks it with the PUK.
        PinBlocked = "pin_blocked",
        /// The PIN is not of the card's form (length, characters).
        MalformedPin = "malformed_pin",
        /// The card is on the revocation list.
        Revoked = "revoked",
        /// The card was returned to the access manager.
        Returned = "returned",
        /// The card's certificate has expired.
        Expired = "expired",
        /// The card's certificate is not yet valid.
        NotYetValid = "not_yet_valid",
        /// The certificate was issued by someone else.
        UnknownIssuer = "unknown_issuer",
        /// The certificate does not verify or cannot be read.
        BadCertificate = "bad_certificate",
        /// Not an operator card (no card application, or a manager card at a terminal).
        NotOperatorCard = "not_operator_card",
        /// The card failed its challenge (a copied certificate).
        CardAuthenticationFailed = "card_authentication_failed",
        /// The card is lent to another user (art. 5.3).
        WrongUser = "wrong_user",
        /// The session is locked and only the card that opened it unlocks it.
        OtherCard = "other_card",
        /// Outside the office's business hours.
        OutsideBusinessHours = "outside_business_hours",
        /// No card in the reader (in time).
        NoCard = "no_card",
        /// The card left the reader during the request.
        CardRemoved = "card_removed",
        /// Too many refusals for this user in a short time.
        RateLimited = "rate_limited",
        /// The new PIN breaks the PIN policy; the message names the rule.
        PinPolicy = "pin_policy",
        /// The initial PIN must be changed first.
        MustChangePin = "must_change_pin",
        /// The audit log cannot be written: nothing is granted until it can.
        AuditUnavailable = "audit_unavailable",
        /// The revocation list is too old to trust.
        RevocationListStale = "revocation_list_stale",
        /// There is no usable revocation list.
        RevocationListUnavailable = "revocation_list_unavailable",
        /// The card register cannot be read.
        RegisterUnavailable = "register_unavailable",
        /// The terminal's reader cannot be reached.
        ReaderUnavailable = "reader_unavailable",
        /// The card answered with an error.
        CardError = "card_error",
        /// Something failed inside the daemon.
        Internal = "internal",
        /// A session was opened without a granted authentication (or after it lapsed).
        NotAuthenticated = "not_authenticated",
        /// The session ID is not a logind session ID.
        BadSessionId = "bad_session_id",
    }
}
