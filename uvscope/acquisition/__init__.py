"""Scan planning, background and dark frames, focus, and the scan engine."""
