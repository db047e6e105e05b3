# Messages of ctl-state (prefix: ctl-state-).
