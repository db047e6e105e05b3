# Messages of review (prefix: review-): the access manager's review (art. 7, art. 12).

review-title = Audit review of terminal use (Security Regulation art. 7)
review-period = Period: { $from } to { $to }
review-period-log-start = the start of the log
review-period-log-end = the end of the log
review-records = Records reviewed: { $count }
review-times-in = All times are the office's local time (UTC{ $offset }).
review-footer = Made by cardgatectl audit report. The log keeps UTC; this report shows the office's time. Keep the signed copy with the checkpoint of this review.

## Verification, at the top
review-verification = Verification of the log
review-verify-not-run = The log was not verified for this review.
review-verify-intact-key = { $dir }: intact, { $records } records and { $seals } seals, every seal authenticated with k(0).
review-verify-intact-no-key = { $dir }: chain intact ({ $records } records, { $seals } seals), but the seals were NOT authenticated: no k(0) was given, so a rewritten log would pass.
review-verify-broken = { $dir }: NOT INTACT from record { $seq }: { $problem }
review-verify-unsealed = { $count } record(s) at the end ({ $first } to { $last }) are not sealed yet.
review-key-fingerprint = Key used: k(0) with fingerprint { $fingerprint }.
review-key-none = Key used: none (give k(0) with --key - or --key-file to authenticate the seals).

## What `cardgatectl audit verify` prints
review-verify-summary-intact = intact: { $records } records, { $seals } seals, { $bytes } bytes
review-verify-key-checked = seals authenticated with k(0) (fingerprint { $fingerprint })
review-verify-key-unchecked = seals NOT authenticated (no k(0): give --key - or --key-file): only the chain and the seal structure were checked
review-verify-summary-broken = NOT INTACT at record { $seq }: { $problem }
review-verify-summary-unsealed = unsealed tail: { $count } record(s), { $first } to { $last }, since { $since } (not yet protected by a seal)
review-verify-key-update-pending = note: the writer stopped between the last seal and the key update; the next open finishes it
review-verify-key-file-not-readable = note: the seal key file is root's alone and was not compared with the log (run as root for that check); every seal was checked from k(0)

## Findings
review-critical = The log itself cannot be trusted
review-findings = Findings
review-findings-none = Findings: none.
review-findings-count = Findings: { $count }, the most severe first, each group in time order.
review-severity-critical = critical
review-severity-high = high
review-severity-medium = check

