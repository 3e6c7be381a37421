"""Independent PyTorch reference for cgan's VGG19 features (content-loss path).

usage: vgg_ref.py WEIGHTS.safetensors IN.safetensors OUT.safetensors --layer conv4_4|conv3_2
                  [--before-relu] [--ours OURS.safetensors] [--eps E] [--eps-rms E]

The network is torchvision's `vgg19().features` order (conv 3x3 pad 1, ReLU, 2x2 max pool; the
weights are `features.N.weight/bias`), cut after conv4_4 / conv3_2 (after its ReLU unless
--before-relu), in float64. It runs unrolled layer by layer (F.conv2d, relu, max_pool2d) with a
hand-written backward, so that the backward's decisions can be overridden (below). A crop of
the first case is also run through an nn.Sequential built by hand (nn.Conv2d, nn.ReLU,
nn.MaxPool2d) and autograd, which must give the same features and input gradient to 1e-12.

The input convention is read from the weights file's __metadata__ "preprocessing":
  "caffe"               BGR, 0..255, minus the BGR mean (103.939, 116.779, 123.68)
  absent/"torchvision"  RGB, [0, 1], minus (0.485, 0.456, 0.406), divided by (0.229, 0.224, 0.225)
IN holds cases k = 0, 1, ...: tensors `x.k` ([N,3,H,W] in [-1, 1]) and `r.k` (same shape as
the features) and metadata `order.k` ("rgb" or "bgr": the channel order of x.k).
OUT gets `feat.k` and `d_x.k` = d sum(feat * r) / d x (float64 results stored as float32) and
the metadata `preprocessing` the script used.

Float32 error model (tests/common/vgg_ref_util.hpp explains the numbers):
  * --eps (default 2^-16): a float32 engine computes every conv pre-activation z_u within
    eps * s_u of float64's, s_u = (|W| * |h| + |b|)_u being the unit's absolute-value scale.
  * --eps-rms (default 2^-20): the same in RMS terms: the error of z_u behaves like a normal
    variable of standard deviation eps_rms * s_u, and each conv of the backward has an RMS
    error within eps_rms of the RMS of that product's absolute-value scale (|W|^T |dz|).
The input gradient depends on the forward only through its decisions, the ReLU masks (z > 0)
and the 2x2 max-pool routes. A decision whose float64 margin is inside the model's error may
come out either way in float32 (a "candidate"), and then moves one unit's whole gradient path.
OUT also gets:
  feat_scale.k   s at the features (|f_float32 - feat| <= eps * feat_scale per element; the
                 ReLU is 1-Lipschitz, so also after it)
  d_x_plain.k    the float64 gradient with float64's own decisions
  metadata tau.k the relative error (L2) the float32 gradient may have for a fixed set of
                 decisions: eps_rms * sqrt(1 + sum_l rho_l^2), rho_l = ||(|W_l|^T |dz_l|)|| /
                 ||W_l^T dz_l|| (each backward conv's absolute-value scale over its value; the
                 layers' rounding errors are independent, so they add in quadrature)
  metadata candidates.k  the number of candidates that carry gradient (-1: not looked for)
With --ours (safetensors with the engine's `d_x.k`): where that gradient is further than tau/4
(L2) or tau (max-norm) from d_x_plain, the script looks for the candidates the engine took the
other way, in rounds: <d, v_j> for every candidate from one forward-mode pass (d what is left of
the difference, v_j the first-order change of the gradient if candidate j flips), v_j for the
best 12, then greedy selection of the flips that explain d. d_x.k is then the exact float64
gradient with those decisions flipped (recomputed, not first-order), and metadata flips.k /
flip_list.k name them (layer, kind, position, margin from the tie in units of eps * s). Only
candidates can flip, and only so many: under the RMS model candidate j flips with probability
P_j = erfc(gap_j / (sqrt(2) eps_rms sigma_j)) / 2 (sigma_j its scale), so the count has mean
flips_expected.k = sum_j P_j and, being a sum of independent Bernoullis, a tail no heavier than
Poisson's; flip_cap.k is where that tail drops below 1e-6. The search stops past the cap, so a
wrong backward (which changes the gradient everywhere, or many decisions) is never explained
away. Without --ours, or where nothing needs explaining, d_x.k = d_x_plain.k (flips 0, cap 0).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512]
# Index into `features` of each conv we may stop at.
CONV_INDEX = {"conv3_2": 12, "conv4_4": 25}
# features.N index of every conv up to conv4_4, and whether a 2x2 max pool follows its ReLU.
CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25]
POOL_AFTER = [False, True, False, True, False, False, False, True, False, False, False, False]
NAMES = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
         "conv4_1", "conv4_2", "conv4_3", "conv4_4"]


class VGG19Cut(nn.Module):
    def __init__(self, stop):
        super().__init__()
        layers, ch = [], 3
        for v in CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(ch, v, kernel_size=3, padding=1), nn.ReLU()]
                ch = v
        self.features = nn.Sequential(*layers[:stop])

    def forward(self, x):
        return self.features(x)


def preprocess_affine(order, convention, dtype=torch.float64):
    """(mul, add, flip): preprocess(x) = flip?(x) * mul + add per channel (after the flip)."""
    if convention == "caffe":
        mean = torch.tensor([103.939, 116.779, 123.68], dtype=dtype)
        return torch.full((3,), 127.5, dtype=dtype), 127.5 - mean, order == "rgb"
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=dtype)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=dtype)
    return 0.5 / std, (0.5 - mean) / std, order == "bgr"


def preprocess(x, order, convention):
    """x in [-1, 1] with channels in `order` -> the tensor the weights expect."""
    if convention == "caffe":
        if order == "rgb":
            x = x.flip(1)  # -> BGR
        mean = torch.tensor([103.939, 116.779, 123.68], dtype=x.dtype).view(1, 3, 1, 1)
        return (x + 1.0) / 2.0 * 255.0 - mean
    if order == "bgr":
        x = x.flip(1)  # -> RGB
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype).view(1, 3, 1, 1)
    return ((x + 1.0) / 2.0 - mean) / std


class Trace:
    """The float64 forward unrolled layer by layer (same weights as the nn.Module), keeping what
    the decision analysis needs, and a hand-written backward whose decisions can be overridden."""

    def __init__(self, ws, bs, after_relu, xp, wabs, wabs_t):
        self.ws, self.bs, self.n, self.wabs, self.wabs_t = ws, bs, len(ws), wabs, wabs_t
        self.relu = [True] * self.n
        self.relu[-1] = after_relu
        self.pool = [POOL_AFTER[i] and i < self.n - 1 for i in range(self.n)]
        self.z, self.h, self.mask, self.route, self._s = [], [], [], [], {}
        h = xp
        for i in range(self.n):
            self.h.append(h)
            z = F.conv2d(h, ws[i], bs[i], padding=1)
            self.z.append(z)
            self.mask.append((z > 0).to(z.dtype) if self.relu[i] else None)
            h = torch.relu(z) if self.relu[i] else z
            if self.pool[i]:
                h, ind = F.max_pool2d(h, 2, 2, return_indices=True)
                self.route.append(ind)
            else:
                self.route.append(None)
        self.out = h

    def s(self, i):
        """The absolute-value scale |W| * |h| + |b| of conv i's pre-activations (on demand: a
        sum of positive terms, so float32 is plenty, and much faster)."""
        if i not in self._s:
            self._s[i] = F.conv2d(self.h[i].abs().float(), self.wabs[i],
                                  self.bs[i].abs().float(), padding=1).double()
        return self._s[i]

    def backward(self, seed, top=None, at_z=False, masks=None, routes=None, samples=None,
                 want=None):
        """Gradient with respect to the preprocessed input of <seed, block output of layer
        `top`> (or of its pre-activation z when at_z). masks/routes: per-layer overrides;
        samples: batch indices the seed's rows belong to (decisions gathered from those);
        want: a dict that gets the gradient at every ReLU output ("a", i), pool output
        ("p", i), pre-activation ("z", i) and conv input ("h", i)."""
        top = self.n - 1 if top is None else top
        g = seed
        for i in range(top, -1, -1):
            if not (at_z and i == top):
                if self.pool[i]:
                    if want is not None:
                        want[("p", i)] = g
                    r = routes[i] if routes and i in routes else self.route[i]
                    if samples is not None:
                        r = r[samples]
                    g = F.max_unpool2d(g, r, 2, 2, output_size=self.z[i].shape[-2:])
                if self.relu[i]:
                    if want is not None:
                        want[("a", i)] = g
                    m = masks[i] if masks and i in masks else self.mask[i]
                    g = g * (m[samples] if samples is not None else m)
            if want is not None:
                want[("z", i)] = g
            g = F.conv_transpose2d(g, self.ws[i], padding=1)
            if want is not None:
                want[("h", i)] = g
        return g

    def tangent(self, t):
        """Directional derivatives along t (a direction of the preprocessed input) of every
        pre-activation, through float64's decisions: one [N,C,H,W] per conv."""
        out = []
        for i in range(self.n):
            t = F.conv2d(t, self.ws[i], padding=1)
            out.append(t)
            if self.relu[i]:
                t = t * self.mask[i]
            if self.pool[i]:
                n, c, h, w = t.shape
                r = self.route[i]
                t = torch.gather(t.reshape(n, c, h * w), 2, r.reshape(n, c, -1)).reshape(r.shape)
        return out


