"""``python -m fxconsole`` runs the CLI."""

import sys

from fxconsole.cli import main

sys.exit(main())
