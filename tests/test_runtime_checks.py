"""Generated modules at run time: wrong inputs and batch-size changes.

Every form (single-step, multi-step) of every shipped spec on every backend checks its
inputs at the top of forward(): a wrong rank, a wrong per-sample shape, a non-float
dtype and an empty sequence (T = 0) raise ``ValueError`` naming the input, the expected
shape (``[T, N, 3, 32, 32]``) and what it got.

One behaviour on a batch-size change: a module that keeps state between calls
(neuron states, dropout masks, delayed values, parallel neurons' windows, store_v_seq
recordings) remembers the batch size N of that state until reset(); a call with another
N raises ``ValueError`` telling the user to call reset(), before any state is touched.
A forgotten reset() between batches is a bug; this makes it visible at the first batch
of another size instead of silently restarting the state.
"""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import SPECS, golden_stem, multi_step_only

import snndsl

MODES = ("multi", "single")
CASES = [
    pytest.param(spec, mode, backend, id=f"{golden_stem(spec)}-{mode}-{backend}")
    for spec in SPECS
    for mode in MODES
    for backend in snndsl.BACKENDS
    if not (mode == "single" and multi_step_only(spec))
]


@pytest.fixture
def uncompiled(monkeypatch):
    """torch.compile as the identity: the compile backend's generated code run eagerly.
    Its checks stand outside the compiled code, and tests/test_compile.py traces every
    form under TorchDynamo; here only the checks matter, without minutes of tracing."""
    monkeypatch.setattr(torch, "compile", lambda fn=None, **kwargs: fn or (lambda f: f))


