"""The documentation stays true to the software.

(a) README.md stays a user's page: at most 12 KiB.
(b) Every relative link in README.md and docs/**/*.md points to an existing file.
(c) Every `harflow ...` command shown in a ```bash block of README.md and docs/*.md (also `-m harflow.train`
    launches) parses with the real parser, `harflow.cli.build_parser()`.
(d) The README's tour runs: each command as a subprocess, in dry-run form where the sub-command has
    `--dry-run`, against a tiny trained run.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
from pathlib import Path

import pytest

from harflow.cli import build_parser
from tests.conftest import run_harflow
from tests.serve.conftest import ADMIN_KEY, Server

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
README_LIMIT = 12_288
LINKED_DOCS = [README, *sorted((REPO / "docs").rglob("*.md"))]
COMMAND_DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SEPARATORS = {"|", "||", "&&", ";", "&"}

# Symbolic placeholders in the docs, replaced before parsing (the parser does not look at files, but the
# commands should be what a user would type).
PLACEHOLDERS = {
    "RUN_DIR": "{tmp}/runs/x",
    "FILE.csv": "{tmp}/recording.csv",
    "csv:PATH": "csv:{tmp}/recordings",
    "NODE0_IP": "127.0.0.1",
    "OWN_IP": "127.0.0.1",
}


# ---------------------------------------------------------------------------------------------- helpers


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _bash_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number of the block's first line, text) of every ```bash block."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        if m.group(1).strip() in ("bash", "sh", "shell", "console"):
            out.append((text.count("\n", 0, m.start(2)) + 1, m.group(2)))
    return out


def _logical_lines(start: int, block: str) -> list[tuple[int, str]]:
    """Join backslash continuations; keep the line number where each command starts."""
    lines, buf, first = [], "", None
    for i, line in enumerate(block.splitlines()):
        if first is None:
            first = start + i
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        lines.append((first, buf + line))
        buf, first = "", None
    if buf:
        lines.append((first, buf))
    return lines


def _segments(tokens: list[str]) -> list[list[str]]:
    """Split a shell command line at pipes and command separators."""
    segs: list[list[str]] = [[]]
    for tok in tokens:
        if tok in SEPARATORS:
            segs.append([])
        else:
            segs[-1].append(tok)
    return [s for s in segs if s]


def _harflow_argv(segment: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """(environment assignments, argv after `harflow`) when this segment runs harflow, else None."""
    env: dict[str, str] = {}
    i = 0
    while i < len(segment) and ENV_ASSIGNMENT.match(segment[i]):
        key, _, value = segment[i].partition("=")
        env[key] = value
        i += 1
    rest = segment[i:]
    if rest and rest[0] == "harflow":
        return env, rest[1:]
    for j in range(len(rest) - 1):  # torchrun ... -m harflow.train ARGS / python -m harflow.train ARGS
        if rest[j] == "-m" and rest[j + 1] == "harflow.train":
            return env, ["train", *rest[j + 2 :]]
        if rest[j] == "-m" and rest[j + 1] == "harflow.cli":
            return env, rest[j + 2 :]
    return None


def _commands(path: Path) -> list[tuple[int, dict[str, str], list[str]]]:
    """Every harflow command line in the ```bash blocks of one file: (line, env, argv)."""
    found = []
    for start, block in _bash_blocks(path):
        for lineno, line in _logical_lines(start, block):
            tokens = shlex.split(line, comments=True)
            for seg in _segments(tokens):
                cmd = _harflow_argv(seg)
                if cmd is not None:
                    found.append((lineno, *cmd))
    return found


def _substitute(argv: list[str], tmp: Path) -> list[str]:
    return [PLACEHOLDERS[a].format(tmp=tmp) if a in PLACEHOLDERS else a for a in argv]


def _subparser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub-)sub-parser that handles argv, following the sub-command names."""
    for word in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        parser = subs[0].choices[word]
    return parser


def _has_dry_run(argv: list[str]) -> bool:
    return "--dry-run" in _subparser(build_parser(), argv)._option_string_actions


def _tour() -> list[tuple[int, dict[str, str], list[str]]]:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## Tour\n(.*?)(?=^## )", text, re.M | re.S)
    assert m, "README.md has no '## Tour' section"
    offset = text.count("\n", 0, m.start(1))
    cmds = []
    for start, block in _bash_blocks(README):
        if offset <= start <= offset + m.group(1).count("\n"):
            for lineno, line in _logical_lines(start, block):
                for seg in _segments(shlex.split(line, comments=True)):
                    cmd = _harflow_argv(seg)
                    if cmd is not None:
                        cmds.append((lineno, *cmd))
    return cmds


ALL_COMMANDS = [(path, *c) for path in COMMAND_DOCS for c in _commands(path)]
TOUR = _tour()


# ---------------------------------------------------------------------------------------------- (a) size


def test_readme_is_at_most_12_kib():
    size = README.stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes; move reference material into docs/"


def test_readme_keeps_the_two_setup_commands():
    blocks = "\n".join(b for _, b in _bash_blocks(README))
    assert re.search(r"^make run\b", blocks, re.M) and re.search(r"^make test\b", blocks, re.M)


# ---------------------------------------------------------------------------------------------- (b) links


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = INLINE_CODE.sub("", text)
    return LINK.findall(text)


@pytest.mark.parametrize("path", LINKED_DOCS, ids=_rel)
def test_relative_links_point_to_existing_files(path):
    broken = []
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # URL, mailto:, or an anchor in the same page
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        if not (path.parent / file_part).exists():
            broken.append(target)
    assert not broken, f"{_rel(path)}: broken relative links {broken}"


def test_docs_are_linked_from_the_readme():
    linked = {(README.parent / t.split("#")[0]).resolve() for t in _links(README)}
    for area in ("data", "training", "serving", "benchmarks", "deployment", "architecture"):
        assert (REPO / "docs" / f"{area}.md").resolve() in linked, f"README.md does not link docs/{area}.md"


# ---------------------------------------------------------------------------------------------- (c) parsing


def test_commands_were_found_for_every_subcommand():
    shown = {argv[0] for *_, argv in ALL_COMMANDS if argv}
    subs = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser_cmds = set(subs[0].choices)
    assert parser_cmds <= shown, f"no example in the docs for: {sorted(parser_cmds - shown)}"


@pytest.mark.parametrize(
    ("path", "lineno", "env", "argv"),
    ALL_COMMANDS,
    ids=[f"{_rel(p)}:{n}:{' '.join(a[:2])}" for p, n, _, a in ALL_COMMANDS],
)
def test_documented_command_parses(path, lineno, env, argv, tmp_path, capsys):
    args = _substitute(argv, tmp_path)
    try:
        ns = build_parser().parse_args(args)
    except SystemExit as e:
        err = capsys.readouterr().err
        pytest.fail(
            f"{_rel(path)}:{lineno}: `harflow {shlex.join(argv)}` does not parse (exit {e.code}):\n{err}"
        )
    assert callable(getattr(ns, "func", None)), f"{_rel(path)}:{lineno}: no sub-command handler"


# ---------------------------------------------------------------------------------------------- (d) the tour


def _recording_csv(path: Path, seconds: float = 12.0, rate: float = 50.0) -> None:
    """A small recording in the bring-your-own-data schema (synthetic samples, unlabeled)."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    rows = ["subject,recording,t,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z,label"]
    for i, s in enumerate(rng.normal(0, 0.3, size=(n, 6))):
        rows.append("1,a,{:.3f},{}".format(i / rate, ",".join(f"{x:.4f}" for x in s)) + ",")
    path.write_text("\n".join(rows) + "\n")


def test_tour_shows_one_command_per_area():
    areas = [argv[0] for *_, argv in TOUR]
    for area in ("train", "evaluate", "predict", "serve", "loadtest", "bench", "deploy"):
        assert area in areas, f"the README tour has no `harflow {area}` command"


@pytest.mark.slow
@pytest.mark.parametrize(("lineno", "env", "argv"), TOUR, ids=[" ".join(a[:2]) for _, _, a in TOUR])
def test_tour_command_runs(lineno, env, argv, tiny_run, tmp_path):
    """Run in a scratch directory where the README's relative paths (runs/lstm6, my-recording.csv, results/)
    exist: the tiny run stands in for the trained model."""
    if argv[0] != "train":  # every other command reads the run the tour trained
        for tok in argv:
            if tok.startswith("runs/") and not (tmp_path / tok).exists():
                shutil.copytree(tiny_run, tmp_path / tok)
    for tok in argv:  # a sensor recording for `predict` (patterns commands in dry-run form simulate theirs)
        if tok.endswith(".csv") and not (tmp_path / tok).exists():
            (tmp_path / tok).parent.mkdir(parents=True, exist_ok=True)
            _recording_csv(tmp_path / tok)
    args = list(argv)
    if _has_dry_run(args):
        args.append("--dry-run")
    env = {"HARFLOW_DATA_DIR": str(tmp_path / "harflow-data"), **env}
    server = None
    if "--url" in args:  # a client of the service (webapp demo): the tour's server, really running
        key = args[args.index("--api-key") + 1] if "--api-key" in args else ADMIN_KEY
        server = Server(tiny_run, tmp_path / "harflow-data", {"HARFLOW_ADMIN_KEYS": key}).start()
        args[args.index("--url") + 1] = server.url
    try:
        # the README pipes the password in (`echo … |`), a segment the tour leaves out
        stdin = "tour password\n" if "--password-stdin" in args else None
        proc = run_harflow(*args, env=env, cwd=tmp_path, timeout=600, input=stdin)
    finally:
        if server is not None:
            server.stop()
    assert proc.returncode == 0
