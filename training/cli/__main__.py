"""``python -m training.cli`` runs the ``mediarec`` command."""

import sys

from training.cli import main

sys.exit(main())
