"""``python -m emojiqa.cli``."""

import sys

from . import main

sys.exit(main())
