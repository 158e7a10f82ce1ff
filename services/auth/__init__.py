"""Who may do what: API tokens (stored as digests) and the roles they carry."""
