#!/usr/bin/python3
"""The seed document's edge_smooth recipe, as written there (cv2 + numpy, pixel loop), used
as an independent reference for cgan::edge_smooth. Only the command line is added.

usage: seed_edge_smooth.py IN_IMAGE OUT_PNG [--size 256] [--no-resize]
Writes the seed's result: [resized input | smoothed] side by side, BGR via cv2.imwrite.
"""
import argparse
import sys

import cv2
import numpy as np


def edge_smooth(img_path, size, resize):
    kernel_size = 5
    kernel = np.ones((kernel_size, kernel_size), np.uint8)
    gauss = cv2.getGaussianKernel(kernel_size, 0)
    gauss = gauss * gauss.transpose(1, 0)

    bgr_img = cv2.imread(img_path)
    if bgr_img is None:
        raise SystemExit("cannot read " + img_path)
    if resize:
        bgr_img = cv2.resize(bgr_img, (size, size))
    pad_img = np.pad(bgr_img, ((2, 2), (2, 2), (0, 0)), mode='reflect')

    gray_img = cv2.cvtColor(bgr_img, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(gray_img, 100, 200)
    dilation = cv2.dilate(edges, kernel)

    gauss_img = np.copy(bgr_img)
    idx = np.where(dilation != 0)
    for i in range(np.sum(dilation != 0)):
        gauss_img[idx[0][i], idx[1][i], 0] = np.sum(np.multiply(
            pad_img[idx[0][i]:idx[0][i] + kernel_size, idx[1][i]:idx[1][i] + kernel_size, 0], gauss))
        gauss_img[idx[0][i], idx[1][i], 1] = np.sum(np.multiply(
            pad_img[idx[0][i]:idx[0][i] + kernel_size, idx[1][i]:idx[1][i] + kernel_size, 1], gauss))
        gauss_img[idx[0][i], idx[1][i], 2] = np.sum(np.multiply(
            pad_img[idx[0][i]:idx[0][i] + kernel_size, idx[1][i]:idx[1][i] + kernel_size, 2], gauss))

    return np.concatenate((bgr_img, gauss_img), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--no-resize", action="store_true")
    a = ap.parse_args()
    if not cv2.imwrite(a.output, edge_smooth(a.input, a.size, not a.no_resize)):
        raise SystemExit("cannot write " + a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
