# Messages of ctl-card (prefix: ctl-card-): cardgatectl card …, pin …, readers.

## Command-line input
ctl-card-bad-serial = { $input } is not a card serial: a serial is 16 hexadecimal digits
ctl-card-bad-serial-hint = the serial is printed by `cardgatectl card list` and `cardgatectl card inspect`
ctl-card-bad-reader-name = the reader name must be 1 to { $max } bytes
ctl-card-bad-role = --role { $input }: the role must be operator or manager
ctl-card-bad-date = --valid-until { $input }: the date must be YYYY-MM-DD
ctl-card-date-past = --valid-until { $input } is in the past (today is { $today })
ctl-card-date-far = --valid-until { $input } is more than { $years } years ahead (the latest is { $latest })
ctl-card-bad-operator = --operator { $input }: the operator ID must be 1 to { $max } bytes, with no control characters
ctl-card-bad-puk = the PUK { $error }
ctl-card-bad-admin-pin = the admin PIN { $error }
ctl-card-admin-pin-unchanged = the new admin PIN must not be the factory value 12345678: whoever knows the admin PIN can set a new PIN on the card without the old one
ctl-card-config-fix = correct the configuration { $path } (docs/configuration.md)
ctl-card-config-hint = name the configuration with --config (now { $path })

## The issuer medium
ctl-card-issuer-dir-missing = the issuer directory { $dir } does not exist
ctl-card-issuer-key-missing = the issuer key { $path } does not exist
ctl-card-issuer-key-bad = the issuer key { $path } is not an issuer key: { $error }
ctl-card-issuer-mount = mount the issuer medium (the removable drive holding issuer.key) and name its directory with --issuer-dir (now { $dir })

## card return / card revoke
ctl-card-not-in-register = card { $serial } is not in the card register { $path }; nothing was done
ctl-card-not-in-register-hint = check the serial with `cardgatectl card list`; for a card issued elsewhere, add --not-in-register (the override is recorded in the audit log)
ctl-card-already-returned = card { $serial } was already returned on { $at }; nothing was done
ctl-card-already-revoked = card { $serial } was already revoked on { $at } ({ $reason }); nothing was done
ctl-card-already-listed = card { $serial } is already on the revocation list { $path } (since { $at }, { $reason }); nothing was done
ctl-card-list-unreadable = cannot read the revocation list { $path }: { $error }
ctl-card-plan-card = Card { $serial }: { $operator } ({ $role }), lent on { $lent }.
ctl-card-plan-unknown-card = Card { $serial }: NOT in this card register (issued elsewhere).
ctl-card-plan-list-only = It will be put on a newly signed revocation list (reason: { $reason }); the register is not changed, as it does not know the card.
ctl-card-plan-return = It will be taken back: revoked with reason "returned" on a newly signed revocation list, and marked returned in the register.
ctl-card-plan-revoke = It will be revoked ({ $reason }) on a newly signed revocation list, and marked revoked in the register.
ctl-card-plan-meaning = From then on the card logs in on no terminal, and an open session of it ends. This cannot be undone: the operator needs a new card.
ctl-card-plan-by = Recorded in the audit log as done by { $by }.
ctl-card-plan-override = --not-in-register: the override is recorded in the audit log first.
ctl-card-override-unrecorded = the --not-in-register override for card { $serial } could not be recorded, so nothing was done: { $error }
ctl-card-withdrawn-unrecorded = card { $serial } IS on the revocation list (version { $version }), but that could not be recorded in the audit log: { $error }
ctl-card-returned = card { $serial } returned; revocation list version { $version }
ctl-card-revoked = card { $serial } revoked ({ $reason }); revocation list version { $version }
ctl-card-tell-administrator = keep the card and tell the administrator

## card issue / card unblock
ctl-card-issued = issued card { $serial } to { $operator } ({ $role }), valid until { $until }; the PIN must be changed at first use
ctl-card-issued-unrecorded = card { $serial } WAS issued to { $operator } and the register lends it, but the issuance could not be recorded: { $error }
ctl-card-plan-unblock = The PIN of card { $serial } ({ $operator }) in { $reader } will be unblocked with its PUK and set to the new PIN read from stdin; the operator must change it at the next login.
ctl-card-unblocked = card { $serial } unblocked; the new PIN must be changed at first use
ctl-card-unblocked-unrecorded = card { $serial } WAS unblocked, but the unblocking could not be recorded: { $error }
ctl-card-blank = the card in reader "{ $reader }" is blank (not personalised)
ctl-card-not-operator-card = the card in reader "{ $reader }" is not a cardgate operator card
ctl-card-card-changed = the card in reader "{ $reader }" is no longer card { $serial }; nothing was done
ctl-card-card-failed = the card in reader "{ $reader }": { $error }
ctl-card-manager-same-reader = the access manager's card needs its own reader: --manager-reader "{ $reader }" is the card's reader
ctl-card-manager-authenticated = access manager { $manager } authenticated (card { $serial } in { $reader })
ctl-card-manager-needed = card issue needs the access manager's card: --manager-reader READER, with its PIN on the first line of stdin
ctl-card-manager-bootstrap-taken = the register lends manager card { $serial } to { $manager } (since { $since }): issue further cards with it (--manager-reader READER)
ctl-card-manager-refused = refused: { $reason }
ctl-card-manager-refused-hint = nothing was done to the other card; the refusal is in the audit log
ctl-card-manager-refused-unrecorded = refused: { $reason }; and the refusal could not be recorded: { $error }

