"""`python -m gradflow` runs the command-line interface."""

import sys

from gradflow.cli import main

sys.exit(main())
