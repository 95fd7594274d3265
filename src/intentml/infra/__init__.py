"""Edges to the outside: embedded services, the database pool, the artifact store."""
