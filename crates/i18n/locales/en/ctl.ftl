# Messages of ctl (prefix: ctl-).
ctl-confirm-proceed = Go ahead?
ctl-confirm-declined = Nothing was done.
ctl-confirm-no-terminal = This step cannot be undone and there is no terminal to ask on.
ctl-confirm-use-yes = Run it again with --yes once you have checked what it will do.
ctl-error = cardgatectl: error: { $message }
ctl-error-hint = hint: { $hint }
ctl-config-load = cannot read the configuration { $path }
