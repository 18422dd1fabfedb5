"""The snndsl command line (generate, check, trace, convert, fmt, summary, graph, export,
import, coverage, explain).

Exit status: 0 on success, 1 on spec errors or a failed check, 2 on usage errors.
Spec errors print as ``file:line:col: error[Exxx]: message`` with the source line, a
caret and a hint.  ``generate`` never imports torch, and no command writes a partial
output file or touches an existing one when it fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from snndsl import __version__
from snndsl.api import YAML_SUFFIXES, build, parse
from snndsl.backends import BACKENDS
from snndsl.diagnostics import SpecError
from snndsl.files import write_text


def _params(pairs: Sequence[str] | None) -> dict[str, object]:
    """``--set name=value`` pairs, values parsed as spec constants."""
    from snndsl.diagnostics import Reporter, SourceFile
    from snndsl.semantics.evaluate import Evaluator
    from snndsl.semantics.functions import CONSTANTS
    from snndsl.syntax import ast
    from snndsl.syntax.parser import parse_expression

    out: dict[str, object] = {}
    for pair in pairs or ():
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise _Usage(f"--set expects name=value, got {pair!r}")
        source = SourceFile(f"--set {name}", text)
        expr = parse_expression(text, source, 1, 1)
        if isinstance(expr, ast.Name) and expr.id not in CONSTANTS:
            out[name.strip()] = expr.id  # a bare word is a string: --set cnf=IAND
            continue
        out[name.strip()] = Evaluator({}, Reporter(source)).eval(expr)
    return out


class _Usage(Exception):
    pass


_INT64_MAX = 2**63 - 1


def _int_from(low: int, high: int = _INT64_MAX):
    """An argparse type: an int in [low, high] (int64 at most), else a usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text}")
        return value

    return parse


