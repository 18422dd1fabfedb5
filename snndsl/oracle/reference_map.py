"""Which snndsl neurons, surrogates and layers have a SpikingJelly 2.0.0 counterpart.

Plain tables (no torch import), read by :mod:`snndsl.oracle.spikingjelly` to
build reference networks
and by :mod:`snndsl.exports.coverage` to write the coverage table.
"""

from __future__ import annotations

# snndsl neuron name -> (SpikingJelly class, {snndsl parameter: SpikingJelly keyword}).
# Parameters SpikingJelly's constructor lacks are set as attributes afterwards (SET_AFTER).
_BASE = {
    "v_threshold": "v_threshold",
    "v_reset": "v_reset",
    "surrogate": "surrogate_function",
    "detach_reset": "detach_reset",
    "store_v_seq": "store_v_seq",
}
_LIF = {"tau": "tau", "decay_input": "decay_input", **_BASE}
NEURONS = {
    "IF": ("IFNode", _BASE),
    "LIF": ("LIFNode", _LIF),
    "ParametricLIF": ("ParametricLIFNode", {"init_tau": "init_tau",
                                            "decay_input": "decay_input", **_BASE}),
    "QIF": ("QIFNode", {"tau": "tau", "v_c": "v_c", "a0": "a0", "v_rest": "v_rest", **_BASE}),
    "EIF": ("EIFNode", {"tau": "tau", "delta_T": "delta_T", "theta_rh": "theta_rh",
                        "v_rest": "v_rest", **_BASE}),
    "Izhikevich": ("IzhikevichNode", {"tau": "tau", "v_c": "v_c", "a0": "a0",
                                      "v_rest": "v_rest", "w_rest": "w_rest",
                                      "tau_w": "tau_w", "a": "a", "b": "b", **_BASE}),
    "KLIF": ("KLIFNode", {"scale_reset": "scale_reset", **_LIF}),
    "LIAF": ("LIAFNode", {"act": "act", "threshold_related": "threshold_related", **_LIF}),
    "CUBALIF": ("CUBALIFNode", {"c_decay": "c_decay", "v_decay": "v_decay", **_BASE}),
    "NonSpikingIF": ("NonSpikingIFNode", {}),
    "NonSpikingLIF": ("NonSpikingLIFNode", {"tau": "tau"}),
}  # fmt: skip
SET_AFTER = {"CUBALIF": ("detach_reset", "step_mode", "store_v_seq")}
# SpikingJelly 2.0.0's LIAFNode returns spikes instead of act(...) in multi-step mode
# (its multi_step_functional_forward is LIFNode's); its single-step mode is right, so the
# oracle drives it step by step.
STEPWISE = {"LIAF"}
# SpikingJelly 2.0.0's non-spiking neurons (NonSpikingBaseNode) take no step_mode, start
# every forward() from v = 0 and return a list of the v[t]; the oracle drives their own
# neuronal_charge step by step and keeps v between calls.
NON_SPIKING = {"NonSpikingIF", "NonSpikingLIF"}
ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}
SURROGATES = {
    name: name
    for name in (
        "Sigmoid",
        "ATan",
        "PiecewiseQuadratic",
        "PiecewiseExp",
        "SoftSign",
        "Erf",
        "NonzeroSignLogAbs",
        "PiecewiseLeakyReLU",
        "SquarewaveFourierSeries",
        "S2NN",
        "QPseudoSpike",
        "LeakyKReLU",
        "FakeNumericalGradient",
        "LogTailedReLU",
        "SuperSpike",
        "Rect",
    )
}
# SpikingJelly surrogates whose constructor has no `spiking` argument.
ALWAYS_SPIKING = {"FakeNumericalGradient"}

# Parallel spiking neurons: snndsl name -> (SpikingJelly class, {argument: keyword}).
PARALLEL = {
    "PSN": ("PSN", {"T": "T"}),
    "MaskedPSN": ("MaskedPSN", {"k": "k", "T": "T", "lambda_init": "lambda_init"}),
    "SlidingPSN": ("SlidingPSN", {"k": "k", "exp_init": "exp_init"}),
}
# state_dict keys that differ: snndsl name -> {snndsl key: SpikingJelly key}.  Spec names
# cannot start with '_' (reserved for generated names), so MaskedPSN's buffer is `lambda_`.
PARALLEL_KEYS = {"MaskedPSN": {"lambda_": "_lambda_"}}

# ------------------------------------------------------------------ library peers
# The neurons of the library namespaces (snndsl/prelude/<library>.snn) and their peers:
# snndsl name -> the peer's class.  Their state names are the peer's own (snnTorch's
# attributes `mem`, `syn`, ...; the fields of Norse's state records `v`, `i`, ...).
PEER_LIBRARIES = {"snntorch": ("snnTorch", "1.0.0"), "norse": ("Norse", "1.1.0")}
PEER_NEURONS = {
    "snntorch.Leaky": "Leaky",
    "snntorch.Synaptic": "Synaptic",
    "snntorch.Alpha": "Alpha",
    "snntorch.Lapicque": "Lapicque",
    "snntorch.RLeaky": "RLeaky",
    "snntorch.RSynaptic": "RSynaptic",
    "norse.LIF": "LIF",
    "norse.LIFBox": "LIFBox",
    "norse.LSNN": "LSNN",
    "norse.LIFAdEx": "LIFAdEx",
    "norse.LI": "LI",
}
# A library neuron's state_dict keys are the peer's own (snnTorch's recurrent nn.Linear is
# `param recurrent.weight[...]`, a submodule of the layer, as in snnTorch): no renaming.
# snnTorch surrogates: snndsl name -> the factory in snntorch.surrogate.
PEER_SURROGATES = {
    "snntorch.ATan": "atan",
    "snntorch.FastSigmoid": "fast_sigmoid",
    "snntorch.Sigmoid": "sigmoid",
    "snntorch.Triangular": "triangular",
    "snntorch.StraightThroughEstimator": "straight_through_estimator",
    "snntorch.Heaviside": "heaviside",
}
# Norse neurons: name -> (multi-step module or None, cell, parameter record); the
# threshold function is the record's `method`, as in Norse.
NORSE_MODULES = {
    "LIF": ("LIF", "LIFCell", "LIFParameters"),
    "LIFBox": (None, "LIFBoxCell", "LIFBoxParameters"),
    "LSNN": ("LSNN", "LSNNCell", "LSNNParameters"),
    "LIFAdEx": ("LIFAdEx", "LIFAdExCell", "LIFAdExParameters"),
    "LI": ("LI", "LICell", "LIParameters"),
}


def peer_library(neuron: str) -> str | None:
    """The library of a library neuron (``snntorch.Leaky`` -> ``snntorch``), else None."""
    return neuron.split(".", 1)[0] if neuron in PEER_NEURONS else None
