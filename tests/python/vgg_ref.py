"""Independent PyTorch reference for cgan's VGG19 features (content-loss path).

usage: vgg_ref.py WEIGHTS.safetensors IN.safetensors OUT.safetensors --layer conv4_4|conv3_2
                  [--before-relu]

The network is built by hand in torchvision's `vgg19().features` order (nn.Conv2d 3x3 pad 1,
nn.ReLU, nn.MaxPool2d(2, 2)) so the state_dict keys are `features.N.weight/bias`, and is cut
after conv4_4 / conv3_2 (after its ReLU unless --before-relu). It runs in float64.

The input convention is read from the weights file's __metadata__ "preprocessing":
  "caffe"               BGR, 0..255, minus the BGR mean (103.939, 116.779, 123.68)
  absent/"torchvision"  RGB, [0, 1], minus (0.485, 0.456, 0.406), divided by (0.229, 0.224, 0.225)
IN holds cases k = 0, 1, ...: tensors `x.k` ([N,3,H,W] in [-1, 1]) and `r.k` (same shape as
the features) and metadata `order.k` ("rgb" or "bgr": the channel order of x.k).
OUT gets `feat.k` and `d_x.k` = d sum(feat * r) / d x (float64 results stored as float32) and
the metadata `preprocessing` the script used.
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512]
# Index into `features` of each conv we may stop at.
CONV_INDEX = {"conv3_2": 12, "conv4_4": 25}


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("inputs")
    p.add_argument("out")
    p.add_argument("--layer", choices=sorted(CONV_INDEX), required=True)
    p.add_argument("--before-relu", action="store_true")
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

    ins, in_meta = st_io.load(a.inputs)
    res = {}
    k = 0
    while "x.%d" % k in ins:
        order = in_meta["order.%d" % k]
        x = torch.from_numpy(ins["x.%d" % k]).double().requires_grad_(True)
        feat = net(preprocess(x, order, convention))
        r = torch.from_numpy(ins["r.%d" % k]).double()
        if tuple(r.shape) != tuple(feat.shape):
            sys.exit("vgg_ref.py: r.%d has shape %s, features %s" % (k, list(r.shape),
                                                                      list(feat.shape)))
        (feat * r).sum().backward()
        res["feat.%d" % k] = feat.detach().numpy().astype("float32")
        res["d_x.%d" % k] = x.grad.numpy().astype("float32")
        k += 1
    if k == 0:
        sys.exit("vgg_ref.py: no x.0 in %s" % a.inputs)
    st_io.save(a.out, res, {"preprocessing": convention})


if __name__ == "__main__":
    main()
