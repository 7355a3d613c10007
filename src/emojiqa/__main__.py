"""``python -m emojiqa`` (also what ``torchrun -m emojiqa`` runs)."""

import sys

from .cli import main

sys.exit(main())
