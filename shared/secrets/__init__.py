"""Secrets kept: one-time codes stored as HMACs and values sealed with a key."""
