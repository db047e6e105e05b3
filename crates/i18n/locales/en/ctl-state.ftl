# Messages of ctl-state (prefix: ctl-state-).

## Files and errors shared by the state commands.
ctl-state-not-found = { $path } does not exist
ctl-state-not-found-hint = check the path (and that the medium holding it is mounted)
ctl-state-forbidden = { $path } cannot be read or written by this user
ctl-state-forbidden-hint = run it as the user that owns it (root for the audit log and the state directory)
ctl-state-io = { $path }: { $error }
ctl-state-bad-file = { $path } is not usable: { $error }
ctl-state-bad-serial = { $serial } is not a card serial (16 hexadecimal digits, as printed on the card list)
ctl-state-unknown = unknown

## The daemon's sockets.
ctl-state-daemon-down = cannot reach cardgated at { $socket } ({ $error })
ctl-state-daemon-down-hint = check the daemon with: systemctl status cardgated
ctl-state-daemon-forbidden = cardgated's socket { $socket } is not open to this user
ctl-state-daemon-forbidden-hint = run it as root or as a member of the admin group (daemon.admin_group in cardgated.toml)
ctl-state-daemon-talk = talking to cardgated at { $socket } failed: { $error }

## issuer init.
ctl-state-issuer-exists = { $path } already holds an issuer key; it was not replaced (every card and list it signed would stop verifying)
ctl-state-issuer-exists-hint = to make a new key, choose another directory; keep the old one until every card is reissued
ctl-state-issuer-no-parent = { $parent } does not exist, so { $path } was not made
ctl-state-issuer-no-parent-hint = mount the issuer medium (the USB key kept by the access manager) and run it again; cardgatectl never creates it
ctl-state-issuer-not-dir = { $path } exists and is not a directory
ctl-state-issuer-dir-hint = give --dir a directory on the issuer medium
ctl-state-issuer-made =
    issuer key:  { $key }
    public key:  { $public } ({ $hex })
    key ID:      { $id }

## The revocation list.
ctl-state-next-update-bounds = --next-update-days must be a whole number of days from 1 to { $max }, not { $value }
ctl-state-list-bad = the revocation list { $path } does not verify: { $error }
ctl-state-list-bad-hint = check that it was signed with this issuer key (--issuer-pub, or issuer.public_key in cardgated.toml)
ctl-state-list-summary = { $path }: version { $version }, issued { $issued }, next update { $next }, { $count } cards
ctl-state-list-stale = warning: the revocation list is past its next update; sign a new one now (cardgatectl revocation refresh)
ctl-state-list-due-soon = warning: the revocation list's next update is less than two days away; sign a new one soon (cardgatectl revocation refresh)
ctl-state-list-revoked = revoked { $serial } ({ $reason }); list version { $version }, { $count } entries
ctl-state-list-refreshed = list version { $version }, { $count } entries
ctl-state-reason-lost = lost
ctl-state-reason-stolen = stolen
ctl-state-reason-returned = returned
ctl-state-reason-transferred = transferred
ctl-state-reason-damaged = damaged
ctl-state-reason-other = other

## Table headers.
ctl-state-col-card = card
ctl-state-col-reason = reason
ctl-state-col-revoked-at = revoked at
ctl-state-col-session = session
ctl-state-col-terminal = terminal
ctl-state-col-user = user
ctl-state-col-operator = operator
ctl-state-col-opened = opened
ctl-state-col-state = state
ctl-state-col-reader = reader
ctl-state-col-reader-state = reader state

## sessions and status.
ctl-state-no-sessions = no open sessions
ctl-state-session-active = active
ctl-state-session-locked = locked
ctl-state-session-ending = ending
ctl-state-reader-present = connected
ctl-state-reader-missing = NOT FOUND in pcscd
ctl-state-reader-unconfigured = not configured for a terminal
ctl-state-status-daemon-up = cardgated: running ({ $socket })
ctl-state-status-daemon-down = cardgated: NOT REACHABLE ({ $socket })
ctl-state-status-pcscd-up = pcscd: reachable, { $count } readers
ctl-state-status-pcscd-down = pcscd: NOT REACHABLE ({ $error })
ctl-state-status-sessions = open sessions: { $count }
ctl-state-status-sessions-unknown = open sessions: unknown (cardgated not reachable)
ctl-state-status-list = revocation list: { $path }, version { $version }, next update { $next }
ctl-state-status-list-in-force = warning: cardgated holds version { $version }, not the file's
ctl-state-status-list-error = revocation list: { $error }
ctl-state-status-audit-last = audit log: { $path }, last record #{ $seq } at { $time }
ctl-state-status-audit-empty = audit log: { $path } holds no records
ctl-state-status-audit-seal = last seal: epoch { $epoch }, closing record #{ $seq }, at { $time }
ctl-state-status-audit-no-seal = last seal: none in the newest part of the log
ctl-state-status-audit-unreadable = audit log: not readable here ({ $error }); run status as root to see its last record and seal

## login.
ctl-state-login-bad-pin = the PIN { $error }; nothing was sent
ctl-state-login-granted = granted: operator { $operator } (card { $serial })
ctl-state-login-change-pin = the initial PIN must be changed before a session opens
ctl-state-login-refused = login of { $user } on { $terminal } refused: { $reason }

