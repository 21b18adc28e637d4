"""The compute host: libvirt driver, domain XML, image cache, resource reporting."""
