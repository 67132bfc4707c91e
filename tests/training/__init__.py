"""Tests of the offline side (training/): datasets, training, evaluation, CLI, local server."""
