"""Build tools that ``make build`` and ``make build-check`` run.

``python -m scripts.bundle_size`` (from the repository root); ``check_built_function.py`` runs as a
file instead, so that the built bundle on its ``sys.path``, not this repository, provides
``functions``.
"""
