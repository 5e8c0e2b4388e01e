"""`python -m bot` is the same as `milwatch`."""

import sys

from bot.cli import main

sys.exit(main())
