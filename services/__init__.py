"""The built-in OpenStack services (identity, image, network, volume) and the compute API."""
