# Messages of ctl-card (prefix: ctl-card-).
