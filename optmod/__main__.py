"""`python -m optmod ...`: the same as the `optmod` command."""

import sys

from optmod.cli import main

sys.exit(main())
