# Messages of daemon (prefix: daemon-).