## Readers and pcscd
ctl-card-pcscd-down = the smart-card service pcscd is not running (or this user may not use it)
ctl-card-pcscd-down-hint = start it: systemctl start pcscd.socket
ctl-card-reader-missing = there is no reader "{ $reader }"
ctl-card-reader-missing-hint = list the readers with `cardgatectl readers`
ctl-card-readers-known = the readers are: { $readers }
ctl-card-no-readers = pcscd knows no reader.
ctl-card-no-readers-hint = plug the reader in, and check that its driver is installed (pcscd's log: journalctl -u pcscd)
ctl-card-no-card = there is no card in reader "{ $reader }"
ctl-card-no-card-hint = insert the card and run the command again
ctl-card-card-removed = the card left reader "{ $reader }" during the command
ctl-card-card-removed-hint = leave the card in the reader until the command ends, and run it again
ctl-card-reader-failed = reader "{ $reader }": { $error }
ctl-card-reader-empty = no card
ctl-card-reader-operator-card = operator card
ctl-card-reader-other-card = other card

## Tables
ctl-card-col-serial = serial
ctl-card-col-operator = operator
ctl-card-col-role = role
ctl-card-col-lent = lent on
ctl-card-col-valid-until = valid until
ctl-card-col-ended = ended on
ctl-card-col-state = state
ctl-card-col-reader = reader
ctl-card-col-card = card
ctl-card-col-atr = ATR
ctl-card-col-item = item
ctl-card-col-value = value
ctl-card-list-empty = The card register { $path } lends no card yet.
ctl-card-state-lent = lent
ctl-card-state-lent-initial = lent (initial PIN)
ctl-card-state-returned = returned
ctl-card-state-revoked = revoked ({ $reason })
ctl-card-role-operator = operator
ctl-card-role-manager = access manager
ctl-card-reason-lost = lost
ctl-card-reason-stolen = stolen
ctl-card-reason-returned = returned
ctl-card-reason-transferred = transferred
ctl-card-reason-damaged = damaged
ctl-card-reason-other = other

## card inspect
ctl-card-inspect-profile = profile
ctl-card-profile-v1 = operator card v1
ctl-card-profile-v1-blank = operator card v1, blank (not personalised)
ctl-card-profile-openpgp = OpenPGP card, issued by cardgate
ctl-card-profile-openpgp-blank = OpenPGP card, without a cardgate certificate (not issued by cardgate)
ctl-card-inspect-openpgp-card = OpenPGP card
ctl-card-inspect-openpgp-card-value = version { $version }, manufacturer { $manufacturer }, card serial { $serial }
ctl-card-inspect-kdf = PIN sent hashed (KDF-DO)
ctl-card-inspect-admin-tries = tries left: admin PIN / PUK (Reset Code)
ctl-card-profile-unknown = unknown card
ctl-card-profile-unknown-marked = unknown card (its ATR carries the cardgate mark, but it has no operator application)
ctl-card-inspect-validity = valid
ctl-card-validity-valid = valid today
ctl-card-validity-expired = EXPIRED
ctl-card-validity-not-yet = NOT YET VALID
ctl-card-inspect-signature = issuer signature
ctl-card-signature-valid = verifies with the configured issuer.pub
ctl-card-signature-invalid = DOES NOT VERIFY with the configured issuer.pub
ctl-card-unchecked = not checked: { $error }
ctl-card-inspect-revoked = revoked
ctl-card-inspect-revoked-yes = REVOKED ({ $reason }), revocation list version { $version }
ctl-card-inspect-revoked-no = no (revocation list version { $version })
ctl-card-inspect-revoked-at = revoked on
ctl-card-inspect-register = register
ctl-card-inspect-register-revoked = revoked
ctl-card-inspect-not-in-register = not in this register
ctl-card-inspect-returned = returned
ctl-card-inspect-pin = PIN
ctl-card-pin-tries = { $tries } tries left
ctl-card-pin-not-set = not set (blank card)
ctl-card-pin-tries-unknown = the card did not say
ctl-card-pin-blocked = BLOCKED (unblock it with `cardgatectl card unblock`)

## The PIN policy (art. 5.5)
ctl-card-pin-acceptable = the PIN is acceptable
ctl-card-pin-too-short = the PIN must be at least { $min } characters (got { $len })
ctl-card-pin-too-long = the PIN must be at most { $max } characters (got { $len })
ctl-card-pin-bad-character = the PIN may contain only the letters A-Z, a-z and the digits 0-9
ctl-card-pin-no-letter = the PIN must contain at least one letter
ctl-card-pin-no-digit = the PIN must contain at least one digit
ctl-card-pin-operator-id = the PIN must not contain your operator ID
ctl-card-pin-run = the PIN must not be a repeated character or a keyboard, alphabet or number run, alone or two of them together
ctl-card-pin-blocklisted = the PIN is on the list of commonly used passwords
ctl-card-pin-same = the new PIN must differ from the current PIN
ctl-card-bootstrap-needs-root = Without root, a card is lent only on the access manager's card (--manager-reader): the very first manager card is issued by root.
ctl-card-bootstrap-needs-root-hint = Issue the first access manager's card as root (sudo), then issue every other card with --manager-reader.
