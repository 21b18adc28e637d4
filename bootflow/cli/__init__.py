"""The bootflow command line, in the openstack CLI's shape."""
