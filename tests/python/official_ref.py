"""Float64 PyTorch re-implementation of the official CartoonGAN generator (written from
../shared/README.md's description), the reference for the conformance test.

usage: official_ref.py WEIGHTS.safetensors IN.safetensors OUT.safetensors
IN holds `x` [N,3,H,W] (BGR, [-1,1]); OUT gets `out` (computed in float64, stored as float32).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

torch.set_num_threads(2)
w, _ = st_io.load(sys.argv[1])
W = {k: torch.from_numpy(v).double() for k, v in w.items()}
x = torch.from_numpy(st_io.load(sys.argv[2])[0]["x"]).double()


def conv(h, name, stride=1, pad=0):
    return F.conv2d(h, W[name + ".weight"], W[name + ".bias"], stride, pad)


def deconv(h, name):
    return F.conv_transpose2d(h, W[name + ".weight"], W[name + ".bias"], 2, 1, output_padding=1)


def inorm(h, name, eps=1e-9):
    mean = h.mean(dim=(2, 3), keepdim=True)
    var = h.var(dim=(2, 3), keepdim=True, unbiased=False)
    h = (h - mean) / torch.sqrt(var + eps)
    return h * W[name + ".scale"].view(1, -1, 1, 1) + W[name + ".shift"].view(1, -1, 1, 1)


def rpad(h, p):
    return F.pad(h, (p, p, p, p), mode="reflect")


with torch.no_grad():
    h = F.relu(inorm(conv(rpad(x, 3), "conv01_1"), "in01_1"))
    h = F.relu(inorm(conv(conv(h, "conv02_1", 2, 1), "conv02_2", 1, 1), "in02_1"))
    h = F.relu(inorm(conv(conv(h, "conv03_1", 2, 1), "conv03_2", 1, 1), "in03_1"))
    for r in range(4, 12):
        y = F.relu(inorm(conv(rpad(h, 1), "conv%02d_1" % r), "in%02d_1" % r))
        h = h + inorm(conv(rpad(y, 1), "conv%02d_2" % r), "in%02d_2" % r)
    h = F.relu(inorm(conv(deconv(h, "deconv01_1"), "deconv01_2", 1, 1), "in12_1"))
    h = F.relu(inorm(conv(deconv(h, "deconv02_1"), "deconv02_2", 1, 1), "in13_1"))
    out = torch.tanh(conv(rpad(h, 3), "deconv03_1"))
# float32 is plenty to carry a float64 result into a >= 45 dB comparison (~140 dB rounding).
st_io.save(sys.argv[3], {"out": out.numpy().astype("float32")})
