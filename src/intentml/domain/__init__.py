"""Pure domain logic: no I/O, unit-tested on its own."""