@pytest.fixture
def dynamo_only(monkeypatch):
    """torch.compile with TorchDynamo alone (the "eager" compiler), as in test_compile:
    the compile backend's code paths without Inductor's C++ builds."""
    compile_ = torch.compile

    def patched(*args, **kwargs):
        kwargs.pop("options", None)  # Inductor's options
        kwargs.setdefault("backend", "eager")
        return compile_(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", patched)
    torch._dynamo.reset()


@functools.cache
def _net(spec):
    return snndsl.resolve(str(spec))


def _module(spec, mode, backend):
    torch.manual_seed(0)
    return snndsl.load(str(spec), mode=mode, backend=backend)()


def _steps(net, default: int = 2) -> int:
    return next((p.steps for p in net.parallels if p.steps), default)


def _inputs(net, mode: str, batch: int, steps: int) -> list[torch.Tensor]:
    lead = (steps, batch) if mode == "multi" else (batch,)
    gen = torch.Generator().manual_seed(batch)
    return [torch.rand(*lead, *i.shape, generator=gen) * 2 for i in net.inputs]


def _expected(net, mode: str) -> str:
    """The expected shape of the first input as the message spells it."""
    lead = ["T", "N"] if mode == "multi" else ["N"]
    return "[" + ", ".join([*lead, *(str(d) for d in net.inputs[0].shape)]) + "]"


def _raises(m, xs, *needles: str) -> str:
    with pytest.raises(ValueError) as err:
        m(*xs)
    message = str(err.value)
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@pytest.mark.parametrize(("spec", "mode", "backend"), CASES)
def test_wrong_inputs_name_the_expected_shape(spec, mode, backend, dynamo_only):
    net = _net(spec)
    m = _module(spec, mode, backend).eval()
    first = net.inputs[0]
    good = _inputs(net, mode, 2, _steps(net))
    expected = _expected(net, mode)
    x = good[0]
    bad_shape = list(x.shape)
    bad_shape[-1] += 1
    wrong = {
        "one dimension too many": x.unsqueeze(0),
        "one dimension too few": x[0],
        "wrong per-sample shape": torch.rand(bad_shape),
        "int dtype": (x * 4).to(torch.int64),
        "bool dtype": x > 1,
    }
    if mode == "multi":
        wrong["T = 0"] = x[:0]
    for what, bad in wrong.items():
        message = _raises(m, [bad, *good[1:]], f"{first.name}:", expected)
        assert str(list(bad.shape)) in message, what
        if what.endswith("dtype"):
            assert str(bad.dtype) in message
        if what == "T = 0":
            assert "T = 0" in message


@pytest.mark.parametrize(("spec", "mode", "backend"), CASES)
@torch.no_grad()
def test_batch_size_change_without_reset_raises(spec, mode, backend, uncompiled):
    net = _net(spec)
    m = _module(spec, mode, backend).train()  # training: dropout masks are kept too
    steps = _steps(net, 1) if mode == "multi" else 1
    two, three = _inputs(net, mode, 2, steps), _inputs(net, mode, 3, steps)
    m(*two)
    kept = dict(vars(m))
    if mode == "multi" and not (net.neurons or net.delays or net.dropouts):
        m(*three)  # nothing is kept between calls (PSN over whole sequences)
        return
    _raises(m, three, "reset()", "batch size 3", "2")
    # the call was refused before anything changed
    assert all(vars(m)[k] is v for k, v in kept.items())
    m.reset()
    m(*three)  # a new batch after reset()
    _raises(m, two, "reset()", "batch size 2", "3")


def test_every_kind_of_kept_state_refuses_another_batch():
    """Dropout masks, delays, windows, store_v_seq recordings and every neuron's states,
    each alone in a network: the same error in both forms."""
    specs = {
        "dropout": "output y = x -> d: Dropout(0.5)",
        "delay": "h = x -> fc: Linear(4)\n    output y = Add(h, delay(h))",
        "window": "output y = x -> fc: Linear(4) -> p: SlidingPSN(2)",
        "record": "output y = x -> sn: LIF(store_v_seq=true)",
        "neuron": "output y = x -> sn: Izhikevich",
    }
    for kind, body in specs.items():
        spec = f"network K {{\n    input x: [4]\n    {body}\n}}\n"
        for mode in MODES:
            m = snndsl.load(spec, mode=mode)().train()
            lead = (2,) if mode == "single" else (3, 2)
            m(torch.rand(*lead, 4))
            other = torch.rand(*lead[:-1], 5, 4)
            if mode == "multi" and kind == "window":
                m(other)  # a SlidingPSN over whole sequences keeps nothing
                continue
            _raises(m, [other], "reset()", "batch size 5", "2")
            m.reset()
            m(other)


def test_a_module_without_kept_state_takes_any_batch():
    spec = "network S {\n    input x: [4]\n    output y = x -> fc: Linear(3)\n}\n"
    for mode in MODES:
        m = snndsl.load(spec, mode=mode)()
        lead = () if mode == "single" else (3,)
        assert m(torch.rand(*lead, 2, 4)).shape[-2] == 2
        assert m(torch.rand(*lead, 5, 4)).shape[-2] == 5
        _raises(m, [torch.rand(*lead, 5, 3)], "x:", "N, 4]", "5, 3]")


def test_every_input_is_checked_and_their_t_and_n_agree():
    spec = (
        "network Two {\n    input a: [4]\n    input b: [2, 3]\n"
        "    h = b -> f: Flatten\n    output y = Cat(a, h)\n}\n"
    )
    single = snndsl.load(spec, mode="single")()
    multi = snndsl.load(spec, mode="multi")()
    single(torch.rand(2, 4), torch.rand(2, 2, 3))
    multi(torch.rand(3, 2, 4), torch.rand(3, 2, 2, 3))
    _raises(single, [torch.rand(2, 4), torch.rand(2, 3, 3)], "b:", "[N, 2, 3]", "[2, 3, 3]")
    _raises(multi, [torch.rand(3, 2, 4), torch.rand(3, 2, 6)], "b:", "[T, N, 2, 3]", "[3, 2, 6]")
    _raises(multi, [torch.rand(3, 2, 4), torch.rand(4, 2, 2, 3)], "b:", "[3, 2]", "[4, 2]")
    _raises(single, [torch.rand(2, 4), torch.rand(5, 2, 3)], "b:", "[2]", "[5]")


def test_the_generated_docstring_states_the_behaviour():
    for spec in SPECS:
        for mode in MODES:
            if mode == "single" and multi_step_only(spec):
                continue
            doc = " ".join(snndsl.generate(str(spec), mode=mode).split('"""', 2)[1].split())
            assert "raises ValueError naming the expected shape" in doc, (spec.name, mode)
            if spec.stem == "psn" and mode == "multi":
                assert "Nothing is kept between calls" in doc
            else:
                assert "call reset() before a new batch" in doc, (spec.name, mode)


def test_chunked_forward_refuses_an_empty_sequence_and_a_bad_chunk():
    spec = "network C {\n    input x: [4]\n    output y = x -> sn: LIF\n}\n"
    m = snndsl.load(spec, mode="multi")()
    chunked = functools.partial(m.forward_chunked, chunk=2)
    _raises(chunked, [torch.rand(0, 2, 4)], "x:", "T = 0", "[T, N, 4]")
    with pytest.raises(ValueError, match="chunk"):
        m.forward_chunked(torch.rand(3, 2, 4), chunk=0)
    assert m.forward_chunked(torch.rand(3, 2, 4), chunk=2).shape == (3, 2, 4)


@pytest.mark.parametrize("mode", MODES)
@torch.no_grad()
def test_under_the_compile_backend_the_errors_are_value_errors(mode, dynamo_only):
    """With TorchDynamo tracing for real: the single-step form's checks run before its
    compiled body, so a wrong input or batch is a ValueError, not a Dynamo error."""
    spec = next(s for s in SPECS if s.stem == "custom")  # neurons and a window
    net = _net(spec)
    m = _module(spec, mode, "compile")
    two, three = _inputs(net, mode, 2, _steps(net)), _inputs(net, mode, 3, _steps(net))
    m(*two)
    _raises(m, three, "reset()", "batch size 3", "2")
    _raises(m, [two[0][..., :-1]], "x:", _expected(net, mode))
    m.reset()
    m(*three)
    m(*three)
