"""In-memory implementations of the services' repository ports, for service-layer tests."""
