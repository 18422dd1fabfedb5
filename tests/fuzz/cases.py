"""Fuzz cases for tests/fuzz/run_fuzz.py: mutants of the shipped specs and generated specs.

Every case is a function of ``(seed, index)`` alone, so a finding can be replayed from
its number.  Four kinds, in turn:

* ``mutate-text``: a shipped ``.snn`` spec (or the prelude's neurons, renamed into user
  definitions) with 1 to 6 character-, token- or line-level mutations;
* ``mutate-yaml``: the YAML form of a shipped spec (``specs/mlp.yaml`` and the others
  converted by ``dump_yaml``) mutated the same way, plus YAML-specific tokens;
* ``grammar``: a spec generated from the grammar's constructs (networks, blocks,
  ``repeat``, ``defaults``, merges, ``delay``, user neurons, parallel neurons and
  surrogates with random equations) with random, often hostile, values;
* ``grammar-mutant``: a generated spec, then mutated.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

KINDS = ("mutate-text", "mutate-yaml", "grammar", "grammar-mutant")


@dataclass(frozen=True)
class Case:
    index: int
    kind: str
    text: str
    path: str  # fuzz.snn or fuzz.yaml: which front end reads it


# --------------------------------------------------------------------------- corpus


@cache
def text_corpus() -> tuple[str, ...]:
    specs = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").glob("*.snn"))]
    prelude = (ROOT / "snndsl" / "prelude" / "builtin.snn").read_text(encoding="utf-8")
    renamed = re.sub(r"^(parallel neuron|neuron|surrogate) ", r"\1 My", prelude, flags=re.M)
    renamed = renamed.replace("= Sigmoid()", "= MySigmoid()").replace("= ATan()", "= MyATan()")
    renamed += (
        "\nnetwork N {\n    input x: [4]\n    a = x -> MyKLIF(scale_reset=true) -> MyIzhikevich\n"
        '    b = a -> MyLIAF(act="tanh") -> MyCUBALIF -> MyEIF -> MyQIF\n'
        "    output y = b -> MySlidingPSN(3) -> MyMaskedPSN(2, 4, lambda_init=1.0)\n}\n"
    )
    return (*specs, renamed)


@cache
def yaml_corpus() -> tuple[str, ...]:
    import snndsl
    from snndsl.syntax.yaml_io import dump_yaml

    out = [(ROOT / "specs" / "mlp.yaml").read_text(encoding="utf-8")]
    for text in text_corpus():
        out.append(dump_yaml(snndsl.parse(text, path="corpus.snn")))
    return tuple(out)


# --------------------------------------------------------------------------- mutation

TOKENS = (
    *("network", "neuron", "surrogate", "parallel", "block", "import", "defaults", "repeat"),
    *("input", "output", "let", "state", "charge", "fire", "reset", "require", "if", "else"),
    *("primitive", "gradient", "param", "buffer", "steps", "window", "update", "emit"),
    *("true", "false", "none", "not", "and", "or", "x", "y", "v", "h", "spike", "delay"),
    *("Linear", "Conv2d", "LIF", "IF", "PSN", "SlidingPSN", "Add", "Cat", "SEW", "Flatten"),
    *("Sigmoid", "ATan", "sum", "exp", "where", "pi", "index", "band", "sliding", "_x"),
    *("0", "1", "-1", "2", "3", "8", "1000000000", "9223372036854775807", "99999999999"),
    *("0.0", "1e308", "1e-320", "2.5", "1e999", "8 ** 8 ** 8", "2 ** 63", "(1e308 * 10)"),
    *("{", "}", "(", ")", "[", "]", ",", ":", "=", "->", "-=", "??", "**", "+", "-", "*"),
    *("/", "@", ">=", "<=", "==", "!=", "<", ">", "?", '"', "#", "\\", "\n", " ", "\t"),
    *('"x.snn"', '"/dev/zero"', '"../specs/seed.snn"', '"ADD"', '"relu"', "\x00", "\ufeff"),
    *("\u00e9", "\u2028", "\r", "\x0c", "repeat(100000, IF)", "[0]", "[-4]", "[1, 0, 3]"),
)
YAML_TOKENS = (
    *("- ", ": ", "\n", "\n  ", "\n    ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a"),
    *("!!int ", "!!str ", "!!float ", "!!binary ", "!!python/object ", "? ", "|\n  ", "---\n"),
    *("op: ", "args: ", "kwargs: ", "label: ", "chain: ", "body: ", "params: ", "shape: "),
    *(".inf", ".nan", "null", "~", "yes", "1e999", "-1", "0", "'x -> '", '"4 +"', "\x00"),
)
MUTATIONS = (
    "delete",
    "insert-char",
    "replace-char",
    "insert-token",
    "replace-token",
    "delete-token",
    "swap-lines",
    "duplicate-line",
    "delete-line",
    "duplicate-span",
    "change-number",
)


def _number(rng: random.Random) -> str:
    return rng.choice(
        (
            str(rng.randint(-3, 40)),
            str(rng.randint(0, 10 ** rng.randint(1, 30))),
            f"{rng.uniform(-5, 5):.3g}",
            f"1e{rng.randint(-400, 400)}",
            "0",
            "-0.0",
        )
    )


def mutate(text: str, rng: random.Random, tokens: tuple[str, ...]) -> str:
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(MUTATIONS)
        pos = rng.randint(0, len(text))
        if kind == "delete":
            text = text[:pos] + text[pos + rng.randint(1, 12) :]
        elif kind == "insert-char":
            text = (
                text[:pos]
                + chr(rng.choice((rng.randint(0, 127), rng.randint(0, 0x10FFFF))))
                + text[pos:]
            )
        elif kind == "replace-char":
            text = text[:pos] + chr(rng.randint(32, 126)) + text[pos + 1 :]
        elif kind in ("insert-token", "replace-token", "delete-token"):
            words = text.split(" ")
            i = rng.randrange(len(words))
            token = rng.choice(tokens)
            if kind == "insert-token":
                words.insert(i, token)
            elif kind == "replace-token":
                words[i] = token
            elif len(words) > 1:
                del words[i]
            text = " ".join(words)
        elif kind == "change-number":
            digits = [i for i, c in enumerate(text) if c.isdigit()]
            if digits:
                i = rng.choice(digits)
                j = i
                while j < len(text) and (text[j].isdigit() or text[j] == "."):
                    j += 1
                text = text[:i] + _number(rng) + text[j:]
        elif kind == "duplicate-span":
            end = min(len(text), pos + rng.randint(1, 200))
            text = text[:end] + text[pos:end] * rng.randint(1, 3) + text[end:]
        else:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == "swap-lines":
                lines[i], lines[j] = lines[j], lines[i]
            elif kind == "duplicate-line":
                lines.insert(j, lines[i])
            elif len(lines) > 1:
                del lines[i]
            text = "\n".join(lines)
    return text


# --------------------------------------------------------------------------- generation


class _Generator:
    """Random specs that follow the grammar, with values from sane to hostile."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.params: list[str] = []
        self.sane = rng.random() < 0.6  # mostly valid specs, so generation is reached

    SANE_FLAT = (
        *("Linear(4)", "Linear(8, bias=false)", "IF", "LIF(tau=2.0)", "Identity", "Dropout(0.5)"),
        *("LIF(v_reset=none, detach_reset=true)", "BatchNorm1d", "LayerNorm([4])", "MyN", "MyP"),
        *(
            "SlidingPSN(2)",
            "Izhikevich",
            "KLIF",
            'LIAF(act="tanh")',
            "CUBALIF",
            "LIF(surrogate=MyS())",
        ),
        *("IF(store_v_seq=true)", "Linear(4) -> LIF(surrogate=ATan(alpha=3.0), decay_input=false)"),
    )
    SANE_IMAGE = (
        *("Conv2d(4, 3, padding=1)", "BatchNorm2d", "MaxPool2d(1)", "AvgPool2d(1)", "IF", "LIF"),
        *('Conv2d(4, 3, padding="same", bias=false)', "Dropout2d(0.2)", "GroupNorm(2)", "MyN"),
    )

    def pick(self, *options):
        return self.rng.choice(options)

    def number(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(1, 16))
        if r < 0.8:
            return f"{self.rng.uniform(0.0, 4.0):.2f}"
        return _number(self.rng)

    def constant(self, depth: int = 0) -> str:
        r = self.rng.random()
        if self.sane and depth == 0:
            return self.pick(str(self.rng.randint(1, 8)), "2.0", "0.5", "true", "false", "none")
        if depth > 2 or r < 0.5:
            leaf = self.pick(
                self.number, lambda: self.pick("true", "false", "none", '"ADD"', '"relu"')
            )()
            if self.params and self.rng.random() < 0.3:
                return self.rng.choice(self.params)
            return leaf
        if r < 0.75:
            op = self.pick("+", "-", "*", "/", "**", "??", "+", "*", "and", "@")
            if self.rng.random() < 0.1:
                op = self.pick("==", ">=", "<")
                return f"({self.constant(depth + 1)} {op} {self.constant(depth + 1)})"
            return f"{self.constant(depth + 1)} {op} {self.constant(depth + 1)}"
        if r < 0.85:
            return f"[{', '.join(self.constant(depth + 1) for _ in range(self.rng.randint(0, 3)))}]"
        if r < 0.95:
            return f"{self.pick('Sigmoid', 'ATan', 'Rect', 'SquarewaveFourierSeries')}({self.constant(depth + 1)})"
        return f"({self.constant(depth + 1)})"

    def args(self, names: tuple[str, ...] = ()) -> str:
        parts = [self.constant() for _ in range(self.rng.randint(0, 3))]
        for _ in range(self.rng.randint(0, 2)):
            name = self.rng.choice(names) if names and self.rng.random() < 0.8 else "k"
            parts.append(f"{name}={self.constant()}")
        return ", ".join(parts)

    def op_call(self, blocks: list[str], image: bool = False) -> str:
        from snndsl.semantics.catalogue import OPS

        if self.sane and self.rng.random() < 0.85:
            if blocks and self.rng.random() < 0.2:
                return self.rng.choice(blocks)
            if self.rng.random() < 0.1:
                return f"repeat({self.rng.randint(1, 3)}, {self.pick('IF', 'LIF(tau=2.0)')})"
            return self.rng.choice(self.SANE_IMAGE if image else self.SANE_FLAT)
        r = self.rng.random()
        if r < 0.45:
            op = OPS[self.rng.choice(list(OPS))]
            return f"{op.name}({self.args(tuple(p.name for p in op.params))})"
        if r < 0.75:
            name = self.pick("IF", "LIF", "ParametricLIF", "QIF", "EIF", "Izhikevich", "KLIF")
            name = self.pick(name, "LIAF", "CUBALIF", "PSN", "MaskedPSN", "SlidingPSN", "MyN")
            names = ("tau", "v_threshold", "v_reset", "surrogate", "detach_reset", "store_v_seq")
            return f"{name}({self.args(names)})" if self.rng.random() < 0.7 else name
        if r < 0.9 and blocks:
            return f"{self.rng.choice(blocks)}({self.args(('n', 'p'))})"
        count = self.pick("1", "2", "3", self.number(), "1000000000")
        return f"repeat({count}, {self.op_call(blocks) if self.rng.random() < 0.9 else 'IF'})"

    def chain(self, source: str, blocks: list[str], values: list[str], image=False) -> str:
        r = self.rng.random()
        if self.sane:
            r = max(r, 0.25) if self.rng.random() < 0.8 else r
        if r < 0.15 and len(values) > 1:
            a, b = self.rng.sample(values, 2)
            head = self.pick(f"Add({a}, {b})", f"Cat({a}, {b}, dim=0)", f'SEW({a}, {b}, "ADD")')
        elif r < 0.25:
            head = f"delay({self.rng.choice(values)}, shape=[{self.number()}])"
        else:
            head = source
        steps = []
        for _ in range(self.rng.randint(0, 5)):
            label = f"l{self.rng.randint(0, 99)}: " if self.rng.random() < 0.3 else ""
            steps.append(label + self.op_call(blocks, image))
        return " -> ".join([head, *steps])

    def shape(self) -> str:
        if self.sane:
            return "[4]"
        dims = [
            self.pick("1", "2", "3", "4", "8", "16", self.number())
            for _ in range(self.rng.randint(1, 3))
        ]
        return f"[{', '.join(dims)}]"

    def params_decl(self) -> str:
        self.params = []
        parts = []
        for i in range(self.rng.randint(0, 3)):
            name = f"p{i}"
            typ = self.pick("", ": int", ": float", ": bool", ": float?", ": surrogate")
            if self.sane:
                typ, default = self.pick((": int", "2"), (": float", "1.5"), (": bool", "true"))
            else:
                default = self.constant()
            parts.append(f"{name}{typ} = {default}")
            self.params.append(name)
        return f"({', '.join(parts)})" if parts or self.rng.random() < 0.5 else ""

    def def_params(self, float_only: bool = False) -> str:
        """Parameters of a neuron or surrogate definition (which always has parentheses)."""
        decl = self.params_decl() or "()"
        if float_only and self.sane:
            self.params = ["alpha"]
            return "(alpha: float = 2.0)"
        return decl

    def equation(self, names: list[str], depth: int = 0) -> str:
        from snndsl.backends.torch.printer import FUNCTIONS

        r = self.rng.random()
        if depth > 3 or r < 0.35:
            return self.rng.choice([*names, self.number(), "pi"])
        if self.sane and r < 0.9:
            if r < 0.75:
                op = self.pick("+", "-", "*", "/")
                return f"({self.equation(names, depth + 1)} {op} {self.equation(names, depth + 1)})"
            fn = self.pick("exp", "sigmoid", "tanh", "abs", "atan", "square", "relu", "erf")
            return f"{fn}({self.equation(names, depth + 1)})"
        if r < 0.7:
            op = self.pick("+", "-", "*", "/", "**", ">=", "<", "@")
            return f"({self.equation(names, depth + 1)} {op} {self.equation(names, depth + 1)})"
        if r < 0.9:
            fn = self.rng.choice(list(FUNCTIONS))
            arity = self.pick(1, 1, 2, 3)
            return f"{fn}({', '.join(self.equation(names, depth + 1) for _ in range(arity))})"
        return f"sum(i, 0, {self.pick('2', '3', self.number())}, {self.equation([*names, 'i'], depth + 1)})"

    def neuron(self) -> str:
        decl = self.def_params()
        names = ["x", "v", *self.params]
        body = [f"    state v = {self.pick('0.0', '1.0', self.number())}"]
        if self.rng.random() < 0.3:
            body.append(f"    let a = {self.equation(names)}")
            names.append("a")
        if self.rng.random() < 0.3:
            body.append(f'    require {self.constant()}, "must hold"')
        body.append(f"    charge v = {self.equation(names)}")
        body.append(
            f"    fire v >= {self.pick('1.0', self.number(), self.equation(names))}"
            + self.pick("", ", surrogate: MyS()")
        )
        body.append(
            "    "
            + self.pick(
                "reset v = 0.0",
                "reset v -= 1.0",
                "reset none",
                f"reset v = {self.equation(names)}, detach: true",
            )
        )
        if self.rng.random() < 0.2:
            body.insert(self.rng.randint(0, len(body)), f"    update v = {self.equation(names)}")
        if self.rng.random() < 0.2:
            body.append(
                f"    if {self.pick('true', 'false', 'p0 > 1')} {{\n    emit {self.equation(names)}\n    }}"
            )
        return f"neuron MyN{decl} {{\n" + "\n".join(body) + "\n}\n"

    def surrogate(self) -> str:
        params = self.def_params(float_only=True)
        names = ["x", *self.params]
        lines = [f"    gradient {self.equation(names)}"]
        if self.rng.random() < 0.5:
            lines.insert(0, f"    primitive {self.equation(names)}")
        return f"surrogate MyS{params} {{\n" + "\n".join(lines) + "\n}\n"

    def parallel(self) -> str:
        steps = self.pick("4", "8", self.number())
        window = self.pick("", f"\n    window {self.pick('2', self.number())}")
        matrix = self.pick(
            "weight", "weight * mask", "sliding(w)", "where(lam >= 1.0, weight, mask)"
        )
        return (
            f"parallel neuron MyP(k: int = {self.pick('2', self.number())}) {{\n"
            f"    steps {steps}\n    param weight[{steps}, {steps}] = kaiming_uniform({self.pick('2.0', self.number())})\n"
            f"    param w[{self.pick('3', self.number())}] = {self.pick('1.0', 'index * 0.5', self.number())}\n"
            f"    buffer mask[{steps}, {steps}] = band(k)\n    buffer lam = {self.pick('0.0', '1.0')}\n"
            f"    charge h = {matrix} @ x{self.pick('', ' + 1.0')}{window}\n    fire h >= 0.0\n}}\n"
        )

    def block(self, name: str, blocks: list[str]) -> str:
        saved = self.params
        decl = self.pick("(n: int = 4, p = 1)", "(n: int)", "", "(n = 2)")
        self.params = ["n", "p"] if "p" in decl else (["n"] if "n" in decl else [])
        values = ["x"]
        lines = ["    input x" + self.pick("", ": [4]")]
        if self.rng.random() < 0.3:
            lines.append(f"    defaults LIF({self.pick('tau', 'detach_reset')}={self.constant()})")
        for i in range(self.rng.randint(0, 2)):
            lines.append(f"    b{i} = {self.chain('x', blocks, values)}")
            values.append(f"b{i}")
        out = self.pick("y", "y", "x")
        lines.append(f"    output {out} = {self.chain(values[-1], blocks, values)}")
        self.params = saved
        return f"block {name}{decl} {{\n" + "\n".join(lines) + "\n}\n"

    def spec(self) -> str:
        items = []
        blocks: list[str] = []
        for i in range(self.rng.randint(0, 3)):
            name = f"Blk{i}"
            items.append(self.block(name, list(blocks)))
            blocks.append(name)
        for make in (self.neuron, self.surrogate, self.parallel):
            if self.sane or self.rng.random() < 0.35:
                items.append(make())
        self.params = []
        if self.rng.random() < 0.05:
            items.insert(
                0, f'import "{self.pick("seed.snn", "missing.snn", "/dev/zero", "fuzz.snn")}"\n'
            )
        params = self.params_decl()
        image = self.sane and self.rng.random() < 0.3
        lines = [f"    input x: {'[2, 6, 6]' if image else self.shape()}"]
        values = ["x"]
        if self.rng.random() < 0.2:
            lines.append(f"    input z: {self.shape()}")
            values.append("z")
        if self.rng.random() < 0.3:
            op, kw = self.pick(("LIF", "tau"), ("IF", "v_threshold"), ("Linear", "bias"))
            value = self.pick("2.0", "true", "0.5", self.constant())
            lines.append(f"    defaults {op}({kw}={value})")
        for i in range(self.rng.randint(0, 4)):
            chain = self.chain(self.rng.choice(values), blocks, values, image)
            lines.append(f"    h{i} = {chain}")
            values.append(f"h{i}")
        tail = " -> Flatten -> Linear(3)" if image else ""
        lines.append(f"    output y = {self.chain(values[-1], blocks, values, image)}{tail}")
        items.append(f"network Net{params} {{\n" + "\n".join(lines) + "\n}\n")
        return "\n".join(items)


# --------------------------------------------------------------------------- cases


def make_case(seed: int, index: int) -> Case:
    rng = random.Random(seed * 1_000_003 + index)
    kind = KINDS[index % len(KINDS)]
    if kind == "mutate-text":
        return Case(index, kind, mutate(rng.choice(text_corpus()), rng, TOKENS), "fuzz.snn")
    if kind == "mutate-yaml":
        base = rng.choice(yaml_corpus())
        return Case(index, kind, mutate(base, rng, YAML_TOKENS + TOKENS), "fuzz.yaml")
    text = _Generator(rng).spec()
    if kind == "grammar-mutant":
        text = mutate(text, rng, TOKENS)
    return Case(index, kind, text, "fuzz.snn")
