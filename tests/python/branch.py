"""Evaluating a network on another implementation's branch (for the float64 oracles of
test_train_pytorch.cpp and test_networks.cpp).

A network's gradient is discontinuous where a ReLU / LeakyReLU input is 0, two values of a
max-pool window are equal, or an L1 loss's a - b is 0. Two float32 implementations put an input
within rounding of such a point on different sides, and each such decision moves the gradients
of every earlier layer by a full element's contribution. So the oracle evaluates cgan's branch:
install() routes every ReLU / LeakyReLU / MaxPool2d of a network through a Feed, which, when
armed with cgan's outputs of those ops (recorded by the C++ probes, tests/common/probe_util.hpp),
computes the branch function cgan's backward differentiated and records per op how far cgan was
from the float64 value and how large the margin of every decision cgan took differently was.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import numpy as np


class Feed:
    """cgan's decisions at the nonsmooth ops of one network, one call at a time.

    start(label, outs) arms it for the next call of the network: `outs` are cgan's outputs of
    that call's ReLU / LeakyReLU ops in call order (the max pools' inputs are the outputs of the
    ReLU before them). Each op then computes cgan's BRANCH: ReLU z * [cgan's output > 0],
    LeakyReLU z * (1 or slope), max pool the input at cgan's argmax (the first maximum, as
    both cgan and PyTorch pick). Its value differs from the natural op only where a decision
    differs, by at most that decision's margin; its derivative is the one cgan's backward used.
    Each op also records its statistics (see record()). Not armed: the natural op."""

    def __init__(self, records, z_store):
        self.outs = None
        self.records = records   # list the statistics go to
        self.z_store = z_store   # label -> op input of the float32 run (to compare with)

    def start(self, label, outs):
        self.label, self.outs, self.pos, self.count = label, list(outs), 0, {}

    def stop(self):
        assert self.outs is None or self.pos == len(self.outs), (self.label, self.pos)
        self.outs = None

    def apply(self, kind, slope, z):
        if self.outs is None:
            if kind == "pool":
                return F.max_pool2d(z, 2)
            return F.leaky_relu(z, slope) if kind == "leaky" else F.relu(z)
        i = self.count[kind] = self.count.get(kind, -1) + 1
        label = "%s.%s%d" % (self.label, kind, i)
        zd = z.detach()
        if kind == "pool":
            ours_in = self.last.to(z.dtype)
            idx = F.max_pool2d(ours_in, 2, return_indices=True)[1]
            nat, nat_idx = F.max_pool2d(zd, 2, return_indices=True)
            flat = z.flatten(2)
            out = flat.gather(2, idx.flatten(2)).view_as(nat)
            flips = idx != nat_idx
            gap = nat - zd.flatten(2).gather(2, idx.flatten(2)).view_as(nat)
            e_ours = 0.0  # the input is the ReLU's output, compared there
        else:
            ours = self.outs[self.pos].to(z.dtype)
            self.pos += 1
            self.last = ours
            mask = ours > 0
            out = z * torch.where(mask, torch.ones_like(zd), torch.full_like(zd, slope))
            nat = F.leaky_relu(zd, slope) if kind == "leaky" else F.relu(zd)
            flips = mask != (zd > 0)
            gap = zd.abs()
            e_ours = (ours - nat).abs().max().item()
        record(self.records, self.z_store, label, kind, zd, e_ours, flips, gap)
        return out


def record(records, z_store, label, kind, z, e_ours, flips, gap):
    """One op's statistics: scale max|z| of its input, cgan's error (of its output, against the
    natural op at this input), the float32 run's input error (filled in for the float64 run
    from z_store), the number of decisions where cgan took the other branch and the largest
    of their margins (|z| for an activation, the gap to the true maximum for a pool, |a-b| for
    the L1 loss)."""
    if z.dtype == torch.float32:
        z_store[label] = z.double()
        return
    n_flips = int(flips.sum())
    records.append({"label": label, "kind": kind, "n": z.numel(),
                    "scale": z.abs().max().item(), "e_ours": e_ours,
                    "e_t32": (z_store[label] - z).abs().max().item() if label in z_store else -1.0,
                    "flips": n_flips,
                    "margin": gap[flips].max().item() if n_flips else 0.0})


class Forced(nn.Module):
    def __init__(self, kind, slope, feed):
        super().__init__()
        self.kind, self.slope, self.feed = kind, slope, feed

    def forward(self, z):
        return self.feed.apply(self.kind, self.slope, z)


def install(net, feed):
    """Routes every ReLU / LeakyReLU / MaxPool2d of net through feed."""
    for m in list(net.modules()):
        for name, c in list(m.named_children()):
            if isinstance(c, nn.ReLU):
                setattr(m, name, Forced("relu", 0.0, feed))
            elif isinstance(c, nn.LeakyReLU):
                setattr(m, name, Forced("leaky", c.negative_slope, feed))
            elif isinstance(c, nn.MaxPool2d):
                assert c.kernel_size == 2 and c.stride == 2, c
                setattr(m, name, Forced("pool", 0.0, feed))


def split64(name, a, out):
    """A float64 array as NAME (float32) + NAME.lo (float32 remainder)."""
    a = np.asarray(a, dtype=np.float64)
    hi = a.astype(np.float32)
    out[name] = hi
    out[name + ".lo"] = (a - hi.astype(np.float64)).astype(np.float32)
