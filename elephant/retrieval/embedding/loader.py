"""Pick the embedder the settings ask for: a built ONNX variant, a model directory, or the fake."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from elephant.errors import ModelError
from elephant.retrieval.embedding.base import Embedder
from elephant.retrieval.embedding.manifest import MANIFEST_NAME, Manifest, read_manifest

if TYPE_CHECKING:
    from elephant.settings import Settings

FAKE_MODEL = "fake"


def model_location(settings: Settings) -> tuple[Path, str | None]:
    """The directory holding manifest.json and the variant name asked for (None: its default).

    ``settings.model`` is a variant name or alias ("int8", "fp32", …) looked up in
    ``settings.resolved_model_dir``, or a path to a directory holding a manifest.
    """
    requested = settings.model.strip()
    candidate = Path(requested).expanduser()
    if ("/" in requested or requested.startswith(".")) or (candidate.is_dir() and (candidate / MANIFEST_NAME).is_file()):
        if not (candidate / MANIFEST_NAME).is_file():
            raise ModelError(f"ELEPHANT_MODEL={requested!r} is not a directory holding {MANIFEST_NAME}; "
                             "run `elephant model build` with ELEPHANT_MODEL_DIR pointing there",
                             model=requested)
        return candidate.resolve(), None
    return settings.resolved_model_dir, requested


def load_manifest(settings: Settings) -> Manifest:
    directory, _ = model_location(settings)
    return read_manifest(directory)


def load_embedder(settings: Settings) -> Embedder:
    """The embedder for ``settings``; the ONNX session itself is created lazily on first use.

    Raises ModelError (with the command that fixes it) when the model is not built or the
    variant is unknown; a corrupt model or data file is detected by its sha256 when the session loads.
    """
    if settings.model.strip().lower() == FAKE_MODEL:
        from elephant.retrieval.embedding.fake import HashEmbedder

        return HashEmbedder()
    from elephant.retrieval.embedding.onnx_embedder import OnnxEmbedder

    directory, variant_name = model_location(settings)
    manifest = read_manifest(directory)
    variant = manifest.resolve(variant_name)
    return OnnxEmbedder(
        variant.path,
        manifest.tokenizer_path,
        expected_sha256=variant.sha256,
        data_files={d.path: d.sha256 for d in variant.data_files},
        tokenizer_sha256=manifest.data.get("tokenizer", {}).get("sha256"),
        model_name=manifest.model_name,
        variant=variant.name,
        dim=int(manifest.data.get("dim", 384)),
        max_seq_length=int(manifest.data.get("max_seq_length", 256)),
        threads=settings.embed_threads,
        max_batch_size=variant.max_batch_size,
        allow_spinning=variant.allow_spinning,
    )


def verify_model_files(settings: Settings) -> int:
    """Hash every file the manifest names (each variant, its data files, the tokenizer) against its
    sha256; the number checked (0 for the fake embedder), or a ModelError naming the first bad file."""
    if settings.model.strip().lower() == FAKE_MODEL:
        return 0
    from elephant.retrieval.embedding.onnx_embedder import verify_file

    manifest = load_manifest(settings)
    checked = 0
    for info in manifest.variants.values():
        verify_file(manifest.directory / info["file"], info.get("sha256"))
        checked += 1
        for data in info.get("data_files", []):
            verify_file(manifest.directory / data["file"], data.get("sha256"), "embedding model data file")
            checked += 1
    verify_file(manifest.tokenizer_path, manifest.data.get("tokenizer", {}).get("sha256"), "embedding tokenizer")
    return checked + 1
