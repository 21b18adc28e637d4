"""The compute API's request bodies as declarative schemas, one module per resource, as
Nova's ``nova/api/openstack/compute/schemas``: a pydantic model per body and microversion
range, each field typed with the parameter types of ``base`` so that a body breaking its
schema is Nova's 400 naming the field."""