review-kind-log-not-intact = log did not verify
review-action-log-not-intact = Do not rely on this review. Keep a copy of the log directory as it is, find out who had access to the terminal, and report it to the security officer.
review-kind-log-not-extended = log replaced, truncated or rolled back since the last review
review-action-log-not-extended = The log no longer extends the checkpoint of the last review: records were deleted or the log was replaced. Keep copies of both, and report it to the security officer at once.
review-kind-record-gap = records missing from the sequence
review-action-record-gap = Records were removed or lost. Verify the log with k(0), keep a copy, and report it.
review-kind-revoked-card-presented = revoked card presented
review-action-revoked-card-presented = Find out who had the card: a lost or stolen card may be in someone else's hands. Check that the card holder reported it.
review-kind-unknown-card-presented = unknown card presented
review-action-unknown-card-presented = A card this office did not issue (or an expired one) was tried. Find out whose card it was and why it was used.
review-kind-card-never-issued = card never issued
review-action-card-never-issued = The card is not in the register. Find out where it came from; revoke it if it is one of ours.
review-kind-outside-business-hours = use outside business hours
review-action-outside-business-hours = Ask the operator why they worked then, and whether overtime was approved.
review-kind-on-national-holiday = use on a national holiday
review-action-on-national-holiday = Ask the operator why they worked on the holiday, and whether it was approved.
review-kind-on-closed-day = use on a day the office was closed
review-action-on-closed-day = Ask the operator why they worked on a closed day (year-end closure or the office's own closed days), and whether it was approved.
review-kind-card-on-two-terminals = one card on two terminals at once
review-action-card-on-two-terminals = A card cannot be in two readers: its certificate may have been copied, or the log was tampered with. Revoke the card and investigate.
review-kind-operator-on-two-terminals = one operator on two terminals at once
review-action-operator-on-two-terminals = One person was logged in at two terminals. Ask whether someone else used their session or their card.
review-kind-use-after-return = use after the card was returned or revoked
review-action-use-after-return = The card should no longer be in use. Recover it and check the revocation list on every terminal.
review-kind-failed-pin-burst = burst of wrong PINs
review-action-failed-pin-burst = Many wrong PINs in a short time are the first sign of a found card being tried. Ask the card holder whether they still have the card.
review-kind-denial-burst = burst of refused logins
review-action-denial-burst = Many refused logins in a short time at one terminal or with one card. Find out who was at the terminal.
review-kind-session-never-ended = session never ended
review-action-session-never-ended = The session has no logout (daemon restart, power loss, or still open). Check that the terminal was not left unattended.
review-kind-puk-rejected = wrong PUK
review-action-puk-rejected = Someone tried to unblock or reissue the card with a wrong PUK. Check who did it (the record names them).
review-kind-manager-refused = access manager's card refused
review-action-manager-refused = An issuance or unblock was tried without a valid access manager's card. Find out who tried it.
review-kind-lock-not-held = screen did not lock
review-action-lock-not-held = A lock was asked for, but logind refused it or the screen locker did not confirm it, so the daemon ended the session. Check the terminal's screen locker (it must obey logind's Lock and set LockedHint) and whether the operator lost work.
review-kind-reader-service-lost = smart-card service (pcscd) lost
review-action-reader-service-lost = The card service stopped while the daemon ran; the sessions open then were locked until their card and PIN unlocked them. Find out why pcscd stopped (journalctl -u pcscd) and whether the terminal was attended.
review-kind-terminal-conflict = collected terminal's log no longer matches what the collector holds
review-action-terminal-conflict = A record arrived again with other content: the terminal's log was rewritten (perhaps re-sealed with recovered keys) or cut and continued after its records reached the collector. The collector's copy is the witness: keep it, take a copy of the terminal's log as it is, and report it to the security officer at once.
review-kind-terminal-replaced = collected terminal's log started afresh
review-action-terminal-replaced = The terminal sent a new genesis with another log ID: its log was deleted and initialised again. Keep the collector's copy of the old chain, find out who did it, and report it to the security officer at once.
review-kind-terminal-resent = records sent again, too late to compare
review-action-terminal-resent = The terminal sent records the collector took long ago: its log file was replaced or rsyslog's position (imfile state) was lost. Check the terminal's log against the collector's copy (audit report --checkpoint with the collector's checkpoint).
review-kind-terminal-unreadable = lines that are not records at the collector
review-action-terminal-unreadable = Lines in the collector's files are not records (damaged, too long, or written by something else). Check the rsyslog configuration of both ends (maxMessageSize 64k, the template that writes the message only).
review-kind-terminal-silent = terminal stopped reporting
review-action-terminal-silent = No record arrived for longer than the silence allowed, and the last one is not the daemon's stop: the terminal, its daemon or its shipping is down. Check the terminal and rsyslog on both ends.
review-kind-terminal-late = records arrived after their gap was declared
review-action-terminal-late = Records came long after their neighbours (shipping was held up). Check that nothing is missing now, and the terminal's rsyslog queue.
review-kind-terminal-empty = collected terminal without records
review-action-terminal-empty = The terminal's directory at the collector holds no record. Check that the terminal ships its log (rsyslog imfile and omrelp).

## Counts
review-per-operator = Per operator
review-per-terminal = Per terminal
review-col-logins = logins
review-col-denied = refused
review-col-failed-pins = wrong PINs
review-col-lockouts = PIN blocked
review-col-bad-cards = bad cards
review-col-outside-hours = off hours
review-col-two-terminals = two terminals
review-col-after-return = after return
review-col-never-ended = never ended

## Columns
review-col-severity = severity
review-col-time = time
review-col-finding = finding
review-col-kind-code = kind code
review-col-terminal = terminal
review-col-operator = operator
review-col-card = card
review-col-records = record no.
review-col-detail = detail
review-col-date = date
review-col-day-off = day off
review-col-findings = findings
review-col-register = register
review-col-who = who
review-col-escort = escort
review-col-by = written by
review-col-text = text
review-col-problem = problem
review-col-count = count
review-col-action = what to do

## Days
review-day-weekend = weekend
review-day-year-end = year-end closure
review-day-closed = office closed
review-days-off-with-logins = Logins on days off
review-chart-days = Logins per day
review-chart-no-days = No logins in the period.
review-chart-logins = { $count } login(s)
review-chart-findings = { $count } finding(s)
review-chart-legend-logins = logins
review-chart-legend-wrong = a day with a finding, or logins on a day off
review-chart-legend-off = weekend, holiday or closed day

## Register notes
review-notes = Register notes
review-notes-count = Register notes: { $count }
review-register-room-entry = server-room entry
review-register-media = media
review-register-resident-card = resident cards
review-register-other = other

## Sign-off
review-signoff = Sign-off
review-signoff-reviewer = Reviewed by
review-signoff-date = Date
review-signoff-date-blank = {"      "}/{"      "}/
review-signoff-seal = Seal
review-signoff-remarks = Remarks

