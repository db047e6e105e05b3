# Messages of ctl (prefix: ctl-).
