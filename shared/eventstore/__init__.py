"""Event store, transactional outbox, processed-event ledger and dead letters, on SQLAlchemy."""
