"""Test fixtures' machinery: a throwaway PostgreSQL, loopback servers, the whole stack."""
