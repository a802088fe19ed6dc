"""`python -m services.accounts [--port N]` serves the accounts service alone."""

import sys

from services.cli import main

main(["serve", "accounts", *sys.argv[1:]])
