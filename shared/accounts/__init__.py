"""Accounts: users, their addresses and codes, how each is proved, locked, reached, and what
happened to it."""
