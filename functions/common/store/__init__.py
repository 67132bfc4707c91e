"""Storage: the SQLite connection, its migrations and write retries (``db``), the named queries of
``sql/*.sql`` (``sql``), WAL checkpoints (``checkpoints``), the versioned snapshot tables
(``snapshots``) and the deleted-user tombstones (``tombstones``).

May import the basics (``settings``, ``clock``, ``caches``) and nothing else from ``functions``: no
HTTP, no serving logic. SQL text lives in ``sql/``, never here.
"""
