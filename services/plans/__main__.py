"""`python -m services.plans [--port N]` serves the plans service alone."""

import sys

from services.cli import main

main(["serve", "plans", *sys.argv[1:]])
