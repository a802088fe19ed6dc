"""`python -m services.audit [--port N]` serves the audit service alone."""

import sys

from services.cli import main

main(["serve", "audit", *sys.argv[1:]])
