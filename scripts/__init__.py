"""Build tools that `make build` and `make build-check` run (``python -m scripts.<tool>``)."""
