"""Runs the seed's PyTorch networks on cgan's weights and inputs, on cgan's branch, in float64
(the oracle) and float32 (stock PyTorch, to calibrate the test's tolerances); writes outputs and
gradients.

usage: seed_parity.py gen|disc WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors
       --features F [F F F] --residuals R
INPUTS holds `x` (network input), `r` (loss = sum(out * r)) and `dec.0`, `dec.1`, ...: cgan's
outputs of the network's ReLU / LeakyReLU ops in call order (tests/common/probe_util.hpp), so
that both precisions differentiate the branch cgan took (tests/python/branch.py). OUT gets, for
TAG f64 and f32, `TAG.out`, `TAG.d_x` and `TAG.grad.<param>` for every parameter (f64 as NAME +
NAME.lo, two float32: cgan's reader has no F64), and the metadata "ops": JSON, one entry per
nonsmooth op (branch.record). load_state_dict(strict=True) checks the names.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_nets  # noqa: E402
import st_io  # noqa: E402
from branch import Feed, install, split64  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("net", choices=["gen", "disc"])
p.add_argument("weights")
p.add_argument("inputs")
p.add_argument("out")
p.add_argument("--features", type=int, nargs="+", required=True)
p.add_argument("--residuals", type=int, default=8)
a = p.parse_args()

torch.set_num_threads(2)
w, _ = st_io.load(a.weights)
ins, _ = st_io.load(a.inputs)
decisions = []
while "dec.%d" % len(decisions) in ins:
    decisions.append(torch.from_numpy(ins["dec.%d" % len(decisions)]))
res, records, z_store = {}, [], {}
# float32 first: its op inputs (z_store) are what the float64 run's statistics compare.
for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
    net = (seed_nets.Generator(3, a.features[0], a.residuals) if a.net == "gen"
           else seed_nets.Discriminator(3, 1, tuple(a.features))).to(dtype)
    net.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in w.items()}, strict=True)
    feed = Feed(records, z_store)
    install(net, feed)
    x = torch.from_numpy(ins["x"]).to(dtype).requires_grad_(True)
    feed.start(a.net, decisions)
    out = net(x)
    feed.stop()
    (out * torch.from_numpy(ins["r"]).to(dtype)).sum().backward()
    got = {"out": out.detach(), "d_x": x.grad}
    for name, prm in net.named_parameters():
        got["grad." + name] = prm.grad
    for name, t in got.items():
        if tag == "f64":
            split64(tag + "." + name, t.numpy(), res)
        else:
            res[tag + "." + name] = t.numpy()
st_io.save(a.out, res, {"ops": json.dumps(records)})
