"""The ordered phases from spec to source: read -> parse -> check -> render.

``spec`` arguments everywhere in the API may be a path to a ``.snn``/``.yaml`` file,
spec text, or an already parsed :class:`~snndsl.syntax.ast.Module`.  This module never imports
torch: ``snndsl generate`` runs without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from snndsl import ir
from snndsl.backends import MODES, render
from snndsl.semantics.checker import check_mode, check_module
from snndsl.syntax import ast
from snndsl.syntax.parser import parse_text, read_source

YAML_SUFFIXES = (".yaml", ".yml")


def _looks_like_path(spec: str) -> bool:
    return (
        "\n" not in spec
        and "{" not in spec
        and len(spec) < 4096
        and (spec.endswith((".snn", *YAML_SUFFIXES)) or os.path.exists(spec))
    )


def parse_file(path: str | os.PathLike[str]) -> ast.Module:
    source = read_source(path)
    if str(path).endswith(YAML_SUFFIXES):
        from snndsl.syntax.yaml_io import load_yaml

        return load_yaml(source.text, source.path)
    return parse_text(source.text, source.path)


def parse(spec, path: str | None = None) -> ast.Module:
    """Parse a spec given as a path, as text, or return an already parsed module."""
    if isinstance(spec, ast.Module):
        return spec
    if isinstance(spec, os.PathLike):
        return parse_file(spec)
    if not isinstance(spec, str):
        raise TypeError(
            f"a spec is a path, text or snndsl.syntax.ast.Module, not {type(spec).__name__}"
        )
    if path is None and _looks_like_path(spec):
        return parse_file(spec)
    name = path or "<spec>"
    if name.endswith(YAML_SUFFIXES):
        from snndsl.syntax.yaml_io import load_yaml

        return load_yaml(spec, name)
    return parse_text(spec, name)


def resolve(
    spec, network: str | None = None, params: Mapping[str, object] | None = None
) -> ir.NetworkIR:
    """Parse and check a spec; the resolved IR of one network."""
    return check_module(parse(spec), network, params)


def build(
    spec,
    mode: str,
    network: str | None = None,
    params: Mapping[str, object] | None = None,
    backend: str = "eager",
) -> tuple[ir.NetworkIR, str]:
    """All phases for one form: the resolved IR and the generated source."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    module = parse(spec)
    net = check_module(module, network, params)
    check_mode(net, mode, module.source)
    return net, render(net, mode, backend)


def generate(
    spec,
    mode: str = "multi",
    network: str | None = None,
    params: Mapping[str, object] | None = None,
    backend: str = "eager",
) -> str:
    """Python source of the ``mode`` form ('single' or 'multi') of the spec's network;
    ``backend='fused'`` gives multi-step neuron layers a derived backward pass."""
    return build(spec, mode, network, params, backend)[1]
