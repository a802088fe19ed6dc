"""The arrears event platform: envelopes, the event catalogue, event logs, stores and consumers."""
