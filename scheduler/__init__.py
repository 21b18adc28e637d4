"""Host selection as Nova's filter scheduler does it, and atomic resource claims."""
