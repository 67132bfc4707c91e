"""The ingest function: events, catalog items, users, and user deletion."""
