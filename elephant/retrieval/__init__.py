"""Retrieval: the embedder, the vector backends, the lexical index, the outbox indexer and hybrid search."""
