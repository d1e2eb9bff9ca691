"""IS, IV and RA against the values pyActigraphy publishes for its example recordings.

The recordings ship inside pyActigraphy's wheel (``pyActigraphy/tests/data/*.AWD``, GPL, so not copied into
this repository): the test downloads the wheel from PyPI into pytest's cache and reads the files out of the
zip with the small AWD reader below, then runs them through ``Timeline.from_frame`` and ``rhythm_metrics``.
pyActigraphy itself is never imported.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from harflow.patterns.rhythm import rhythm_metrics
from harflow.patterns.timeline import Timeline

VERSION = "1.2.2"
DATA = "pyActigraphy/tests/data/"

# docs/source/pyActigraphy-Batch.ipynb in github.com/ghammad/pyActigraphy (rendered as "How to read raw files
# by batch" on ghammad.github.io/pyActigraphy), cell `raw.IS()` over example_0*.AWD, run 2023-01-30 with the
# default IS(freq='1H', binarize=True, threshold=4): hourly bins anchored at each recording's first epoch.
BATCH_IS = {
    "example_01": 0.527656245354158,
    "example_01_mask": 0.44565929945478583,
    "example_02": 0.5237758757150337,
    "example_03": 0.3720781873681576,
    "example_04": 0.2551624866267735,
    "example_05": 0.6595438549841431,
}

# docs/source/pyActigraphy-Non-parametric-variables.ipynb in the same repository ("Non-parametric variables
# with pyActigraphy"), for test_sample.AWD, run 2018-12 / 2019-06 with the release of the time, whose hourly
# bins pandas anchored at midnight (origin='start_day' here).
NONPARAMETRIC = [
    ({}, "IS", 0.6863558416293868),
    ({}, "IV", 0.4479249905324644),
    ({"freq": "30min"}, "IS", 0.6444097187215905),
    ({"freq": "30min"}, "IV", 0.3524709429601284),
    ({"threshold": 10}, "IS", 0.6699168184920068),
    ({"threshold": 10}, "IV", 0.47423882234616427),
    ({"binarize": False}, "IS", 0.4815388342166626),
    ({"binarize": False}, "IV", 0.719559543155139),
    ({}, "RA", 0.7219666970017463),
    ({"binarize": False}, "RA", 0.9024231377348686),
]

# why `pip download` failed when the registry cannot be reached (as opposed to a broken package or pip)
UNREACHABLE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
)


@pytest.fixture(scope="module")
def wheel(request: pytest.FixtureRequest) -> zipfile.ZipFile:
    folder = Path(request.config.cache.mkdir(f"pyactigraphy-{VERSION}"))
    found = sorted(folder.glob(f"pyActigraphy-{VERSION}-*.whl"))
    if not found:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--retries",
            "1",
        ]
        cmd += [
            "--timeout",
            "30",
            "--disable-pip-version-check",
            "-d",
            str(folder),
            f"pyActigraphy=={VERSION}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        found = sorted(folder.glob(f"pyActigraphy-{VERSION}-*.whl"))
        if done.returncode or not found:
            output = done.stdout + done.stderr
            if any(sign in output for sign in UNREACHABLE):
                pytest.skip(
                    f"PyPI unreachable, cannot download pyActigraphy {VERSION}: {output.strip()[-300:]}"
                )
            pytest.fail(f"pip download of pyActigraphy {VERSION} failed:\n{output}")
    return zipfile.ZipFile(found[0])


# Actiwatch epoch-length codes of the AWD header's 4th line
AWD_EPOCHS = {"1": "15s", "2": "30s", "4": "60s", "8": "2min", "20": "5min"}


def read_awd(text: str) -> pd.DataFrame:
    """An Actiwatch .AWD file as ``time, value``: a 7-line header (name, start date, start time, epoch code,
    age, serial, sex), then one count per line, optionally followed by a marker flag ("M")."""
    lines = text.splitlines()
    start = pd.to_datetime(f"{lines[1].strip()} {lines[2].strip()}", format="%d-%b-%Y %H:%M")
    epoch = pd.Timedelta(AWD_EPOCHS[lines[3].strip()])
    counts = [float(line.split()[0]) for line in lines[7:] if line.strip()]
    return pd.DataFrame({"time": start + epoch * pd.RangeIndex(len(counts)), "value": counts})


def recording(wheel: zipfile.ZipFile, name: str) -> Timeline:
    return Timeline.from_frame(read_awd(wheel.read(f"{DATA}{name}.AWD").decode("latin-1")), source=name)


def test_awd_reader_matches_the_published_durations(wheel):
    # the same notebook, cell raw.duration(): 12 days 18:41 = 18401 one-minute epochs
    frame = read_awd(wheel.read(f"{DATA}example_01.AWD").decode("latin-1"))
    assert len(frame) == 18401 and frame["time"].iloc[0] == pd.Timestamp("1918-01-23 13:58")


@pytest.mark.parametrize(("name", "published"), BATCH_IS.items())
def test_interdaily_stability_of_the_example_recordings(wheel, name, published):
    assert rhythm_metrics(recording(wheel, name))["IS"].iloc[0] == pytest.approx(published, abs=1e-4)


@pytest.mark.parametrize(("options", "metric", "published"), NONPARAMETRIC)
def test_nonparametric_variables_of_test_sample(wheel, options, metric, published):
    got = rhythm_metrics(recording(wheel, "test_sample"), origin="start_day", **options)[metric].iloc[0]
    assert got == pytest.approx(published, abs=1e-4)
