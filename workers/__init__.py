"""Worker processes: the control worker and one compute worker per host."""
