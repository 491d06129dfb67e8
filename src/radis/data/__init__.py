"""Data sources for the workflow: readers that turn each source into one normalised record shape."""
