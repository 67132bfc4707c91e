"""Where the tests find the repository and the shared data beside it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ML_100K = ROOT.parent / "shared" / "data" / "ml-100k"
