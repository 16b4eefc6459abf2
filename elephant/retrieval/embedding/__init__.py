"""Embedding core: sentence vectors from ONNX variants of all-MiniLM-L6-v2, or a fake for unit tests.

Serving imports only onnxruntime, tokenizers and numpy (lazily, on first embed); the export in
``elephant.retrieval.embedding.build`` is the one place torch is used, and nothing here imports it.
"""

from elephant.retrieval.embedding.base import Embedder
from elephant.retrieval.embedding.fake import HashEmbedder
from elephant.retrieval.embedding.loader import FAKE_MODEL, load_embedder, load_manifest, model_location
from elephant.retrieval.embedding.manifest import Manifest, Variant, read_manifest
from elephant.retrieval.embedding.onnx_embedder import OnnxEmbedder

__all__ = [
    "FAKE_MODEL",
    "Embedder",
    "HashEmbedder",
    "Manifest",
    "OnnxEmbedder",
    "Variant",
    "load_embedder",
    "load_manifest",
    "model_location",
    "read_manifest",
]
