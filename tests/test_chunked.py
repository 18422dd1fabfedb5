"""forward_chunked: long sequences a few steps at a time, for inference and training.

Values must match forward() (up to the float rounding of folded layers on a smaller
batch), state and recordings must carry over exactly as one call would leave them, and
with checkpoint=True the tensors autograd keeps must not grow with T.
"""

from __future__ import annotations

import torch
from conftest import ROOT

import snndsl

SPEC = """
network Long {
    input x: [6]
    h = x -> fc1: Linear(12) -> sn1: LIF(tau=2.0, store_v_seq=true)
    r = delay(h) -> rec: Linear(12, bias=false)
    k = Add(h, r) -> sn2: IF
    output y = k -> fc2: Linear(3)
}
"""


def _pair(spec=SPEC):
    torch.manual_seed(0)
    cls = snndsl.load(spec, mode="multi")
    a, b = cls(), cls()
    b.load_state_dict(a.state_dict())
    return a, b


def test_inference_in_chunks_matches_one_call():
    whole, chunked = _pair()
    x = torch.rand(24, 3, 6) * 6
    with torch.no_grad():
        y = whole(x)
        yc = chunked.forward_chunked(x, chunk=5)
    # sn1 fires: a hard reset leaves v at exactly 0.0
    assert yc.shape == y.shape and (whole.sn1_v_seq == 0).sum() > 10
    assert torch.allclose(yc, y, atol=1e-6)
    assert torch.allclose(chunked.sn1_v_seq, whole.sn1_v_seq, atol=1e-6)
    assert chunked.sn1_v_seq.shape[0] == 24
    for attr in type(whole)._STATE:
        a, b = getattr(whole, attr), getattr(chunked, attr)
        assert torch.allclose(a, b, atol=1e-6), attr


def test_training_with_checkpoints_keeps_less_and_gives_the_same_gradients():
    whole, chunked = _pair()
    x = torch.rand(32, 4, 6) * 3
    saved = {"whole": 0, "chunked": 0}

    def counter(key):
        def pack(t):
            saved[key] += t.numel() * t.element_size()
            return t

        return pack

    xw, xc = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(counter("whole"), lambda t: t):
        yw = whole(xw)
    with torch.autograd.graph.saved_tensors_hooks(counter("chunked"), lambda t: t):
        yc = chunked.forward_chunked(xc, chunk=4, checkpoint=True)
    assert torch.allclose(yc, yw, atol=1e-6) and yw.abs().sum() > 0
    w = torch.linspace(-1, 1, yw.numel()).reshape(yw.shape)
    (yw * w).sum().backward()
    (yc * w).sum().backward()
    rel = ((xc.grad - xw.grad).abs().max() / xw.grad.abs().max()).item()
    assert rel <= 1e-5
    grads = dict(whole.named_parameters())
    for name, p in chunked.named_parameters():
        q = grads[name].grad
        assert ((p.grad - q).abs().max() / q.abs().max()).item() <= 1e-5, name
    # outside the checkpoints autograd keeps only each chunk's input and starting state
    assert saved["chunked"] * 4 < saved["whole"], saved
    # backward recomputed every chunk; the module must still hold what one call left
    for attr in (*type(whole)._STATE, *type(whole)._RECORDS):
        a, b = getattr(whole, attr), getattr(chunked, attr)
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6), attr


def test_recomputing_a_chunk_does_not_update_batchnorm_twice():
    """BatchNorm's running statistics move once per chunk, with or without checkpoints."""
    spec = """
    network Norm {
        input x: [2, 6, 6]
        output y = x -> conv: Conv2d(4, 3, padding=1) -> bn: BatchNorm2d -> sn: LIF
    }
    """
    plain, checkpointed = _pair(spec)
    x = torch.rand(6, 3, 2, 6, 6)
    yp = plain.forward_chunked(x.clone().requires_grad_(True), chunk=2)
    yc = checkpointed.forward_chunked(x.clone().requires_grad_(True), chunk=2, checkpoint=True)
    assert torch.equal(yp, yc)
    before = {k: v.clone() for k, v in checkpointed.state_dict().items()}
    yp.sum().backward()
    yc.sum().backward()
    after = checkpointed.state_dict()
    assert int(after["bn.num_batches_tracked"]) == 3
    for key, value in plain.state_dict().items():
        assert torch.equal(after[key], before[key]) and torch.equal(after[key], value), key


def test_a_shipped_spec_in_chunks():
    whole, chunked = _pair(str(ROOT / "specs" / "conv.snn"))
    whole.eval()
    chunked.eval()
    x = torch.rand(6, 2, 1, 28, 28) * 4
    with torch.no_grad():
        assert torch.allclose(chunked.forward_chunked(x, chunk=4), whole(x), atol=1e-6)


def test_checkpoints_replay_dropout_and_serve_autograd_grad():
    """A dropout mask drawn inside the first chunk is drawn again, identically, when that
    chunk is recomputed; parameter gradients come back through torch.autograd.grad too
    (not only as a side effect on .grad), with an input that needs no gradient."""
    spec = """
    network Drop {
        input x: [8]
        output y = x -> fc: Linear(8) -> sn1: LIF -> drop: Dropout(0.5) -> out: Linear(3) -> sn2: IF
    }
    """
    plain, checkpointed = _pair(spec)
    x = torch.rand(6, 2, 8) * 4
    results = []
    for net, checkpoint in ((plain, False), (checkpointed, True)):
        net.train()
        torch.manual_seed(7)
        y = net.forward_chunked(x, chunk=4, checkpoint=checkpoint)
        params = list(net.parameters())
        w = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
        results.append((y, torch.autograd.grad((y * w).sum(), params)))
    (yp, gp), (yc, gc) = results
    assert torch.equal(yp, yc) and 0 < yp.mean() < 1
    assert torch.equal(plain._drop_mask, checkpointed._drop_mask)
    for a, b in zip(gp, gc):
        assert a.abs().sum() > 0 and torch.allclose(a, b, rtol=1e-6, atol=1e-7)
