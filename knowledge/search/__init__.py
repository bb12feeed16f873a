"""Tool search: the catalog, embeddings, lexical ranking and their fusion."""
