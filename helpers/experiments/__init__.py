"""Builds and what they are compared with: the INT8 sweep, selection, routes, comparisons, peers."""
