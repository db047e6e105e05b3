# Messages of ctl-audit (prefix: ctl-audit-).
