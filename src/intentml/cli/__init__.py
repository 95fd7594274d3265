"""The `intentml` command line: start the platform, or one of its processes."""
