"""httpx clients for the OpenStack APIs bootflow talks to, one module a service.

They speak the public API subsets (Keystone v3, Glance v2, Neutron v2.0, Cinder v3, Nova
v2.1), find endpoints in the token's catalog, and so work against a real cloud too.
"""
