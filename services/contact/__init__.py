"""Contact: collection cases, strategy, contact attempts, promises to pay, compliance."""
