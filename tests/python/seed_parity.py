"""Runs the seed's PyTorch networks on cgan's weights and inputs; writes outputs and gradients.

usage: seed_parity.py gen|disc WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors
       --features F [F F F] --residuals R
INPUTS holds `x` (network input) and `r` (loss = sum(out * r)). OUT gets `out`, `d_x` and
`grad.<param>` for every parameter. load_state_dict(strict=True) checks the names.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_nets  # noqa: E402
import st_io  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("net", choices=["gen", "disc"])
p.add_argument("weights")
p.add_argument("inputs")
p.add_argument("out")
p.add_argument("--features", type=int, nargs="+", required=True)
p.add_argument("--residuals", type=int, default=8)
a = p.parse_args()

torch.set_num_threads(2)
net = (seed_nets.Generator(3, a.features[0], a.residuals) if a.net == "gen"
       else seed_nets.Discriminator(3, 1, tuple(a.features)))
w, _ = st_io.load(a.weights)
net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()}, strict=True)
ins, _ = st_io.load(a.inputs)
x = torch.from_numpy(ins["x"]).requires_grad_(True)
out = net(x)
(out * torch.from_numpy(ins["r"])).sum().backward()
res = {"out": out.detach().numpy(), "d_x": x.grad.numpy()}
for name, prm in net.named_parameters():
    res["grad." + name] = prm.grad.numpy()
st_io.save(a.out, res)
