"""Puts a reference network's modules at the IR's module paths, so that its
``state_dict`` keys are the generated module's (``layer2.0.downsample.1.weight``)."""

from __future__ import annotations

from torch import nn


def place(root: nn.Module, path: tuple[str, ...], module: nn.Module) -> None:
    """Register ``module`` under ``root`` at ``path``, making each group on the way a
    plain ``nn.Module`` (a numbered member is registered under its digits: the keys are
    the same as an ``nn.ModuleList``'s)."""
    holder = root
    for part in path[:-1]:
        if part not in dict(holder.named_children()):
            holder.add_module(part, nn.Module())
        holder = holder.get_submodule(part)
    holder.add_module(path[-1], module)
