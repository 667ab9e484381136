"""Search: the gallery, index maintenance, scoring, comparison, multi-probe, grids."""
