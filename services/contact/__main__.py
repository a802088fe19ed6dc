"""`python -m services.contact [--port N]` serves the contact service alone."""

import sys

from services.cli import main

main(["serve", "contact", *sys.argv[1:]])
