# Messages of ctl-office (prefix: ctl-office-): the office's state to every terminal.

## office publish.
ctl-office-published = published office state version { $version } to { $dir }: revocation list version { $list }, { $cards } cards in the register
ctl-office-publish-due-soon = warning: the revocation list is due for its next update within two days; sign the next one (cardgatectl revocation refresh) and publish again
ctl-office-publish-stale = warning: the revocation list is past its next update: terminals refuse or warn by their [revocation] stale; sign the next one (cardgatectl revocation refresh) and publish again

## office pull.
ctl-office-applied = applied office state version { $version } (before: { $previous }): { $list }; register: { $added } added, { $updated } updated ({ $withdrawn } withdrawn), { $kept } where this terminal knows more
ctl-office-unchanged = office state version { $version } is already applied here; nothing to do
ctl-office-list-installed = revocation list version { $version } installed
ctl-office-list-same = revocation list version { $version } already in force
ctl-office-list-kept = this terminal's revocation list version { $local } is newer than the office's version { $offered }, and stays
ctl-office-refused = the office state was refused: { $error }
ctl-office-refused-hint = nothing was changed on this terminal; check that the office signed it with this terminal's issuer key (issuer.public_key in cardgated.toml) and publish again (cardgatectl office publish)
ctl-office-rollback-hint = nothing was changed on this terminal: the office copy is older than what this terminal has applied (an old copy put back at the office?); publish a new version at the office (cardgatectl office publish)
ctl-office-failed = cannot apply the office state: { $error }
ctl-office-bad-source = --from { $source } is neither an absolute path nor HOST:PATH (no spaces, nothing starting with -)
ctl-office-bad-path = { $path } cannot be given to ssh (empty, or with spaces or control characters)
ctl-office-fetch-spawn = cannot run { $program }: { $error }
ctl-office-fetch-failed = fetching the office state from { $source } failed ({ $status }): { $detail }
ctl-office-status-write-failed = warning: cannot record the outcome in { $path }: { $error }

## office status.
ctl-office-status-none = no office pull has run on this terminal yet ({ $path } does not exist)
ctl-office-status = last office pull { $time } from { $source }: { $result }
ctl-office-result-applied = applied version { $version }
ctl-office-result-unchanged = version { $version } already applied
ctl-office-result-refused = refused: { $error }
ctl-office-result-refused_rollback = rollback refused: { $error }
ctl-office-result-failed = failed: { $error }
