"""Sub-command ``harflow deploy``: render and validate the Kubernetes manifests.

harflow deploy render --overlay dev [--image IMG] [--workers N] [--pytorchjob] [--server-version 1.20]
harflow deploy validate FILE... [--kube-version 1.30]
"""

from __future__ import annotations

import argparse
import sys


def _image_map(s: str) -> tuple[str, str]:
    old, sep, new = s.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"--replace-image expects OLD=NEW, got {s!r}")
    return old, new


def register(sub: argparse._SubParsersAction) -> None:
    from harflow.deploy.render import KUBE_VERSION, OVERLAYS

    d = sub.add_parser("deploy", help="Kubernetes manifests (kustomize overlays cpu, gpu, dev)")
    dsub = d.add_subparsers(dest="deploy_command", required=True)

    r = dsub.add_parser("render", help="print the manifests of an overlay (service, optionally training)")
    r.add_argument("--overlay", choices=OVERLAYS, default="cpu")
    r.add_argument(
        "--image", default=None, help="image for harflow's containers (default localhost/harflow:latest)"
    )
    r.add_argument(
        "--replace-image",
        type=_image_map,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="swap any other image reference, e.g. postgres:16-bookworm=registry/postgres:16",
    )
    r.add_argument(
        "--workers",
        type=int,
        default=None,
        help="include the training Indexed Job with N pods (torchrun --nnodes N)",
    )
    r.add_argument(
        "--training", action="store_true", help="include the training Job with its default pod count"
    )
    r.add_argument(
        "--pytorchjob", action="store_true", help="the training run as a Kubeflow PyTorchJob instead"
    )
    r.add_argument("--training-only", action="store_true", help="leave out the service manifests")
    r.add_argument("--run-id", default=None, help="name of the training Job and its run dir under /runs")
    r.add_argument(
        "--server-version",
        default=None,
        metavar="1.N",
        help="rewrite API versions an older API server lacks (e.g. 1.20: autoscaling/v2beta2)",
    )
    r.add_argument(
        "--validate", action="store_true", help=f"validate offline (Kubernetes {KUBE_VERSION}) first"
    )
    r.set_defaults(func=_cmd_render)

    v = dsub.add_parser(
        "validate", help="validate manifests offline (strict; PyTorchJob by its vendored CRD)"
    )
    v.add_argument("files", nargs="+", help="YAML files ('-' for stdin)")
    v.add_argument("--kube-version", default=KUBE_VERSION)
    v.set_defaults(func=_cmd_validate)


def _validator():
    try:
        from harflow.deploy.validate import validate_docs
    except ImportError as e:  # kubernetes-validate is a dev extra
        raise ValueError(
            f"offline validation needs the dev extras ({e.name} missing): "
            "pip install 'harflow[dev]' or pip install kubernetes-validate"
        ) from None
    return validate_docs


def _cmd_render(a: argparse.Namespace) -> int:
    from harflow.deploy.render import render, to_yaml

    validate_docs = _validator() if a.validate else None

    if a.training_only and not (a.training or a.pytorchjob or a.workers is not None):
        raise ValueError("--training-only needs --training, --workers N or --pytorchjob")
    kw = dict(
        training=a.training,
        pytorchjob=a.pytorchjob,
        workers=a.workers,
        image=a.image,
        images=dict(a.replace_image),
        run_id=a.run_id,
        service=not a.training_only,
    )
    if a.validate:
        problems = validate_docs(render(a.overlay, **kw))  # type: ignore[misc]
        if problems:
            for p in problems:
                print(f"invalid: {p}", file=sys.stderr)
            return 1
    sys.stdout.write(to_yaml(render(a.overlay, server_version=a.server_version, **kw)))
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    validate_docs = _validator()
    from harflow.deploy.validate import load_files

    docs = load_files(a.files)
    problems = validate_docs(docs, a.kube_version)
    for p in problems:
        print(f"invalid: {p}", file=sys.stderr)
    print(
        f"{len(docs) - len({p.resource for p in problems})}/{len(docs)} resources valid "
        f"(Kubernetes {a.kube_version}, strict)"
    )
    return 1 if problems else 0
