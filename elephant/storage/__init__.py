"""Storage: the SQL engine and schema, the versioned store, API keys, export/import and migrations."""
