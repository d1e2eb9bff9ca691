"""``harflow bench``: the seed paper's performance study as a command.

Sub-modules, one concept each: :mod:`scaling` (speedup/efficiency math), :mod:`schema` (results files),
:mod:`fingerprint` (environment), :mod:`flops` (analytic model FLOPs), :mod:`roof` (GEMM / memory roof),
:mod:`worker` (the timed loop run under torchrun/horovodrun), :mod:`launch` (how one configuration is
started), :mod:`train` / :mod:`accuracy` / :mod:`batchsize` (the studies), :mod:`report` (figures + md/html).
"""
