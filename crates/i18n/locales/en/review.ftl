# Messages of review (prefix: review-).
