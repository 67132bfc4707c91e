"""Interaction logs in and out of the database: MovieLens 100K, CSV interaction logs and the
synthetic media world, with the validation and load report they share.

May import ``functions`` (settings, store, schemas) and the training core; never the CLI.
"""
