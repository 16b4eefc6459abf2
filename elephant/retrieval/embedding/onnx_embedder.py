"""The runtime embedder: onnxruntime + tokenizers + numpy, and nothing heavier.

This module is on the serving path, so it must never import torch, transformers or
sentence-transformers (a test checks ``sys.modules`` in a fresh interpreter).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from elephant.errors import ModelError
from elephant.retrieval.embedding.cache import VectorCache

if TYPE_CHECKING:  # imported lazily at run time: `import elephant` stays light
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

REBUILD_HINT = "run `elephant model build --force` to rebuild it"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def release_page_cache(path: Path) -> None:
    """Ask the kernel to drop ``path``'s cached pages that no process maps (best effort; Linux only).

    Used on external-data files before onnxruntime memory-maps them. A page fault on a mapped file
    maps the whole page-cache folio it lands in, and folios left by a sequential read (the sha256
    check) or a fresh write (the build) can be 2 MB: measured here, about thirty texts then
    made most of the 47 MB word-embedding table resident. Evicted first, a fault reads in only the
    kernel's read-around window (128 KB here) of the rows a query gathers. Pages another process
    has mapped (a running server) are left alone, and nothing but the page cache is affected.
    """
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    except OSError:
        pass


# path → ((size, mtime_ns, expected sha256), the sha256 or the ModelError it gave). A file unchanged
# since it was last hashed is not hashed again: degraded search used to re-hash a corrupt model on
# every query (60-70 ms each). Any edit changes the size or the modification time.
_VERIFIED: dict[str, tuple[tuple[int, int, str | None], str | ModelError]] = {}
_VERIFIED_LOCK = threading.Lock()


def verify_file(path: Path, expected_sha256: str | None, what: str = "embedding model") -> str:
    """The sha256 of ``path``; a ModelError naming the file when it is missing, unreadable or differs
    from ``expected_sha256`` (None: not checked). Remembered per file while it is unchanged."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ModelError(f"{what} {path} is missing or unreadable ({exc}); {REBUILD_HINT}",
                         path=str(path)) from exc
    stamp = (info.st_size, info.st_mtime_ns, expected_sha256)
    with _VERIFIED_LOCK:
        known = _VERIFIED.get(str(path))
    if known is not None and known[0] == stamp:
        if isinstance(known[1], ModelError):
            raise known[1]
        return known[1]
    try:
        result: str | ModelError = _hash_checked(path, expected_sha256, what)
    except ModelError as exc:
        result = exc
    with _VERIFIED_LOCK:
        _VERIFIED[str(path)] = (stamp, result)
    if isinstance(result, ModelError):
        raise result
    return result


def _hash_checked(path: Path, expected_sha256: str | None, what: str) -> str:
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"{what} {path} is missing or unreadable ({exc}); {REBUILD_HINT}",
                         path=str(path)) from exc
    if expected_sha256 is not None and actual != expected_sha256:
        raise ModelError(
            f"{what} {path} is corrupt or does not match its manifest "
            f"(sha256 {actual[:16]}…, expected {expected_sha256[:16]}…); {REBUILD_HINT}",
            path=str(path), expected_sha256=expected_sha256, actual_sha256=actual,
        )
    return actual


def default_threads() -> int:
    """The cores this process may run on (the affinity mask, not the host's count, inside containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_tokenizer(path: Path, max_seq_length: int | None) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` with padding off and truncation at ``max_seq_length`` (None: off).

    Trap: the ``tokenizer.json`` shipped with all-MiniLM-L6-v2 pads every input to 128 tokens and
    truncates at 128. Fixed padding made a 17-token query cost 30 ms instead of 5 here, and the 128
    truncation disagrees with sentence-transformers, which truncates at ``max_seq_length`` = 256
    (sentence_bert_config.json). Both settings are therefore overridden explicitly, never inherited.
    """
    from tokenizers import Tokenizer

    path = path / "tokenizer.json" if path.is_dir() else path
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ModelError(f"cannot read tokenizer {path}: {exc}; {REBUILD_HINT}", path=str(path)) from exc
    tokenizer.no_padding()
    if max_seq_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


