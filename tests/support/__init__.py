"""Helpers the tests share (not collected: no test_ prefix)."""
