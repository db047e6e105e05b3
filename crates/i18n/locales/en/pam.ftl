# Messages of pam (prefix: pam-).
# What pam_cardgate.so shows at the login prompt. PAM caps one message at 512 bytes.
# A prompt ends in a space, written {" "} (Fluent trims trailing blanks).
pam-pin-prompt = Operator card PIN:{" "}
pam-insert-card = Insert your operator card into the reader.
pam-no-card-in-time = No operator card was inserted.
pam-wrong-pin = Wrong PIN. { $tries_left ->
        [one] 1 try left
       *[other] { $tries_left } tries left
    } before the PIN is blocked.
pam-pin-blocked = The PIN is blocked. Ask the access manager to unblock the card.
pam-revoked = This card has been revoked and cannot be used. Contact the access manager.
pam-returned = This card has been returned to the access manager and cannot be used.
pam-expired = This card has expired. Contact the access manager.
pam-not-yet-valid = This card is not valid yet.
pam-wrong-user = This card is not lent to you.
pam-other-card = Your session is locked; unlock it with the card that opened it.
pam-outside-hours = Logins are not allowed outside business hours.
pam-not-operator-card = This card was not issued by cardgate for this office: it is not a valid operator card.
pam-card-removed = The card was removed during the operation.
pam-rate-limited = Too many wrong PINs; wait a moment and try again.
pam-malformed-pin = That is not a well-formed PIN (no try was used).
pam-service-unavailable = The authentication service is unavailable. Contact the administrator.
pam-daemon-unreachable = Cannot reach the authentication service (cardgated). Contact the administrator.
pam-card-changed = The card in the reader is not the card you authenticated with.
pam-must-change-pin = You must change the initial PIN now.
pam-old-pin-prompt = Current PIN:{" "}
pam-new-pin-prompt = New PIN:{" "}
pam-repeat-pin-prompt = Repeat the new PIN:{" "}
pam-pin-mismatch = The new PINs do not match.
pam-pin-policy = The new PIN does not meet the PIN policy: { $rule }.
pam-pin-changed = The PIN was changed.
pam-no-logind-session = No logind session (pam_systemd set no XDG_SESSION_ID), so removing the card could not lock this session; the login is refused. Contact the administrator.
pam-other = Refused: { $message }.
