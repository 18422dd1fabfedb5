"""Generated modules train under DistributedDataParallel as they do in one process.

torchrun starts two processes (gloo, CPU) running ``tests/distributed_worker.py``: each
trains the multi-step and the single-step form (eager and fused backends) of a network
with BatchNorm (converted with ``SyncBatchNorm.convert_sync_batchnorm``), a recurrent
delay and learnable neuron parameters, on its half of the same global batches.  This
process trains the same networks on the whole batches, and every loss, every gradient
and the final parameters and buffers must agree.

The tolerance comes from the runs themselves, not a constant.  Both sides are run in
float32 and in float64 from the same float32 initial weights, and float64 stands in for
the exact value.  For each tensor:

- float64: DDP and one process must agree within the float32 rounding the tensor shows
  in one process, ``max |x32 - x64|`` (or float32's resolution of the tensor, half an ulp
  of its largest element, where that run happened to be exact).  Any difference in what
  is computed (statistics of one shard, gradients not averaged, state carried over) is
  far larger; float64 rounding, 2**-29 times float32's, far smaller.
- float32: the two results may differ only by what rounding explains: each run's own
  rounding (against its float64 twin, a different reduction order rounds differently)
  plus the distance between the float64 twins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import distributed_worker as worker
import pytest
import torch
import torch.distributed as dist
from conftest import ROOT

pytestmark = pytest.mark.distributed

WORLD = 2
HALF_ULP32 = torch.finfo(torch.float32).eps / 2  # unit roundoff of float32


def _gloo_available() -> bool:
    return dist.is_available() and dist.is_gloo_available()


def torchrun(script, *args: str) -> subprocess.CompletedProcess:
    """Run ``script`` in WORLD processes as torchrun starts them, from the repository root."""
    if not _gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={WORLD}",
        str(script),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory) -> dict:
    """Run the worker under torchrun once; what rank 0 recorded."""
    out = tmp_path_factory.mktemp("ddp") / "results.pt"
    torchrun(ROOT / "tests" / "distributed_worker.py", str(out))
    return torch.load(out)


def _single_process(mode: str, backend: str) -> dict:
    """The same training in this process on the whole batches, in both precisions."""
    runs = {}
    for dtype in worker.DTYPES:
        module = worker.make_model(mode, backend, dtype, seed=0)
        runs[dtype] = worker.train(module, module, mode, dtype)
    return runs


def _tensors(run: dict) -> dict[str, torch.Tensor]:
    """Every compared tensor of a run by a readable key."""
    flat = {}
    for step, (loss, grads) in enumerate(zip(run["loss"], run["grads"])):
        flat[f"step {step} loss"] = loss
        flat.update({f"step {step} grad {n}": g for n, g in grads.items()})
    flat.update({f"final {n}": v for n, v in run["final"].items()})
    return flat


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def compare(single: dict, ddp: dict) -> list[str]:
    """Every tensor on which DDP and one process differ by more than rounding."""
    s32, s64 = _tensors(single[torch.float32]), _tensors(single[torch.float64])
    d32, d64 = _tensors(ddp[torch.float32]), _tensors(ddp[torch.float64])
    assert s32.keys() == d32.keys() == s64.keys() == d64.keys()
    problems = []
    for key in s32:
        if not s64[key].is_floating_point():  # num_batches_tracked: counts are exact
            if not torch.equal(s32[key], d32[key]) or not torch.equal(s64[key], d64[key]):
                problems.append(f"{key}: {d32[key]} != {s32[key]}")
            continue
        single_rounding = _max_diff(s32[key], s64[key])
        resolution = max(single_rounding, HALF_ULP32 * s64[key].abs().max().item())
        diff64 = _max_diff(d64[key], s64[key])
        if diff64 > resolution:
            problems.append(f"{key}: float64 differs by {diff64:.3g} > {resolution:.3g}")
        rounding32 = single_rounding + _max_diff(d32[key], d64[key]) + diff64
        diff32 = _max_diff(d32[key], s32[key])
        if diff32 > rounding32:
            problems.append(f"{key}: float32 differs by {diff32:.3g} > rounding {rounding32:.3g}")
    return problems


@pytest.mark.parametrize(("mode", "backend"), worker.CASES)
def test_ddp_matches_one_process(distributed_results, mode, backend):
    ddp = {dtype: distributed_results[(mode, backend, str(dtype))] for dtype in worker.DTYPES}
    assert distributed_results["world_size"] == WORLD
    # every BatchNorm was converted (no plain BatchNorm left), and the run trained
    assert ddp[torch.float32]["bn_types"] == ["CPUSyncBatchNorm"]
    assert len(ddp[torch.float32]["loss"]) == worker.STEPS
    assert compare(_single_process(mode, backend), ddp) == []


def test_comparison_is_not_vacuous(distributed_results):
    """One process trained on the first half of each batch (what a DDP process sees
    without its all-reduces) fails the comparison."""
    mode, backend = worker.CASES[0]
    ddp = {dtype: distributed_results[(mode, backend, str(dtype))] for dtype in worker.DTYPES}
    shard = {}
    for dtype in worker.DTYPES:
        module = worker.make_model(mode, backend, dtype, seed=0)
        shard[dtype] = worker.train(module, module, mode, dtype, rank=0, world=WORLD)
    assert compare(shard, ddp)


def test_readme_example_trains(tmp_path):
    """The README's "Multi-process training" example runs as written under torchrun."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Multi-process training", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)
    script = tmp_path / "train_ddp.py"
    script.write_text(example, encoding="utf-8")
    done = torchrun(script)
    losses = re.findall(r"^step (\d): loss (\S+)$", done.stdout, re.M)
    assert [step for step, _ in losses] == ["0", "1", "2"], done.stdout
