"""Storage: the catalog database, the vector index and the content-addressed blob store."""
