"""The tables, one module per service: Nova's (``compute``) and those of the identity,
image, network and volume services. One schema, one Alembic history (``db/migrations``).
"""
