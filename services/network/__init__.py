"""Network: a Neutron v2.0 subset (networks, subnets, ports with fixed IPs and MACs)."""
