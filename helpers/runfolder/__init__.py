"""The run folder: its records (artifacts), the parameters' checks, ultralytics kept offline."""