class OnnxEmbedder:
    """Sentence embeddings from an exported transformer: tokenize, run ONNX, mean-pool, L2-normalise.

    - The onnxruntime session is created on first use (importing Elephant stays cheap) and is shared:
      ``InferenceSession.run`` is thread-safe, and creation is guarded by a lock.
    - Padding is dynamic (to the longest text of each batch) and bulk work is sorted by token length,
      so a batch of short texts never pays for one long text.
    - ``max_batch_size`` 1 is used for dynamically quantized variants whose activation scale is
      computed per tensor: in a batch, a text's vector would depend on its neighbours (see build.py).
    - ``data_files`` maps the model's external-data files (``model-int8.onnx.data``) to their
      expected sha256; they are verified with the model file before the session is created. A
      single-file model (built before external data) has none.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        tokenizer_path: str | os.PathLike[str],
        *,
        expected_sha256: str | None = None,
        data_files: Mapping[str | os.PathLike[str], str] | None = None,
        tokenizer_sha256: str | None = None,
        model_name: str = "all-MiniLM-L6-v2",
        variant: str = "custom",
        dim: int = 384,
        max_seq_length: int = 256,
        threads: int | None = None,
        max_batch_size: int = 32,
        allow_spinning: bool = False,
        query_cache_size: int = 1024,
    ) -> None:
        self.model_path = Path(model_path)
        self.tokenizer_path = Path(tokenizer_path)
        self.expected_sha256 = expected_sha256
        self.data_files = {Path(path): sha256 for path, sha256 in (data_files or {}).items()}
        self.tokenizer_sha256 = tokenizer_sha256
        self.model_name = model_name
        self.variant = variant
        self.dim = dim
        self.max_seq_length = max_seq_length
        self.threads = threads or default_threads()
        self.max_batch_size = max(1, max_batch_size)
        self.allow_spinning = allow_spinning
        self._cache = VectorCache(query_cache_size)
        self._lock = threading.Lock()
        self._session: InferenceSession | None = None
        self._input_names: set[str] = set()
        self._tokenizer: Tokenizer | None = None
        self._counting_tokenizer: Tokenizer | None = None
        self._sha256: str | None = expected_sha256

    # -- identity -------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """``model:variant:sha256-prefix`` of the weights; stored by the vector index."""
        if self._sha256 is None:
            self._sha256 = sha256_file(self.model_path)
        return f"{self.model_name}:{self.variant}:{self._sha256[:16]}"

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.model_path.name!r}, variant={self.variant!r}, threads={self.threads})"

    # -- loading --------------------------------------------------------------------------------

    def _ensure_loaded(self) -> InferenceSession:
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is None:
                # A changed tokenizer gives silently different vectors (cosine 0.09 to the original),
                # so it is checked against the manifest like the weights.
                verify_file(self.tokenizer_path, self.tokenizer_sha256, "embedding tokenizer")
                self._tokenizer = load_tokenizer(self.tokenizer_path, self.max_seq_length)
                self._session = self._create_session()
            return self._session

    def _create_session(self) -> InferenceSession:
        import onnxruntime as ort

        self._sha256 = verify_file(self.model_path, self.expected_sha256)
        # Checked here so that a missing or damaged data file is a ModelError naming it, not an
        # onnxruntime error about an external initializer.
        for path, sha256 in self.data_files.items():
            verify_file(path, sha256, "embedding model data file")
            release_page_cache(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning keeps worker threads busy-waiting between ops. Measured on the 2-core box it is a
        # trade: it lowers single-query latency but steals the cores from every other thread of the
        # process (the HTTP server, the tokenizer, other requests). It is a constructor argument so
        # the benchmark can measure both; the default is chosen in load_embedder from the manifest.
        spin = "1" if self.allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        options.log_severity_level = 3
        try:
            # Loading from the path rather than from bytes in memory: measured here, the session then
            # holds ~30 MB less (152 vs 182 MB for the INT8 variant), which keeps `elephant serve`
            # within its 300 MB budget. It is also what lets onnxruntime memory-map the page-aligned
            # external data (the word-embedding table) instead of copying it: the INT8 session then
            # adds ~32 MB instead of ~77 MB (docs/embedding.md). The files were hashed just above.
            session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"onnxruntime cannot load {self.model_path}: {exc}; {REBUILD_HINT}",
                             path=str(self.model_path)) from exc
        self._input_names = {i.name for i in session.get_inputs()}
        return session

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer without padding or truncation (for counting and splitting text)."""
        if self._counting_tokenizer is None:
            with self._lock:
                if self._counting_tokenizer is None:
                    verify_file(self.tokenizer_path, self.tokenizer_sha256, "embedding tokenizer")
                    self._counting_tokenizer = load_tokenizer(self.tokenizer_path, None)
        return self._counting_tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    # -- embedding ------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._ensure_loaded()
        assert self._tokenizer is not None
        encodings = self._tokenizer.encode_batch(texts)
        # Longest first: the first batch fails fast on memory, and equal lengths pad least.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.max_batch_size):
            batch = order[start:start + self.max_batch_size]
            out[batch] = self._run(session, [encodings[i].ids for i in batch])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        return self._cache.put(text, self.embed([text])[0])

    def _run(self, session: InferenceSession, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = session.run(None, feeds)[0]
        return pool_and_normalise(hidden, mask)


def pool_and_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over real tokens, then L2 norm; the clamps match sentence-transformers (1e-9, 1e-12)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    normalised: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised
