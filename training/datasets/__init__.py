"""Interaction logs in and out of the database: MovieLens 100K, CSV interaction logs and the
synthetic media world, with the validation and load report they share.

- ``movielens``: a MovieLens 100K folder; ``csv_log`` (with ``csv_records``): any CSV log.
- ``report``: :class:`~training.datasets.report.ImportReport` and ``MalformedInputError``;
  ``validation``: the row checks; ``bulk_write``: the writes the loaders share.
- ``synthetic/``: the synthetic world (its shape, its generation, writing it).

Both importers read the whole input and check every row before they write anything, then write
everything in ONE transaction, so a file is either loaded or not: never half. A malformed row
(wrong number of fields, an empty or oversized id, a timestamp or rating that does not parse, an
unknown event type or platform) stops the import with ``MalformedInputError``, which lists the
first problems as ``line N: reason`` (1-based lines of the file). ``skip_invalid=True``
(``--skip-invalid``) loads the valid rows instead and returns the problems in
``ImportReport.rejected``. Event ids are derived from the data and events are inserted with the
ingest function's own query, which ignores an id it already holds: importing the same data twice
stores it once and reports the rest as duplicates.

May import ``functions`` (settings, store, schemas) and the training core; never the CLI.
Modules the CLI imports import their heavy dependencies (settings, database, tqdm) where they
are used.
"""
