"""The four arrears services; each imports only `shared`, never another service."""
