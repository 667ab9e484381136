"""Victim identification toolkit: media sets, known-image elimination, face clustering."""
