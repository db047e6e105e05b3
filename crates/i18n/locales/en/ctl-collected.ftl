# Messages of `cardgatectl audit collected` (prefix: ctl-collected-).

ctl-collected-no-root = { $root }: no such directory of collected logs
ctl-collected-no-root-hint = Give the directory the collector's rsyslog writes the terminals' logs to with --root (default /var/log/cardgate/terminals).
ctl-collected-no-keys = { $dir }: no such directory of terminals' keys (--keys)
ctl-collected-read = Cannot read the collected logs: { $error }
ctl-collected-key-bad = { $path }: not a k(0) (64 hexadecimal digits, the last line `cardgatectl audit init` printed on that terminal)
ctl-collected-findings = { $count ->
    [one] one finding
   *[other] { $count } findings
} in the collected logs under { $root }
ctl-collected-findings-hint = Look at every critical finding first: the terminal's log no longer matches what the collector witnessed. Keep a copy of the collector's files as they are.
ctl-collected-checkpoint-written = Wrote the checkpoint to { $path }. Keep it off the collector and give it to the next run (--checkpoint { $path }).
ctl-collected-no-key = no key file: its seals' MACs were not checked
ctl-collected-at-record = (record { $seq })
ctl-collected-missing = in the checkpoint (log { $log_id } up to record { $seq }), but no directory under the root any more

ctl-collected-col-host = terminal
ctl-collected-col-records = records
ctl-collected-col-verified = verified to
ctl-collected-col-unsealed = unsealed from
ctl-collected-col-gaps = missing
ctl-collected-col-dup = twice/out of order
ctl-collected-col-last = last record
ctl-collected-col-state = state

ctl-collected-state-ok = OK
ctl-collected-state-ok-no-key = OK (no key)
ctl-collected-severity-critical = CRITICAL
ctl-collected-severity-high = HIGH
ctl-collected-severity-check = CHECK

ctl-collected-kind-chain-broken = the chain does not verify
ctl-collected-kind-conflict = a line differs from the record the collector holds (the terminal's log was rewritten or truncated)
ctl-collected-kind-replaced = a fresh chain replaced the log (deleted and started afresh)
ctl-collected-kind-gap = records never arrived
ctl-collected-kind-resent-too-old = records re-sent too long after to be compared (log replaced or shipping state lost)
ctl-collected-kind-late = records arrived after their gap was declared
ctl-collected-kind-not-records = lines that are not records
ctl-collected-kind-silent = silent: no record for longer than --silent-after
ctl-collected-kind-empty = no record has arrived
ctl-collected-kind-not-extended = the collected copy no longer extends the checkpoint (cut back, rewritten or replaced)
ctl-collected-kind-future = a record is dated after the time of this run (the terminal's clock)
ctl-collected-kind-far-ahead = lines numbered far ahead of the records still missing
ctl-collected-kind-other = another finding (see --format json)