## backup.
ctl-state-backup-no-target = the backup destination { $path } does not exist; nothing was written
ctl-state-backup-no-target-hint = mount the backup medium (or make the directory) and run it again; cardgatectl never creates it
ctl-state-backup-too-many = too many backups this minute ({ $path } and its numbered copies exist)
ctl-state-backup-wrong-key = the issuer key in { $dir } is not the one { $public } names; the backup could not be checked or restored here
ctl-state-backup-made = { $count } files ({ $bytes } bytes) backed up into { $path }
ctl-state-backup-entry-unreadable = backup entry { $name }: { $path }: { $error }
ctl-state-backup-entry-symlink = backup entry { $name }: { $path } is a symbolic link{ $error }
ctl-state-backup-entry-not-file = backup entry { $name }: { $path } is not a regular file{ $error }
ctl-state-backup-unsigned = { $path }: the manifest is not signed by the issuer key in { $public } (missing, altered or another key's)
ctl-state-backup-unsigned-hint = the backup was changed after it was made, or made with another issuer key; use another backup
ctl-state-backup-manifest-line = { $path } line { $line } is malformed
ctl-state-backup-bad-name = { $name } is not a file a backup can hold
ctl-state-backup-changed = { $path } does not match its checksum in the manifest
ctl-state-backup-verified = { $path }: signature good ({ $public }), { $count } files match the manifest
ctl-state-backup-verify-failed = the backup { $path } does not verify: { $count } files failed, first { $first }
ctl-state-backup-verify-failed-hint = do not restore from it; use another backup

## restore.
ctl-state-restore-nothing = { $message }; nothing was restored
ctl-state-restore-daemon-running = cardgated is running (its socket { $socket } answers); a restore needs it stopped
ctl-state-restore-daemon-running-hint = stop it with: systemctl stop cardgated
ctl-state-restore-bad-name = MANIFEST.sha256 line { $line }: { $name } is not a file a backup can hold (only { $allowed } and audit/ segments)
ctl-state-restore-twice = MANIFEST.sha256 names { $name } twice
ctl-state-restore-target-symlink = { $path } (for { $name }) is a symbolic link
ctl-state-restore-accepted-bad = { $name } in the backup is malformed
ctl-state-restore-rollback = restoring would roll { $path } back from version { $current } to version { $version }: cards revoked since could log in again
ctl-state-restore-rollback-hint = put the newest list back afterwards; pass --allow-revocation-rollback to do it anyway (it is recorded in the audit log)
ctl-state-restore-audit-needs-key = --audit needs k(0): --key - (on stdin) or --key-file PATH
ctl-state-restore-key-without-audit = --key/--key-file is only for --audit
ctl-state-restore-audit-exists = { $path } already holds an audit log; a restore never replaces one (its records would be lost)
ctl-state-restore-audit-exists-hint = move the directory aside first, then restore with --audit
ctl-state-restore-audit-bad = the backup's audit log does not verify with this k(0): { $error }
ctl-state-restore-plan = The restore from { $path } will write { $count } files:
ctl-state-restore-plan-audit = and put the audit log back into { $path } ({ $count } files, { $records } records; sealing continues at epoch { $epoch })
ctl-state-restore-plan-audit-left = The backup's { $count } audit files will not be restored (no --audit).
ctl-state-restore-plan-rollback = revocation.accepted goes back to an older list (--allow-revocation-rollback): cards revoked since can log in again until the newest list is put back.
ctl-state-restore-no-log = a restore is recorded in the audit log, and { $path } cannot be opened: { $error }; nothing else was restored
ctl-state-restore-no-log-hint = restore the log too (--audit with k(0)) or create one (cardgatectl audit init)
ctl-state-restore-record = recording the restore in the audit log failed: { $error }
ctl-state-restore-seal = sealing the audit log after the restore failed: { $error }
ctl-state-restore-partial = the restore stopped after { $written } of { $count } files: writing { $path }: { $error } (recorded in the audit log)
ctl-state-restore-done = restored { $count } files from { $path }
ctl-state-restore-done-audit = audit log restored from the backup ({ $records } records), sealing continues at epoch { $epoch }
ctl-state-restore-done-audit-left = the audit log was left as it is (the backup's copy is for review; --audit puts it back into an empty directory)
ctl-state-restore-done-rollback = revocation.accepted was rolled back to an older list; recorded in the audit log
ctl-state-status-ship = shipping to the collector: { $waiting } records not yet read by rsyslog (its state in { $dir })
ctl-state-status-ship-segment = { "  " }segment { $segment }: read up to record #{ $read } of #{ $last } ({ $waiting } waiting)
ctl-state-status-ship-segment-unread = { "  " }segment { $segment }: not read yet (records #{ $first } to #{ $last } waiting)
ctl-state-status-ship-none = shipping to the collector: not configured (rsyslog keeps no position for the segments of { $path } in { $dir }; see docs/integration.md)
ctl-state-status-ship-error = shipping to the collector: unknown ({ $error })