## Finding details
review-break-missing = the log is missing
review-break-replaced = the log was replaced by another one
review-break-truncated = records were cut off the end
review-break-rewritten = records were rewritten
review-break-rolled-back = the log was rolled back to an earlier state
review-detail-log-not-extended = { $how }: the last review ended at record { $checkpoint_seq } (seal epoch { $checkpoint_epoch }); now the log ends at record { $found_seq } (seal epoch { $found_epoch }).
review-detail-log-not-intact = not intact from record { $first_bad }: { $problem }
review-detail-key-may-be-wrong = The very first seal does not match: the k(0) given may be the wrong key.
review-detail-record-gap = records { $first } to { $last } are missing
review-detail-revoked = revoked ({ $reason })
review-detail-certificate-rejected = certificate refused ({ $reason })
review-detail-not-in-register = not in the card register
review-detail-no-issue-record = no issuance in the log
review-detail-after-returned = the card was returned at { $at } (record { $record })
review-detail-after-revoked = the card was revoked at { $at } (record { $record })
review-detail-refused = The daemon refused it.
review-detail-two-terminals = also logged in on { $terminal } since { $since } (record { $record })
review-detail-burst-card = { $count } with this card within { $minutes } minutes
review-detail-burst-terminal = { $count } at this terminal within { $minutes } minutes
review-detail-hours-until = session { $start } to { $end }
review-detail-refused-out-of-hours = an attempt outside business hours, refused by the daemon
review-detail-hours-open = the session started outside business hours and has no end
review-detail-superseded = another login on the same terminal came first
review-detail-daemon-restarted = the daemon restarted during the session
review-detail-open-at-end = still open at the end of the log
review-detail-puk = by { $by }; { $tries } tries left
review-detail-puk-blocked-now = by { $by }; the PUK is now blocked
review-detail-puk-was-blocked = by { $by }, to a card whose PUK is blocked
review-detail-manager-refused = by { $by }: { $reason }
review-detail-tries-left = { $tries } tries left.
review-detail-terminal-conflict = { $count } record(s) arrived with other content than the collector holds; the first: record { $seq }.
review-detail-terminal-replaced = { $count } earlier chain(s) the collector holds were followed by a genesis with another log ID.
review-detail-terminal-resent = { $count } record(s) sent again too late to compare; the first: record { $seq }.
review-detail-terminal-unreadable = { $count } line(s) are not records (audit collected names the first).
review-detail-terminal-silent = No record since { $since } (the last: { $last }, record { $seq }).
review-detail-terminal-late = { $count } record(s) arrived after their gap was declared; the first: record { $seq }.
review-detail-terminal-empty = No record arrived.
review-detail-unsealed = (Shown by a record not yet under a valid seal: it could still have been rewritten or planted unseen.)
review-reason-lost = lost
review-reason-stolen = stolen
review-reason-returned = returned
review-reason-transferred = transferred
review-reason-damaged = damaged
review-reason-other = other
review-reason-malformed = malformed certificate
review-reason-bad-signature = bad signature
review-reason-unknown-issuer = unknown issuer
review-reason-expired = expired
review-reason-not-yet-valid = not yet valid
review-reason-serial-mismatch = serial does not match the card
review-reason-certificate-rejected = certificate refused
review-reason-card-revoked = card revoked
review-reason-revocation-list-stale = revocation list out of date
review-reason-wrong-pin = wrong PIN
review-reason-pin-blocked = PIN blocked
review-reason-card-authentication-failed = card authentication failed
review-reason-not-authorised-here = not an access manager's card
review-reason-card-removed = card removed

## Checkpoint
review-checkpoint-none = Previous checkpoint: none given; a log deleted or replaced since the last review cannot be detected. Give the last review's checkpoint with --checkpoint.
review-checkpoint-extended = Previous checkpoint (review of { $made }): every log still extends it.
review-checkpoint-broken = Previous checkpoint (review of { $made }): NOT extended; see the critical findings.
review-col-days-off = days off

## The rules applied
review-rules = Business days { $days }, { $hours }; days off: { $off }.
review-rules-holidays = national holidays
review-rules-closed-days = { $count } closed day(s) of the office
review-rules-no-days-off = none

## cardgatectl audit report: the review over many logs (issue 13)
review-cli-open-files = Reviewing { $logs } logs holds a file of each open at once: { $need } open files are needed, and RLIMIT_NOFILE allows { $soft } (hard limit { $hard }). { $error }
review-cli-open-files-hint = Raise the limit of open files for this shell (ulimit -n { $need }, as root if the hard limit is lower), or review fewer terminals at a time.
