"""Offline side of mediarec: synthetic data, import, features, training, evaluation, export."""
