"""What every built-in service shares: app factory, errors, auth, database access."""
