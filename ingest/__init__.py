"""Parsers of real ML-serving artifacts and the `elephant ingest` pipeline (``ingest.pipeline.ingest_paths``)."""
