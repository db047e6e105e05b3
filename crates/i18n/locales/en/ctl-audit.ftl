# Messages of ctl-audit (prefix: ctl-audit-).

## audit init
ctl-audit-init-created = Created an audit log in { $dir }.
ctl-audit-init-key-follows = The verification key k(0) follows. Keep it off this machine: it is shown only this once.

## audit verify
ctl-audit-verify-tail-unsealed = NOT INTACT: --require-sealed was given and the tail is not sealed yet
ctl-audit-verify-failed = the audit log in { $dir } did not verify
ctl-audit-verify-failed-hint = Do not trust the records from the first bad one on. Keep a copy of the directory as it is and tell the access manager.
ctl-audit-verify-progress = verifying
ctl-audit-key-maybe-wrong = The very first seal does not match: the k(0) given may be the wrong key (another log's, or mistyped).

## audit report
ctl-audit-report-progress = reviewing
ctl-audit-report-csv-needs-out = --format csv writes one file per table and needs --out DIR
ctl-audit-report-csv-needs-out-hint = For example: --format csv --out /media/manager/review-2026-11
ctl-audit-report-written = Wrote { $path }.
ctl-audit-report-not-verified = The review was made, but the log did not verify or no longer extends the previous checkpoint: see the top of the report.
ctl-audit-report-checkpoint-written = Wrote the checkpoint to { $path }. Keep it off this machine and give it to the next review (--checkpoint { $path }).
ctl-audit-report-period-order = --from { $from } is after --to { $to }
ctl-audit-report-period-order-hint = Give the earlier date to --from and the later one to --to.

## audit note
ctl-audit-note-recorded = Recorded as record { $seq }.
ctl-audit-note-recorded-by-daemon = Recorded by cardgated as record { $seq }.
ctl-audit-note-daemon-unreachable = The log is held by cardgated, which cannot be reached at { $socket }: { $error }
ctl-audit-note-daemon-refused = cardgated refused the note: { $message }
ctl-audit-note-daemon-answer = cardgated answered the note with something unexpected: { $answer }

## errors
ctl-audit-already = { $dir } already holds an audit log; it is never overwritten.
ctl-audit-already-hint = To start a new log, give an empty directory with --dir (keep the old one and its k(0)).
ctl-audit-config = The configuration { $path } cannot be used: { $error }
ctl-audit-config-hint = Fix the file (cardgated refuses it too), or name another with --config.
ctl-audit-no-log = There is no audit log in { $dir }.
ctl-audit-no-log-hint = Check --dir or the [audit] dir of the configuration, or create a log with `cardgatectl audit init`.
ctl-audit-locked = The audit log in { $dir } is held by another writer (is cardgated running?).
ctl-audit-read = Cannot read the audit log in { $dir }: { $error }
ctl-audit-read-hint = Run `cardgatectl audit verify` on it: it names the first bad record.
ctl-audit-option = { $option }: { $error }
ctl-audit-key-on-command-line = --key takes only `-` (k(0) on stdin): a key on the command line is visible in the process list and kept in the shell history.
ctl-audit-key-on-command-line-hint = Use --key - < FILE, or --key-file FILE.
ctl-audit-key-unsafe-kind = { $path } is not a regular file; k(0) must come from a file.
ctl-audit-key-unsafe-mode = { $path } is readable or writable by every user; it is refused as k(0).
ctl-audit-key-unsafe-mode-hint = Make it readable by its owner only: chmod 600 { $path }
ctl-audit-key-group-readable = warning: { $path } is readable by its group; k(0) should be readable by its owner only.
ctl-audit-key-read = Cannot read k(0) from { $source }: { $error }
ctl-audit-key-bad = k(0) must be 64 hexadecimal digits (the last line `cardgatectl audit init` printed).
ctl-audit-checkpoint-read = Cannot read the checkpoint { $path }: { $error }
ctl-audit-checkpoint-write = Cannot write the checkpoint { $path }: { $error }
ctl-audit-write = Cannot write { $path }: { $error }
ctl-audit-json-failed = the report could not be written as JSON: { $error }
