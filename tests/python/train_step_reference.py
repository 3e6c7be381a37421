#!/usr/bin/env python3
"""Independent PyTorch computation of CartoonGAN training steps, for test_train_pytorch.

usage: train_step_reference.py WORKDIR                     (what the test runs: --check)
       train_step_reference.py WORKDIR --free-run float32|float64 [--out NAME]

Reads (all safetensors, written by the C++ test):
  init.safetensors    generator.* / discriminator.* parameters before the first step
                      (metadata "cgan_test": JSON with widths, lr, betas, eps, weight, steps)
  batches.safetensors step{k}.photos / step{k}.cartoons / step{k}.smoothed, [B,3,S,S] in [-1,1]
  vgg.safetensors     features.N.weight/bias; metadata "preprocessing": "caffe" or absent
  ours.safetensors    (--check only) cgan's trajectory: step{k}.generator.* /
                      step{k}.discriminator.* = parameters before step k (k = steps: after the
                      last), step{k}.grad.generator.* (every step) and step{k}.grad.discriminator.*
                      (adversarial steps) = the gradients cgan's step k handed to Adam.

--check (default) writes ref.safetensors, everything evaluated AT CGAN'S PARAMETERS of each
step (teacher forcing), so that no step inherits the previous steps' differences:
  {f64,f32}.step{k}.losses [5]     d_real, d_smooth, d_fake, g_adv, content (NaN: not computed)
  {f64,f32}.step{k}.grad.<param>   the gradient of step k at cgan's parameters P_k
  adam.step{k}.<param>             Adam's update (P_{k+1} - P_k) from cgan's P_k and cgan's
                                   gradients of steps 0..k (moments carried over the steps),
                                   in float64
  f64 runs the whole computation in float64 (the oracle); f32 is stock float32 PyTorch on this
  machine, measured against the oracle by the test to calibrate its tolerances. float64 values
  are stored as two float32 tensors, NAME (the rounded value) and NAME.lo (the remainder), since
  cgan's reader has no F64: NAME + NAME.lo carries ~48 bits.

--free-run runs the old end-to-end comparison: the steps from init.safetensors in the given
precision, each from its own previous parameters, and writes generator.* / discriminator.*
after the steps and losses [steps, 5] to out.safetensors (or --out). A diagnostic only: Adam
moves every weight by ~lr whatever the size of its gradient, so two float32 trajectories drift
apart by O(lr) wherever a gradient is within rounding of 0, and the next steps' gradients are
taken at different weights (see test_train_pytorch.cpp).

Networks: tests/python/seed_nets.py (the seed document's description: zero-padded generator
with non-affine InstanceNorm2d, reflect-padded PatchGAN discriminator). The training step is
the usual PyTorch one: D on real/smoothed/detached fake, then G through the updated D with
adversarial + w*content. No `safetensors` package needed.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
from branch import Feed, install, record, split64  # noqa: E402
from seed_nets import Discriminator, Generator  # noqa: E402,F401  (bench imports them here)


class Files:
    """The test's input files, read once (numpy arrays, converted per precision on use)."""

    def __init__(self, workdir, with_ours):
        self.init, meta = st_io.load(workdir + "/init.safetensors")
        self.cfg = json.loads(meta["cgan_test"])
        self.batches, _ = st_io.load(workdir + "/batches.safetensors")
        self.vgg, self.vgg_meta = st_io.load(workdir + "/vgg.safetensors")
        self.ours = st_io.load(workdir + "/ours.safetensors")[0] if with_ours else None


