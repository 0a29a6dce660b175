"""Cargo as a build sees it: its configuration, resolved by cargo's own rules (config.py)."""
