"""bootflow: OpenStack Nova's boot-a-server path as a durable Temporal workflow."""

__version__ = "0.1.0"
