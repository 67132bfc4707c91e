"""Code the three functions share, one room per concern.

- ``settings``, ``clock``, ``caches``, ``vocabulary``: the basics; they import nothing else from
  ``functions`` (but settings registers its cache with ``caches``).
- ``store/``: the database, its migrations, the named SQL of ``sql/``, snapshots and tombstones.
- ``http/``: the app factory, the door (API keys, scopes), errors, schemas, the Lambda entry point.
- ``serving/``: the model bundle and runtime, features, popularity, the snapshot refresh.

Which room may import which is written in ``tests/contracts/test_architecture.py``, which fails on a
violation. Code used by one function only lives in that function's folder.
"""