def to_input_grad(gp, order, convention):
    """A gradient with respect to the preprocessed input -> with respect to x."""
    mul, _, flip = preprocess_affine(order, convention)
    g = gp * mul.view(1, 3, 1, 1)
    return g.flip(1) if flip else g


def tolerance(tr, want, eps_rms):
    """eps_rms * sqrt(1 + sum_l rho_l^2): see the module docstring."""
    acc = 1.0
    for i in range(tr.n):
        val = want[("h", i)].norm().item()
        # |W|^T |dz| as a conv with the transposed, flipped kernel (float32's fast path).
        absv = F.conv2d(want[("z", i)].abs().float(), tr.wabs_t[i], padding=1).double()
        absv = absv.norm().item()
        if val > 0:
            acc += (absv / val) ** 2
    return eps_rms * math.sqrt(acc)


def windows(t):
    """[N,C,H,W] -> [N,C,H//2,W//2,4] (the 2x2 pool windows, row-major within a window)."""
    n, c, h, w = t.shape
    t = t[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return t.permute(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)


def candidates(tr, want, eps):
    """Decisions that float32 may take either way under the model and that carry gradient.
    Each a dict: layer, kind, sample, seed (the first-order change as ((c, y, x), value) at
    the layer's pre-activation), mask/route (the overrides that flip it), gap (the float64
    distance from the tie) and sigma (the scale of the errors that could close it: s, or the
    two elements' s in quadrature), margin = gap / (eps * sigma), where (for the log)."""
    out = []
    for i in range(tr.n):
        if not tr.relu[i]:
            continue
        z, s = tr.z[i], tr.s(i)
        if not tr.pool[i]:
            ga = want[("a", i)]
            near = (z.abs() <= eps * s) & (ga != 0)
            pos = near.nonzero()
            sel = tuple(pos.t())
            for (n, c, y, x), zv, sv, gv in zip(pos.tolist(), z[sel].tolist(), s[sel].tolist(),
                                                ga[sel].tolist()):
                sign = -1.0 if zv > 0 else 1.0  # blocks / opens the path
                out.append({"layer": i, "kind": "relu", "sample": n,
                            "seed": [((c, y, x), sign * gv)],
                            "mask": [((n, c, y, x), 0.0 if zv > 0 else 1.0)], "route": [],
                            "gap": abs(zv), "sigma": sv, "margin": abs(zv) / (eps * sv),
                            "where": (n, c, y, x)})
            continue
        # ReLU then a 2x2 pool: the window's decision is which element (if any) gets its
        # gradient. Element e can in float32 if z_e may be > 0 and >= every other z_j.
        gp = want[("p", i)]
        zw, sw = windows(z), windows(s)
        hi, lo = zw + eps * sw, zw - eps * sw
        top2 = lo.topk(2, -1).values  # the largest lo among the others of e: top1 or top2
        others_lo = torch.where(lo == top2[..., :1], top2[..., 1:], top2[..., :1])
        can = (hi > 0) & (hi >= others_lo)
        can_none = (lo <= 0).all(-1)
        w_z = z.shape[-1]
        ref_flat = tr.route[i]  # flat index into the plane
        ref_in = ((ref_flat // w_z) % 2) * 2 + (ref_flat % w_z) % 2
        ref_pass = torch.gather(zw, -1, ref_in.unsqueeze(-1)).squeeze(-1) > 0
        is_ref = torch.arange(4) == ref_in.unsqueeze(-1)
        n_alt = (can & ~(is_ref & ref_pass.unsqueeze(-1))).sum(-1)
        amb = (gp != 0) & ((n_alt > 0) | (can_none & ref_pass))
        pos = amb.nonzero()
        sel = tuple(pos.t())
        for (n, c, wy, wx), g, a, a_pass, cn, cv, zz, ss in zip(
                pos.tolist(), gp[sel].tolist(), ref_in[sel].tolist(), ref_pass[sel].tolist(),
                can_none[sel].tolist(), can[sel].tolist(), zw[sel].tolist(), sw[sel].tolist()):
            ay, ax = 2 * wy + a // 2, 2 * wx + a % 2
            opts = [e for e in range(4) if cv[e] and not (e == a and a_pass)]
            if a_pass and cn:
                opts.append(None)
            top = max(range(4), key=lambda j: zz[j])
            for e in opts:
                seed, mask, route = [], [], []
                if a_pass:
                    seed.append(((c, ay, ax), -g))
                if e is None:
                    mask.append(((n, c, ay, ax), 0.0))
                    gap, sigma, what = zz[a], ss[a], "pool->none"
                else:
                    ey, ex = 2 * wy + e // 2, 2 * wx + e % 2
                    seed.append(((c, ey, ex), g))
                    mask.append(((n, c, ey, ex), 1.0))
                    route.append(((n, c, wy, wx), ey * w_z + ex))
                    # How far e is from winning: its gap to the window's max (or to 0).
                    gap = max(zz[top] - zz[e], -zz[e], 0.0)
                    sigma = math.hypot(ss[e], ss[top]) if zz[top] - zz[e] >= -zz[e] else ss[e]
                    what = "pool->%d" % e
                out.append({"layer": i, "kind": what, "sample": n, "seed": seed, "mask": mask,
                            "route": route, "gap": gap, "sigma": sigma,
                            "margin": gap / (eps * sigma), "where": (n, c, wy, wx)})
    return out


def shortlist(tr, cands, d, order, convention, skip, keep=12):
    """The `keep` candidates (not in skip) whose flip vectors v_j correlate best with d:
    <d, v_j> for all of them from one forward-mode pass (v_j = to_input_grad(J_z^T seed_j), so
    <d, v_j> = <seed_j, J_z t> with t the adjoint of to_input_grad applied to d)."""
    mul, _, flip = preprocess_affine(order, convention)
    tz = tr.tangent((d.flip(1) if flip else d) * mul.view(1, 3, 1, 1))
    score = {j: sum(v * tz[cd["layer"]][cd["sample"], c, y, x].item()
                    for (c, y, x), v in cd["seed"])
             for j, cd in enumerate(cands) if j not in skip}
    best = sorted(score, key=lambda j: -score[j])[:keep]
    return [j for j in best if score[j] > 0]


def flip_vectors(tr, cands, js_all, order, convention, vecs):
    """Fills vecs[j], the first-order change of d_x (one sample's [3,H,W]) if candidate j
    flips, for j in js_all (batched by layer)."""
    by_layer = {}
    for j in js_all:
        by_layer.setdefault(cands[j]["layer"], []).append(j)
    for i, js in by_layer.items():
        for b in range(0, len(js), 32):
            chunk = js[b:b + 32]
            seed = torch.zeros((len(chunk),) + tuple(tr.z[i].shape[1:]), dtype=torch.float64)
            for row, j in enumerate(chunk):
                for (c, y, x), v in cands[j]["seed"]:
                    seed[row, c, y, x] += v
            samples = torch.tensor([cands[j]["sample"] for j in chunk])
            g = tr.backward(seed, top=i, at_z=True, samples=samples)
            g = to_input_grad(g, order, convention)
            for row, j in enumerate(chunk):
                vecs[j] = g[row]


def flip_cap(cands, eps_rms):
    """The most flips an engine within the RMS model may take in this case: each candidate
    flips when its rounding error (normal, sigma = eps_rms * its scale; one-sided) exceeds its
    gap, so the count is a sum of independent Bernoullis with mean lam = sum_j P_j, whose tail
    is no heavier than Poisson(lam)'s; the cap is where that tail drops below 1e-6."""
    lam = sum(0.5 * math.erfc(cd["gap"] / (eps_rms * cd["sigma"] * math.sqrt(2))) for cd in cands)
    n, term, cdf = 0, math.exp(-lam), math.exp(-lam)
    while 1.0 - cdf > 1e-6:
        n += 1
        term *= lam / n
        cdf += term
    return lam, n


def search(tr, cands, d, g, tau, cap, order, convention):
    """Flips (indices into cands) whose first-order vectors explain d ([N,3,H,W]): rounds of
    a shortlist by correlation with what is left, then greedy selection (a flip is taken
    where its least-squares coefficient rounds to 1), until the rest is within tau/4 (L2) and
    tau (max-norm), nothing more helps, or more than `cap` are taken. Flips too small to
    matter against tau (a sixteenth of it in L2 and a quarter in max-norm) are not taken."""
    vecs, chosen, resid = [None] * len(cands), [], d.clone()
    gnorm, gmax = g.norm().item(), g.abs().max().item()
    while len(chosen) <= cap:
        if resid.norm().item() <= tau / 4 * gnorm and resid.abs().max().item() <= tau * gmax:
            break
        js = shortlist(tr, cands, resid, order, convention,
                       {j for j in range(len(cands)) if vecs[j] is not None})
        if not js:
            break
        flip_vectors(tr, cands, js, order, convention, vecs)
        usable = [j for j in range(len(cands)) if vecs[j] is not None and j not in chosen and (
            vecs[j].norm().item() > tau / 16 * gnorm
            or vecs[j].abs().max().item() > tau / 4 * gmax)]
        taken = 0
        while len(chosen) <= cap:
            best, best_gain = None, 0.0
            for j in usable:
                if j in chosen:
                    continue
                n, v = cands[j]["sample"], vecs[j]
                vv = (v * v).sum().item()
                dv = (resid[n] * v).sum().item()
                if dv > 0.5 * vv and 2 * dv - vv > best_gain:  # coefficient rounds to 1
                    best, best_gain = j, 2 * dv - vv
            if best is None:
                break
            chosen.append(best)
            resid[cands[best]["sample"]] -= vecs[best]
            taken += 1
        if taken == 0:
            break
    return chosen


def overrides(tr, cands, chosen):
    masks, routes = {}, {}
    for j in chosen:
        cd = cands[j]
        i = cd["layer"]
        if cd["mask"]:
            masks.setdefault(i, tr.mask[i].clone())
            for pos, v in cd["mask"]:
                masks[i][pos] = v
        if cd["route"]:
            routes.setdefault(i, tr.route[i].clone())
            for pos, v in cd["route"]:
                routes[i][pos] = v
    return masks, routes


def self_check(net, ws, bs, after_relu, x, order, convention, wabs, wabs_t):
    """The unrolled forward and hand-written backward must give the nn.Module's features and
    autograd's input gradient (the same float64 values). On a crop of odd size (floor pooling
    at every pool) with fixed random loss weights, to keep it cheap."""
    xc = x[:1, :, :min(x.shape[2], 27), :min(x.shape[3], 23)].clone().requires_grad_(True)
    f_mod = net(preprocess(xc, order, convention))
    r = torch.rand(f_mod.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype) - 0.5
    (f_mod * r).sum().backward()
    with torch.no_grad():
        tr = Trace(ws, bs, after_relu, preprocess(xc.detach(), order, convention), wabs, wabs_t)
        g = to_input_grad(tr.backward(r), order, convention)
    for name, (u, v) in {"features": (tr.out, f_mod.detach()),
                         "gradient": (g, xc.grad)}.items():
        if rel_errors(u, v)[1] > 1e-12:
            sys.exit("vgg_ref.py: unrolled %s differ from the nn.Module's" % name)


def rel_errors(a, b):
    return ((a - b).norm() / b.norm()).item(), ((a - b).abs().max() / b.abs().max()).item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("inputs")
    p.add_argument("out")
    p.add_argument("--layer", choices=sorted(CONV_INDEX), required=True)
    p.add_argument("--before-relu", action="store_true")
    p.add_argument("--ours", help="safetensors with d_x.k of the engine under test")
    p.add_argument("--eps", type=float, default=2.0 ** -16)
    p.add_argument("--eps-rms", type=float, default=2.0 ** -20)
    a = p.parse_args()

    torch.set_num_threads(2)
    w, meta = st_io.load(a.weights)
    convention = meta.get("preprocessing", "torchvision")
    if convention not in ("caffe", "torchvision"):
        sys.exit("vgg_ref.py: unknown preprocessing %r" % convention)
    stop = CONV_INDEX[a.layer] + (1 if a.before_relu else 2)
    net = VGG19Cut(stop).double()
    wanted = net.state_dict().keys()
    missing = [k for k in wanted if k not in w]
    if missing:
        sys.exit("vgg_ref.py: %s lacks %s" % (a.weights, ", ".join(missing)))
    # Extra tensors (deeper convs, a classifier) are ignored, as cgan's loader does.
    net.load_state_dict({k: torch.from_numpy(w[k]).double() for k in wanted}, strict=True)
    net.requires_grad_(False)  # only d/dx is wanted
    nconv = CONVS.index(CONV_INDEX[a.layer]) + 1
    ws = [torch.from_numpy(w["features.%d.weight" % i]).double() for i in CONVS[:nconv]]
    bs = [torch.from_numpy(w["features.%d.bias" % i]).double() for i in CONVS[:nconv]]
    ours = st_io.load(a.ours)[0] if a.ours else None

    ins, in_meta = st_io.load(a.inputs)
    res, out_meta = {}, {"preprocessing": convention, "eps": repr(a.eps),
                         "eps_rms": repr(a.eps_rms)}
    k = 0
    # For the scales s and rho: sums of positive terms, float32 is plenty (and much faster).
    wabs = [w_.abs().float() for w_ in ws]
    wabs_t = [w_.transpose(0, 1).flip(2, 3).contiguous() for w_ in wabs]
    while "x.%d" % k in ins:
        order = in_meta["order.%d" % k]
        x = torch.from_numpy(ins["x.%d" % k]).double()
        r = torch.from_numpy(ins["r.%d" % k]).double()
        with torch.no_grad():
            tr = Trace(ws, bs, not a.before_relu, preprocess(x, order, convention), wabs,
                       wabs_t)
            feat = tr.out
            if tuple(r.shape) != tuple(feat.shape):
                sys.exit("vgg_ref.py: r.%d has shape %s, features %s" % (k, list(r.shape),
                                                                          list(feat.shape)))
            want = {}
            g_plain = to_input_grad(tr.backward(r, want=want), order, convention)
        if k == 0:
            self_check(net, ws, bs, not a.before_relu, x, order, convention, wabs, wabs_t)
        with torch.no_grad():
            tau = tolerance(tr, want, a.eps_rms)
            cands, g, chosen, lam, cap = None, g_plain, [], 0.0, 0
            if ours is not None:
                d = torch.from_numpy(ours["d_x.%d" % k]).double() - g_plain
                l2, mx = rel_errors(g_plain + d, g_plain)
                if l2 > tau / 4 or mx > tau:
                    cands = candidates(tr, want, a.eps)
                    lam, cap = flip_cap(cands, a.eps_rms)
                    chosen = search(tr, cands, d, g_plain, tau, cap, order, convention)
                    if chosen:
                        masks, routes = overrides(tr, cands, chosen)
                        g = to_input_grad(tr.backward(r, masks=masks, routes=routes), order,
                                          convention)
        ks = str(k)
        res["feat." + ks] = feat.numpy().astype("float32")
        res["feat_scale." + ks] = tr.s(tr.n - 1).numpy().astype("float32")
        res["d_x." + ks] = g.numpy().astype("float32")
        res["d_x_plain." + ks] = g_plain.numpy().astype("float32")
        out_meta["tau." + ks] = repr(tau)
        out_meta["candidates." + ks] = str(len(cands)) if cands is not None else "-1"
        out_meta["flips." + ks] = str(len(chosen))
        out_meta["flip_cap." + ks] = str(cap)
        out_meta["flips_expected." + ks] = repr(lam)
        out_meta["flip_list." + ks] = "; ".join(
            "%s %s at %s margin %.3g" % (NAMES[cands[j]["layer"]], cands[j]["kind"],
                                            list(cands[j]["where"]), cands[j]["margin"])
            for j in chosen)
        k += 1
    if k == 0:
        sys.exit("vgg_ref.py: no x.0 in %s" % a.inputs)
    st_io.save(a.out, res, out_meta)


if __name__ == "__main__":
    main()