def as_torch(arrays, dtype, prefix=""):
    """{name without prefix: tensor in dtype} for the names that start with prefix."""
    return {k[len(prefix):]: torch.from_numpy(v).to(dtype) for k, v in arrays.items()
            if k.startswith(prefix)}


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
            w = weights["features.%d.weight" % i]
            # No random init (it would be overwritten; 0.1 s per VGG)
            conv = torch.nn.utils.skip_init(nn.Conv2d, cin, v, 3, 1, 1, dtype=w.dtype)
            conv.weight.data.copy_(w)
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
            x = x[:, [2, 1, 0]] - x.new_tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
        else:
            x = (x + 1) / 2
            x = (x - x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / \
                x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return self.f(x)


class Setup:
    """The networks, VGG, Adam settings and batches in one precision."""

    def __init__(self, files, dtype, records=None, z_store=None, with_vgg=True):
        self.dtype = dtype
        self.cfg = cfg = files.cfg
        self.batches = as_torch(files.batches, dtype)
        self.G = Generator(3, cfg["g_features"], cfg["g_residuals"]).to(dtype)
        self.D = Discriminator(3, 1, tuple(cfg["d_features"])).to(dtype)
        self.load(self.G, as_torch(files.init, dtype, "generator."))
        self.load(self.D, as_torch(files.init, dtype, "discriminator."))
        self.records = [] if records is None else records
        self.z_store = {} if z_store is None else z_store
        self.feeds = {}
        nets = [("G", self.G), ("D", self.D)]
        if with_vgg:
            last = 25 if cfg["content_layer"] == "conv4_4" else 12
            wanted = {"features.%d.%s" % (i, t) for i in range(last + 1)
                      for t in ("weight", "bias")}
            vggw = {k: torch.from_numpy(v).to(dtype) for k, v in files.vgg.items() if k in wanted}
            self.vgg = VGGFeatures(vggw, files.vgg_meta.get("preprocessing") == "caffe", last,
                                   cfg["after_relu"])
            nets.append(("vgg", self.vgg))
        for tag, net in nets:
            self.feeds[tag] = Feed(self.records, self.z_store)
            install(net, self.feeds[tag])

    @staticmethod
    def load(net, tensors):
        net.load_state_dict(tensors, strict=True)

    def adams(self):
        c = self.cfg
        betas = (c["beta1"], c["beta2"])
        return (torch.optim.Adam(self.G.parameters(), lr=c["lr_g"], betas=betas, eps=c["eps"]),
                torch.optim.Adam(self.D.parameters(), lr=c["lr_d"], betas=betas, eps=c["eps"]))

    def call(self, tag, x, label, ours):
        """net(x), on cgan's branch when `ours` (cgan's tensors of this step) is given."""
        net = {"G": self.G, "D": self.D, "vgg": self.vgg}[tag]
        feed = self.feeds[tag]
        if ours is not None:
            outs, i = [], 0
            while "%s.%d" % (label, i) in ours:
                outs.append(ours["%s.%d" % (label, i)])
                i += 1
            assert outs, "ours.safetensors lacks " + label
            feed.start(label, outs)
        try:
            return net(x)
        finally:
            feed.stop()

    def step(self, k, d_after=None, opt_d=None, ours=None):
        """Step k's losses and gradients at the current weights. The D update happens between
        D's gradient and G's adversarial term: by opt_d.step() (free run) or by loading
        d_after (cgan's D after its update; check). ours: cgan's decisions of this step
        (dict: step{k}.G.i, step{k}.D.<call>.i, step{k}.vgg.i, step{k}.feat.fake/photo), to
        evaluate the step on cgan's branch."""
        photos = self.batches["step%d.photos" % k]
        cartoons = self.batches["step%d.cartoons" % k]
        smoothed = self.batches["step%d.smoothed" % k]
        adversarial = k >= self.cfg["init_steps"]
        G, D = self.G, self.D
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)
        p = "step%d." % k
        fake = self.call("G", photos, p + "G", ours)  # once per step, reused by both updates
        row = [float("nan")] * 5
        d_grads = None
        if adversarial:
            terms = []
            for name, x, target in (("real", cartoons, 1.0), ("smooth", smoothed, 0.0),
                                    ("fake", fake.detach(), 0.0)):
                o = self.call("D", x, p + "D." + name, ours)
                terms.append(F.mse_loss(o, torch.full_like(o, target)))
            sum(terms).backward()
            row[0:3] = [t.item() for t in terms]
            d_grads = {n: p_.grad.clone() for n, p_ in D.named_parameters()}
            if opt_d is not None:
                opt_d.step()
            if d_after is not None:
                with torch.no_grad():
                    for n, p_ in D.named_parameters():
                        p_.copy_(d_after[n])
        a = self.call("vgg", fake, p + "vgg", ours)
        with torch.no_grad():
            b = self.vgg(photos)
        content = F.l1_loss(a, b)
        if ours is None:
            branch = content
        else:
            # The L1 loss on cgan's branch: sign(a - b) as cgan's features give it (0 where
            # they are equal, as both cgan and PyTorch take the sign of 0).
            diff = ours[p + "feat.fake"].to(a.dtype) - ours[p + "feat.photo"].to(a.dtype)
            sign = torch.sign(diff)
            branch = (sign * (a - b)).mean()
            z = (a - b).detach()
            record(self.records, self.z_store, p + "L1", "l1", z,
                   (diff - z).abs().max().item(), sign != torch.sign(z), z.abs())
        g_loss = self.cfg["content_weight"] * branch
        if adversarial:
            d_out = self.call("D", fake, p + "D.gadv", ours)
            g_adv = F.mse_loss(d_out, torch.ones_like(d_out))
            g_loss = g_loss + g_adv
            row[3] = g_adv.item()
        g_loss.backward()
        row[4] = content.item()
        g_grads = {n: p_.grad.clone() for n, p_ in G.named_parameters()}
        return row, g_grads, d_grads


