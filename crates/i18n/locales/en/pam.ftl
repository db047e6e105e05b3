# Messages of pam (prefix: pam-).
