"""The event log: envelope, event types, encoding, and the Kafka edges."""
