"""docs/coverage.md is current, and every row it calls oracle-verified is tested."""

from __future__ import annotations

import test_layers
import test_neurons
import test_oracle_matrix
import test_parallel
import test_surrogates
from conftest import ROOT

from snndsl.exports.coverage import coverage_table
from snndsl.oracle.reference_map import NEURONS, NON_SPIKING, PARALLEL, SURROGATES
from snndsl.semantics.catalogue import OPS
from snndsl.semantics.checker import prelude


def test_docs_coverage_is_current():
    path = ROOT / "docs" / "coverage.md"
    assert path.read_text() == coverage_table(), "refresh with: snndsl coverage > docs/coverage.md"


def test_verified_rows_are_the_tested_ones():
    prelude_neurons = {n.name for n in prelude().neurons() if not n.parallel}
    prelude_parallel = {n.name for n in prelude().neurons() if n.parallel}
    prelude_surrogates = {s.name for s in prelude().surrogates()}
    assert set(NEURONS) == prelude_neurons
    # the matrix varies reset, surrogate and decay: the neurons that have them
    assert set(NEURONS) - NON_SPIKING == set(test_oracle_matrix.NEURONS)
    assert NON_SPIKING <= {call.split("(")[0] for call in test_neurons.MORE_NEURONS}
    assert set(SURROGATES) == prelude_surrogates == set(test_surrogates.NON_DEFAULT)
    tested_layers = {call.split("(")[0] for _, call in test_layers.CASES}
    assert tested_layers | {"Dropout", "Dropout2d"} == set(OPS)
    tested_parallel = {call.split("(")[0] for call in test_parallel.MULTI}
    assert tested_parallel == set(PARALLEL) == prelude_parallel
