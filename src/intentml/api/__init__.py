"""The REST API: one app factory, thin controllers, one error format."""
