# Messages of ctl (prefix: ctl-).
ctl-confirm-proceed = Go ahead?
ctl-confirm-declined = Nothing was done.
ctl-confirm-no-terminal = This step cannot be undone and there is no terminal to ask on.
ctl-confirm-use-yes = Run it again with --yes once you have checked what it will do.
ctl-error = cardgatectl: error: { $message }
ctl-error-hint = hint: { $hint }
ctl-config-load = cannot read the configuration { $path }
# Usage errors. In English cardgatectl shows clap's own (more detailed) message; these are the
# Japanese lines' counterparts.
ctl-usage-unknown-argument = unknown argument { $arg }
ctl-usage-unknown-command = unknown command { $command }
ctl-usage-invalid-value = the value { $value } is not valid for { $arg }
ctl-usage-invalid-value-because = the value { $value } is not valid for { $arg }: { $reason }
ctl-usage-missing-argument = a required argument is missing: { $arg }
ctl-usage-missing-command = a command is needed
ctl-usage-conflict = { $arg } cannot be used with the other options given
ctl-usage-other = the command line is not valid
ctl-usage-see-help = See cardgatectl --help (or the command's --help).
ctl-man-exit-heading = EXIT STATUS
ctl-exit-success = Done.
ctl-exit-failed = Failed for another reason (an unreadable file, a card error); the message names it.
ctl-exit-usage = The command line is wrong.
ctl-exit-not-found = What the command names does not exist: a file, a reader, a card serial, a user.
ctl-exit-refused = Refused: a safety rail, the access manager's card, the daemon, or the answer to the question was no.
ctl-exit-daemon-down = cardgated cannot be reached.
ctl-exit-verification-failed = A verification failed: the audit log, a backup, a signature.
ctl-man-files-heading = FILES
ctl-man-file-config = The daemon's configuration (read with --config).
ctl-man-file-state = The card register, the accepted revocation list and the daemon's state.
ctl-man-file-audit = The sealed audit log (art. 7).
