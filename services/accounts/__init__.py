"""Accounts: bills, payments, day close and overdue status; applies agreed plans."""