def _positive_float(text: str) -> float:
    """An argparse type: a finite float greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0.0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def _cmd_generate(args) -> int:
    if args.check and not args.output:
        print("snndsl generate: --check needs -o FILE (the file to compare)", file=sys.stderr)
        return 2
    net, source = build(args.spec, args.mode, args.network, _params(args.set), args.backend)
    for w in net.warnings:
        print(w.render(), file=sys.stderr)
    if args.check:
        from snndsl.testing import generated_diff

        diff = generated_diff(source, args.output)
        if diff is None:
            return 0
        sys.stdout.write(diff)
        print(f"snndsl generate: {args.output} is out of date", file=sys.stderr)
        return 1
    if args.output:
        write_text(args.output, source)
    else:
        sys.stdout.write(source)
    return 0


def _cmd_check(args) -> int:
    from snndsl.console import Progress, quiet_third_party

    try:
        with Progress(f"snndsl check {args.spec}") as progress, quiet_third_party():
            progress.stage("loading torch")
            from snndsl.oracle.crosscheck import run_check

            report = run_check(
                args.spec,
                args.network,
                _params(args.set),
                steps=args.steps,
                batch=args.batch,
                seed=args.seed,
                scale=args.input_scale,
                against=args.against,
                backend=args.backend,
                calibrate=args.calibrate,
                progress=progress.stage,
            )
    except RuntimeError as err:
        print(f"snndsl check: {err}", file=sys.stderr)
        return 1
    print(report.render())
    return 0 if report.ok else 1


TRACE_SUFFIXES = (".png", ".svg")


def _cmd_trace(args) -> int:
    from snndsl.exports.trace import MissingMatplotlib, require_matplotlib

    suffix = str(args.output).lower()
    if not suffix.endswith(TRACE_SUFFIXES):
        raise _Usage(f"-o must end in {', '.join(TRACE_SUFFIXES)}, got {args.output!r}")
    try:
        require_matplotlib()
    except MissingMatplotlib as err:
        print(f"snndsl trace: {err}", file=sys.stderr)
        return 1
    from snndsl.console import quiet_third_party
    from snndsl.exports.trace import render, run_trace
    from snndsl.files import write_bytes

    try:
        with quiet_third_party():
            trace = run_trace(
                args.spec,
                args.network,
                _params(args.set),
                steps=args.steps,
                batch=args.batch,
                seed=args.seed,
                scale=args.input_scale,
                calibrate=args.calibrate,
                weights=None if args.weights is None else _load_weights(args.weights),
                inputs=None if args.input is None else _load_inputs(args.input),
            )
    except RuntimeError as err:
        print(f"snndsl trace: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(trace.table())
    write_bytes(args.output, render(trace, "svg" if suffix.endswith(".svg") else "png"))
    print(f"wrote {args.output}")
    return 0


def _cmd_convert(args) -> int:
    from snndsl.syntax.formatter import format_module
    from snndsl.syntax.yaml_io import dump_yaml

    if not str(args.output).endswith((*YAML_SUFFIXES, ".snn")):
        raise _Usage(f"convert writes .snn or {'/'.join(YAML_SUFFIXES)}, not {args.output!r}")
    module = parse(args.spec)
    to_yaml = str(args.output).endswith(YAML_SUFFIXES)
    text = dump_yaml(module) if to_yaml else format_module(module)
    write_text(args.output, text)
    return 0


def _cmd_fmt(args) -> int:
    from snndsl.syntax.formatter import format_module
    from snndsl.syntax.parser import read_source

    original = read_source(args.spec).text
    text = format_module(parse(args.spec))
    if str(args.spec).endswith(YAML_SUFFIXES):
        from snndsl.syntax.yaml_io import dump_yaml

        text = dump_yaml(parse(args.spec))
    if args.check:
        if text != original:
            print(f"{args.spec}: would be reformatted", file=sys.stderr)
            return 1
        return 0
    if args.in_place:
        if text != original:
            write_text(args.spec, text)
        return 0
    sys.stdout.write(text)
    return 0


def _cmd_summary(args) -> int:
    from snndsl.exports.summary import summary

    sys.stdout.write(summary(args.spec, args.network, _params(args.set)).render())
    return 0


GRAPH_SUFFIXES = (".dot", ".gv", ".svg")


def _cmd_graph(args) -> int:
    from snndsl.exports.graph import graph, to_dot, to_svg

    if args.output and not str(args.output).endswith(GRAPH_SUFFIXES):
        raise _Usage(f"-o must end in {', '.join(GRAPH_SUFFIXES)}, got {args.output!r}")
    g = graph(args.spec, args.network, _params(args.set))
    text = to_svg(g) if str(args.output).endswith(".svg") else to_dot(g)
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_coverage(args) -> int:
    from snndsl.exports.coverage import coverage_table

    sys.stdout.write(coverage_table())
    return 0


def _cmd_explain(args) -> int:
    from snndsl.explain import explain, markdown

    if args.markdown:
        print(markdown())
        return 0
    if not args.code:
        print("snndsl explain: give a code (e.g. E0301) or --markdown", file=sys.stderr)
        return 2
    text = explain(args.code)
    if text is None:
        print(f"snndsl explain: unknown code {args.code}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _torch_load(path: str, what: str):
    """What torch.save wrote to ``path``, tensors only (weights_only=True); a file torch
    cannot read is a _Failure naming ``what`` was expected."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as err:  # torch raises many kinds for a file it cannot read
        raise _Failure(f"cannot read {what} from {path}: {type(err).__name__}: {err}") from None


def _load_weights(path: str):
    """A state_dict saved with torch.save."""
    weights = _torch_load(path, "weights")
    if hasattr(weights, "state_dict"):
        weights = weights.state_dict()
    if not isinstance(weights, dict):
        raise _Failure(f"{path} holds a {type(weights).__name__}, not a state_dict")
    return weights


def _load_inputs(path: str):
    """Input tensors saved with torch.save: one tensor, a list/tuple of them, or a dict by
    input name."""
    import torch

    inputs = _torch_load(path, "inputs")
    if not isinstance(inputs, (torch.Tensor, list, tuple, dict)):
        raise _Failure(f"{path} holds a {type(inputs).__name__}, not tensors")
    return inputs


class _Failure(Exception):
    pass


def _cmd_export(args) -> int:
    if args.to == "onnx":
        return _export_onnx(args)
    from snndsl.exports.nir import nir_bytes, to_nir

    if args.dt <= 0:
        raise _Usage("--dt must be a positive number of seconds")
    weights = _load_weights(args.weights)
    graph = to_nir(
        args.spec,
        weights,
        dt=args.dt,
        fold_batchnorm=args.fold_batchnorm,
        network=args.network,
        params=_params(args.set),
    )
    from snndsl.files import write_bytes

    write_bytes(args.output, nir_bytes(graph))
    return 0


def _load_module_or_fail(args, weights):
    """The generated module of ``args.mode`` with ``weights``; _Failure when they do
    not fit (spec errors pass through as SpecError)."""
    from snndsl.exports.onnx import load_module

    try:
        return load_module(args.spec, weights, args.mode, args.network, _params(args.set))
    except SpecError:
        raise
    except ValueError as err:
        raise _Failure(str(err)) from None


