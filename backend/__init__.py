"""Deskboard backend: everything that is not UI. Never imports dash."""
