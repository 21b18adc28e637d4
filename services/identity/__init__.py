"""Identity: a Keystone v3 subset (password tokens, validation, revocation, catalog)."""
