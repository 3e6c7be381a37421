#!/usr/bin/env python3
"""Independent PyTorch computation of CartoonGAN training steps, for test_train_pytorch.

Reads (all safetensors, written by the C++ test):
  init.safetensors   generator.* / discriminator.* parameters before the first step
                     (metadata "cgan_test": JSON with widths, lr, betas, weight, steps)
  batches.safetensors step{k}.photos / step{k}.cartoons / step{k}.smoothed, [B,3,S,S] in [-1,1] RGB
  vgg.safetensors    features.N.weight/bias; metadata "preprocessing": "caffe" or absent
Writes out.safetensors: generator.* / discriminator.* after the steps and
  losses [steps, 5] = d_real, d_smooth, d_fake, g_adv, content (content unweighted).

Networks: tests/python/seed_nets.py (the seed document's description: zero-padded generator
with non-affine InstanceNorm2d, reflect-padded PatchGAN discriminator). The training step is
the usual PyTorch one: D on real/smoothed/detached fake, then G through D with adversarial +
w*content. No `safetensors` package needed: the format is 8-byte LE header length + JSON +
raw data.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_nets import Discriminator, Generator  # noqa: E402


def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class VGGFeatures(nn.Module):
    """torchvision vgg19().features[:26] (conv4_4) or [:14] (conv3_2), optionally with ReLU."""

    def __init__(self, weights, caffe, last_conv_index, after_relu):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512]
        layers, i, cin = [], 0, 3
        for v in cfg:
            if i > last_conv_index:
                break
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                i += 1
                continue
            conv = nn.Conv2d(cin, v, 3, 1, 1)
            conv.weight.data.copy_(weights["features.%d.weight" % i])
            conv.bias.data.copy_(weights["features.%d.bias" % i])
            layers.append(conv)
            if i < last_conv_index or after_relu:
                layers.append(nn.ReLU())
            i += 2
            cin = v
        self.f = nn.Sequential(*layers)
        self.caffe = caffe
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):  # x: RGB in [-1, 1]
        if self.caffe:
            x = (x + 1) * 127.5
            x = x[:, [2, 1, 0]] - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
        else:
            x = (x + 1) / 2
            x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / \
                torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return self.f(x)


def main(workdir):
    torch.set_num_threads(1)
    init, meta = read_st(workdir + "/init.safetensors")
    cfg = json.loads(meta["cgan_test"])
    batches, _ = read_st(workdir + "/batches.safetensors")
    vggw, vmeta = read_st(workdir + "/vgg.safetensors")

    G = Generator(3, cfg["g_features"], cfg["g_residuals"])
    D = Discriminator(3, 1, tuple(cfg["d_features"]))
    G.load_state_dict({k[len("generator."):]: v for k, v in init.items() if k.startswith("generator.")})
    D.load_state_dict({k[len("discriminator."):]: v for k, v in init.items() if k.startswith("discriminator.")})
    last = 25 if cfg["content_layer"] == "conv4_4" else 12
    vgg = VGGFeatures(vggw, vmeta.get("preprocessing") == "caffe", last, cfg["after_relu"])

    betas = (cfg["beta1"], cfg["beta2"])
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr_g"], betas=betas, eps=cfg["eps"])
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=betas, eps=cfg["eps"])
    w = cfg["content_weight"]
    losses = []
    for k in range(cfg["steps"]):
        photos = batches["step%d.photos" % k]
        cartoons = batches["step%d.cartoons" % k]
        smoothed = batches["step%d.smoothed" % k]
        adversarial = k >= cfg["init_steps"]
        fake = G(photos)  # once per step, reused by both updates
        row = [float("nan")] * 5
        if adversarial:
            opt_d.zero_grad()
            d_out_real = D(cartoons)
            d_real = F.mse_loss(d_out_real, torch.ones_like(d_out_real))
            d_out_smooth = D(smoothed)
            d_smooth = F.mse_loss(d_out_smooth, torch.zeros_like(d_out_smooth))
            d_out_fake = D(fake.detach())
            d_fake = F.mse_loss(d_out_fake, torch.zeros_like(d_out_fake))
            (d_real + d_smooth + d_fake).backward()
            opt_d.step()
            row[0:3] = [d_real.item(), d_smooth.item(), d_fake.item()]
        opt_g.zero_grad()
        content = F.l1_loss(vgg(fake), vgg(photos).detach())
        g_loss = w * content
        if adversarial:
            d_out = D(fake)
            g_adv = F.mse_loss(d_out, torch.ones_like(d_out))
            g_loss = g_loss + g_adv
            row[3] = g_adv.item()
        g_loss.backward()
        opt_g.step()
        row[4] = content.item()
        losses.append(row)

    out = {"generator." + k: v for k, v in G.state_dict().items()}
    out.update({"discriminator." + k: v for k, v in D.state_dict().items()})
    out["losses"] = torch.tensor(losses, dtype=torch.float32)
    write_st(workdir + "/out.safetensors", out)
    print("reference done:", losses)


if __name__ == "__main__":
    main(sys.argv[1])