def _export_onnx(args) -> int:
    from snndsl.exports.onnx import onnx_bytes
    from snndsl.files import write_bytes

    if args.batch < 1 or args.steps < 1:
        raise _Usage("--batch and --steps must be at least 1")
    weights = _load_weights(args.weights)
    model = _load_module_or_fail(args, weights)
    try:
        data = onnx_bytes(model, args.mode, batch_size=args.batch, steps=args.steps)
    except ValueError as err:  # state the exported step cannot carry
        raise _Failure(f"cannot export to ONNX: {err}") from None
    except ImportError as err:
        raise _Failure(f"ONNX export needs onnx and onnxscript: {err}") from None
    write_bytes(args.output, data)
    return 0


def _cmd_import(args) -> int:
    import io

    from snndsl.importers.nir import from_nir

    if args.dt <= 0:
        raise _Usage("--dt must be a positive number of seconds")
    imported = from_nir(args.nir, dt=args.dt, network=args.network_name)
    import torch

    buf = io.BytesIO()
    torch.save(imported.state_dict(), buf)
    from snndsl.files import write_bytes

    write_text(args.output, imported.spec)
    write_bytes(args.weights_out, buf.getvalue())
    return 0


def build_parser() -> argparse.ArgumentParser:
    summary = " ".join(__doc__.split("\n\n")[0].split())  # plain text, every command
    p = argparse.ArgumentParser(prog="snndsl", description=summary)
    p.add_argument("--version", action="version", version=f"snndsl {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp):
        sp.add_argument("spec", help="a .snn or .yaml spec file")
        sp.add_argument("--network", help="which network, when the spec has several")
        sp.add_argument(
            "--set",
            action="append",
            metavar="NAME=VALUE",
            help="override a network parameter (repeatable)",
        )

    g = sub.add_parser("generate", help="print or write the generated PyTorch module")
    common(g)
    g.add_argument(
        "--mode",
        choices=("single", "multi"),
        default="multi",
        help="single-step ([N, *] per call) or multi-step ([T, N, *]); default multi",
    )
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        default="eager",
        help="multi-step neuron layers as loops autograd records (eager), one "
        "autograd.Function per layer with a backward derived from its equations (fused), "
        "fused with each time step compiled by torch.compile (compile; single-step: "
        "forward under torch.compile), or generated Triton kernels for the forward and "
        "derived backward time loops (triton; multi-step, needs triton: on CPU set "
        "TRITON_INTERPRET=1)",
    )
    g.add_argument("-o", "--output", help="write here (atomically) instead of stdout")
    g.add_argument(
        "--check",
        action="store_true",
        help="write nothing: exit 0 when the -o file is exactly what would be generated, "
        "1 with a unified diff when not (for CI)",
    )
    g.set_defaults(func=_cmd_generate)

    c = sub.add_parser("check", help="cross-check both forms (and SpikingJelly) on one input")
    common(c)
    c.add_argument(
        "--steps",
        type=_int_from(1),
        default=None,
        help="time steps T (default 8, or the T of a PSN)",
    )
    c.add_argument("--batch", type=_int_from(1), default=4, help="batch size N (default 4)")
    c.add_argument(
        "--seed", type=_int_from(0), default=1, help="seed for weights and input (default 1)"
    )
    c.add_argument(
        "--input-scale",
        type=_positive_float,
        default=4.0,
        help="input is uniform in [0, scale) (default 4)",
    )
    c.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="keep the initial weights (by default each neuron layer's input weight is "
        "scaled until the layer fires 5-50%% of the time)",
    )
    c.add_argument(
        "--against",
        choices=("auto", "spikingjelly", "snntorch", "norse", "none"),
        default="auto",
        help="compare with SpikingJelly 2.0.0 and, for library neurons, snnTorch 1.0.0 "
        "and Norse 1.1.0: each when installed (auto), only the one named (required), "
        "or none",
    )
    c.add_argument(
        "--backend",
        choices=BACKENDS,
        default="eager",
        help="check the multi-step form generated with this backend (default eager); "
        "compile builds its kernels on first use, seconds each on a small CPU; triton "
        "on CPU needs TRITON_INTERPRET=1 in the environment",
    )
    c.set_defaults(func=_cmd_check)

    t = sub.add_parser(
        "trace",
        help="run the network on the check's input and draw spike rasters, membrane traces "
        'and firing rates (PNG or SVG; needs matplotlib: pip install "snndsl[plot]")',
    )
    common(t)
    t.add_argument("-o", "--output", required=True, help="RASTER.png or RASTER.svg")
    t.add_argument(
        "--steps", type=_int_from(1), default=None, help="time steps T (default 8, or a PSN's T)"
    )
    t.add_argument("--batch", type=_int_from(1), default=4, help="batch size N (default 4)")
    t.add_argument(
        "--seed", type=_int_from(0), default=1, help="seed for weights and input (default 1)"
    )
    t.add_argument(
        "--input-scale",
        type=_positive_float,
        default=4.0,
        help="input is uniform in [0, scale) (default 4)",
    )
    t.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="keep the initial weights (by default calibrated as snndsl check does)",
    )
    t.add_argument(
        "--weights",
        default=None,
        help="a state_dict saved with torch.save (loaded strictly; no calibration)",
    )
    t.add_argument(
        "--input",
        default=None,
        help="the input instead of random: a [T, N, ...] tensor saved with torch.save (a "
        "list of them, or a dict by input name, for several inputs); sets T and N",
    )
    t.set_defaults(func=_cmd_trace)

    v = sub.add_parser("convert", help="convert between .snn text and YAML (by -o's suffix)")
    v.add_argument("spec")
    v.add_argument("-o", "--output", required=True, help="OUT.yaml or OUT.snn")
    v.set_defaults(func=_cmd_convert)

    f = sub.add_parser("fmt", help="print the spec in canonical form")
    f.add_argument("spec")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if the file is not in canonical form"
    )
    mode.add_argument("-i", "--in-place", action="store_true", help="rewrite the file")
    f.set_defaults(func=_cmd_fmt)

    s = sub.add_parser(
        "summary", help="print each node's output shape, parameters, state and SynOps"
    )
    common(s)
    s.set_defaults(func=_cmd_summary)

    gr = sub.add_parser("graph", help="draw the network as DOT or SVG (no Graphviz needed)")
    common(gr)
    gr.add_argument(
        "-o", "--output", help="write NET.dot or NET.svg (atomically); default: DOT to stdout"
    )
    gr.set_defaults(func=_cmd_graph)

    ex = sub.add_parser("export", help="write the network and its weights as NIR or ONNX")
    common(ex)
    ex.add_argument("--weights", required=True, help="the state_dict (torch.save) to export")
    ex.add_argument("--to", choices=("nir", "onnx"), default="nir", help="the format (nir, onnx)")
    ex.add_argument(
        "--mode",
        choices=("single", "multi"),
        default="single",
        help="onnx: one step with the state as inputs and outputs (single, default), "
        "or the multi-step form on [T, N, *] from the initial state",
    )
    ex.add_argument("--batch", type=int, default=1, help="onnx: the batch size (default 1)")
    ex.add_argument(
        "--steps", type=int, default=8, help="onnx --mode multi: the time steps T (default 8)"
    )
    ex.add_argument(
        "--dt",
        type=float,
        default=1e-4,
        help="time step in seconds (default 1e-4, as SpikingJelly)",
    )
    ex.add_argument(
        "--fold-batchnorm",
        action="store_true",
        help="fold each BatchNorm into the Conv/Linear before it (inference)",
    )
    ex.add_argument(
        "-o", "--output", required=True, help="NET.nir or NET.onnx (written atomically)"
    )
    ex.set_defaults(func=_cmd_export)

    im = sub.add_parser("import", help="read a NIR file as a spec and a state_dict")
    im.add_argument("nir", help="a NIR (HDF5) file")
    im.add_argument("-o", "--output", required=True, help="NET.snn to write")
    im.add_argument("--weights-out", required=True, help="NET.pt: the state_dict to write")
    im.add_argument(
        "--dt",
        type=float,
        default=1e-4,
        help="time step in seconds (default 1e-4, as SpikingJelly)",
    )
    im.add_argument("--network-name", help="the network's name (default: from the file name)")
    im.set_defaults(func=_cmd_import)

    cov = sub.add_parser(
        "coverage", help="print the table of ops, forms and SpikingJelly verification"
    )
    cov.set_defaults(func=_cmd_coverage)

    ex = sub.add_parser("explain", help="say what a diagnostic code means, with examples")
    ex.add_argument("code", nargs="?", help="a code such as E0301")
    ex.add_argument("--markdown", action="store_true", help="print every code (docs/errors.md)")
    ex.set_defaults(func=_cmd_explain)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpecError as err:
        print(err.render(), file=sys.stderr)
        return 1
    except _Usage as err:
        parser.error(str(err))
    except _Failure as err:
        print(f"snndsl: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"snndsl: {err}", file=sys.stderr)
        return 1
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
