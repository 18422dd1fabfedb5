"""Train generated modules for a few steps, in one process or under DistributedDataParallel.

``tests/test_distributed.py`` starts this file with torchrun (``python -m
torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py OUT``):
each process joins a gloo process group from the environment torchrun sets (MASTER_ADDR,
MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK), trains every case of :data:`CASES` on its
shard of the same global batches, and rank 0 saves what it saw to ``OUT``.  The test
then runs :func:`train` in its own process, on the whole batches, and compares.

BatchNorm is converted with ``nn.SyncBatchNorm.convert_sync_batchnorm``.  torch's
SyncBatchNorm trains only on GPUs: DistributedDataParallel refuses it in a CPU module
("SyncBatchNorm layers only work with GPU modules"), its forward raises ValueError on CPU
tensors, and the kernels it calls have no CPU implementation.  So on CPU each converted
layer runs as :class:`CPUSyncBatchNorm`: the same synchronisation (batch statistics
over every process, gradients through them) written with differentiable all-reduces.
"""

from __future__ import annotations

import functools
import gc
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.nn import functional as dist_fn
from torch.nn.parallel import DistributedDataParallel

import snndsl

# BatchNorm on the time-folded batch (multi-step) and inside a recurrent loop, learnable
# neuron parameters, a delay: state that must survive the steps of one batch and be
# dropped by reset() between batches.
SPEC = """\
network DDPNet(channels = 4, hidden = 16, classes = 4) {
    input img: [2, 8, 8]
    features = img
        -> conv: Conv2d(channels, 3, padding=1, bias=false)
        -> bn: BatchNorm2d
        -> sn1: LIF(tau=2.0, surrogate=ATan())
        -> pool: AvgPool2d(2)
        -> flat: Flatten
    a = features -> fc_in: Linear(hidden)
    r = delay(h, shape=[hidden]) -> fc_rec: Linear(hidden, bias=false)
    h = Add(a, r) -> bn1d: BatchNorm1d -> sn2: ParametricLIF(init_tau=2.0)
    output y = h -> fc_out: Linear(classes) -> sn3: IF(v_threshold=0.5)
}
"""
CASES = tuple((mode, backend) for mode in ("multi", "single") for backend in ("eager", "fused"))
DTYPES = (torch.float32, torch.float64)
STEPS = 2  # optimizer steps, one batch each
T = 4  # time steps per sample
BATCH = 8  # global batch size, split evenly over the processes
CLASSES = 4
LR = 0.5


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm's training forward for CPU tensors: statistics over all processes.

    Mean and biased variance of the whole global batch (two passes, as BatchNorm does),
    reached with differentiable all-reduces so that backward, like SyncBatchNorm's,
    sums the gradients of the statistics over the processes; running statistics take
    the unbiased variance of the global batch.  Outside training it is BatchNorm.
    """

    process_group = None

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input [N, C, ...], got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        group = self.process_group or dist.group.WORLD
        if not self.training or dist.get_world_size(group) == 1:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = dist_fn.all_reduce(x.new_tensor(float(x.numel() // x.shape[1])), group=group)
        mean = dist_fn.all_reduce(x.sum(dims), group=group) / count
        shape = (1, -1) + (1,) * (x.dim() - 2)
        centred = x - mean.reshape(shape)
        var = dist_fn.all_reduce((centred * centred).sum(dims), group=group) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum
                if m is None:  # a cumulative moving average, as BatchNorm keeps
                    m = 1.0 / self.num_batches_tracked.item()
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                unbiased = var.detach() * count / (count - 1)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        y = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The global batches, the same in every process: inputs [T, N, 2, 8, 8], targets."""
    gen = torch.Generator().manual_seed(1234)
    return [
        (
            torch.rand(T, BATCH, 2, 8, 8, generator=gen) * 2.0,
            torch.randint(0, CLASSES, (BATCH,), generator=gen),
        )
        for _ in range(STEPS)
    ]


@functools.cache
def network_class(mode: str, backend: str) -> type:
    """The generated class of :data:`SPEC` in one form."""
    return snndsl.load(SPEC, mode=mode, backend=backend)


def make_model(mode: str, backend: str, dtype: torch.dtype, seed: int) -> nn.Module:
    """The generated network, initialised from ``seed`` in float32, then cast."""
    cls = network_class(mode, backend)
    torch.manual_seed(seed)
    return cls().to(dtype)


def _sequence(net: nn.Module, module: nn.Module, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Run one batch from fresh state: [T, N, *] -> [T, N, classes].

    ``net`` is what is called (the DDP wrapper or the module), ``module`` the generated
    module itself, whose reset() drops the state of the previous batch.
    """
    module.reset()
    if mode == "multi":
        return net(x)
    return torch.stack([net(x[t]) for t in range(x.shape[0])])


def train(net: nn.Module, module: nn.Module, mode: str, dtype: torch.dtype, rank=0, world=1):
    """Train on this process's shard of :func:`batches`; losses and gradients per step.

    The loss is the mean squared error of the firing rate against one-hot targets,
    averaged over the local shard; DistributedDataParallel averages the gradients over
    the processes, so with equal shards both are those of the global batch.
    """
    opt = torch.optim.SGD(module.parameters(), lr=LR)
    record = {"loss": [], "grads": []}
    for x, target in batches():
        shard = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
        x, target = x[:, shard].to(dtype), target[shard]
        opt.zero_grad()
        rate = _sequence(net, module, x, mode).mean(0)
        loss = F.mse_loss(rate, F.one_hot(target, CLASSES).to(dtype))
        loss.backward()
        total = loss.detach().clone()
        if dist.is_initialized():
            dist.all_reduce(total)
            total /= world
        record["loss"].append(total)
        record["grads"].append({n: p.grad.clone() for n, p in module.named_parameters()})
        opt.step()
    record["final"] = {k: v.clone() for k, v in module.state_dict().items()}
    return record


def distributed_case(mode: str, backend: str, dtype: torch.dtype) -> dict:
    """One case in this process of the group: SyncBatchNorm, DDP, :func:`train`."""
    rank, world = dist.get_rank(), dist.get_world_size()
    # Another initialisation per process: DDP must broadcast rank 0's parameters and
    # buffers, so every process (and the single-process run, seed 0) starts the same.
    module = make_model(mode, backend, dtype, seed=rank)
    module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for m in module.modules():
        on_cpu = all(t.device.type == "cpu" for t in m.state_dict().values())
        if isinstance(m, nn.SyncBatchNorm) and on_cpu:
            m.__class__ = CPUSyncBatchNorm
    ddp = DistributedDataParallel(module)
    result = train(ddp, module, mode, dtype, rank, world)
    result["bn_types"] = sorted(
        {type(m).__name__ for m in module.modules() if "Norm" in type(m).__name__}
    )
    return result


def main(out: str) -> None:
    dist.init_process_group("gloo")
    results = {
        (mode, backend, str(dtype)): distributed_case(mode, backend, dtype)
        for mode, backend in CASES
        for dtype in DTYPES
    }
    if dist.get_rank() == 0:
        results["world_size"] = dist.get_world_size()
        torch.save(results, out)
    gc.collect()  # DDP's reference cycles, before the group goes (gloo may abort at exit)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