def check(workdir):
    files = Files(workdir, with_ours=True)
    ours = files.ours
    res, records, z_store = {}, [], {}
    # float32 first: its op inputs (z_store) are what the float64 run's statistics compare.
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        s = Setup(files, dtype, records, z_store)
        for k in range(s.cfg["steps"]):
            pre = "step%d." % k
            s.load(s.G, as_torch(ours, dtype, pre + "generator."))
            s.load(s.D, as_torch(ours, dtype, pre + "discriminator."))
            d_after = as_torch(ours, dtype, "step%d.discriminator." % (k + 1))
            # cgan's decisions, step{k}.dec.X -> step{k}.X (the labels Setup.step uses)
            branch = {pre + n: v for n, v in as_torch(ours, torch.float64, pre + "dec.").items()}
            row, g_grads, d_grads = s.step(k, d_after=d_after, ours=branch)
            grads = {"generator." + n: g for n, g in g_grads.items()}
            if d_grads is not None:
                grads.update({"discriminator." + n: g for n, g in d_grads.items()})
            if tag == "f64":
                split64(tag + "." + pre + "losses", row, res)
                for n, g in grads.items():
                    split64(tag + "." + pre + "grad." + n, g.numpy(), res)
            else:
                res[tag + "." + pre + "losses"] = np.asarray(row, dtype=np.float32)
                for n, g in grads.items():
                    res[tag + "." + pre + "grad." + n] = g.numpy()

    # Adam in float64 on cgan's own gradients: each step starts from cgan's P_k, the moments
    # carry over the steps as in cgan's optimizer; no gradient (D in the init phase): no step.
    s = Setup(files, torch.float64, with_vgg=False)
    opt_g, opt_d = s.adams()
    for k in range(s.cfg["steps"]):
        pre = "step%d." % k
        for net, opt, prefix in ((s.G, opt_g, "generator."), (s.D, opt_d, "discriminator.")):
            grads = as_torch(ours, torch.float64, pre + "grad." + prefix)
            if not grads:
                continue
            p0 = as_torch(ours, torch.float64, pre + prefix)
            with torch.no_grad():
                for n, p in net.named_parameters():
                    p.copy_(p0[n])
                    p.grad = grads[n]
            opt.step()
            with torch.no_grad():
                for n, p in net.named_parameters():
                    split64("adam." + pre + prefix + n, (p - p0[n]).numpy(), res)
    st_io.save(workdir + "/ref.safetensors", res)
    with open(workdir + "/ops.json", "w") as f:
        json.dump(records, f, indent=0)
    print("reference done")


def free_run(workdir, dtype, out_name):
    s = Setup(Files(workdir, with_ours=False), dtype)
    opt_g, opt_d = s.adams()
    losses = []
    for k in range(s.cfg["steps"]):
        row, _, _ = s.step(k, opt_d=opt_d)
        opt_g.step()
        losses.append(row)
    out = {"generator." + k: v.numpy() for k, v in s.G.state_dict().items()}
    out.update({"discriminator." + k: v.numpy() for k, v in s.D.state_dict().items()})
    out["losses"] = np.asarray(losses, dtype=np.float64)
    st_io.save(os.path.join(workdir, out_name), out)
    print("free run done:", losses)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("--free-run", choices=["float32", "float64"])
    ap.add_argument("--out", default="out.safetensors")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.free_run:
        free_run(a.workdir, getattr(torch, a.free_run), a.out)
    else:
        check(a.workdir)


if __name__ == "__main__":
    main()
