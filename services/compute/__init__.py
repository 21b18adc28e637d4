"""Compute: the Nova v2.1 API subset; it starts BootInstance and DeleteInstance workflows."""
