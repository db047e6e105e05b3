# Messages of daemon (prefix: daemon-).

## What cardgated checks before it starts (cardgated --check-config, and every start).
daemon-check-error = error
daemon-check-warning = warning
daemon-check-valid = { $path }: configuration is valid
daemon-check-failed = { $path }: { $errors } error(s): cardgated would not start
daemon-start-refused = refusing to start: { $errors } error(s) in what the daemon needs (cardgated --check-config { $path } lists them)
daemon-issuer-key-unreadable = the issuer public key { $path } cannot be read ({ $error }); copy issuer.pub from the access manager's medium
daemon-issuer-key-invalid = the issuer public key { $path } is not valid ({ $error })
daemon-state-dir-unusable = the state directory { $path } cannot be used ({ $error })
daemon-state-file-bad = the state file { $path } is unreadable or malformed ({ $error })
daemon-audit-not-initialised = the audit log { $path } is not initialised; run cardgatectl audit init --dir { $path }
daemon-audit-unusable = the audit log { $path } cannot be opened ({ $error })
daemon-revocation-list-unreadable = the revocation list { $path } cannot be read ({ $error }); publish one with cardgatectl revocation refresh
daemon-revocation-list-refused = the revocation list { $path } is refused ({ $error })
daemon-revocation-list-stale-refuse = the revocation list { $path } (version { $version }) is past its next update: logins are refused until a new one is published
daemon-revocation-list-stale-warn = the revocation list { $path } (version { $version }) is past its next update: logins go on (stale = "warn")
daemon-group-missing = { $key } = "{ $group }": no such group in the name service; that role has no access
daemon-group-lookup-failed = { $key } = "{ $group }": the name service failed ({ $error }); that role has no access
daemon-operator-user-missing = operator { $operator }: user "{ $user }" is not known to the name service; that operator cannot log in
daemon-operator-user-lookup-failed = operator { $operator }: user "{ $user }" cannot be looked up ({ $error })
daemon-loginctl-unusable = the loginctl program { $path } is not an executable file ({ $error }); sessions could not be locked or ended
daemon-socket-dir-unusable = the socket { $path } cannot be created ({ $error })
daemon-socket-path-taken = { $path } exists and is not a socket; the daemon would delete it to bind its socket there
daemon-syslog-export-gone = [audit] syslog = true is ignored: the /dev/log export is gone. Records leave the terminal through rsyslog's imfile and RELP (see docs/integration.md); remove the setting
