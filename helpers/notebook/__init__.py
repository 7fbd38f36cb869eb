"""What the notebooks show: plots, captions, tables, try-this boxes, the run report, wording."""
