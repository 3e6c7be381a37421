"""The seed document's Generator and Discriminator in PyTorch (written from its description),
used as an independent reference for cgan's SeedGenerator / SeedDiscriminator."""
import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(ch, ch, 3, 1, 1), nn.InstanceNorm2d(ch), nn.ReLU(),
            nn.Conv2d(ch, ch, 3, 1, 1), nn.InstanceNorm2d(ch))

    def forward(self, x):
        return x + self.block(x)


class Generator(nn.Module):
    def __init__(self, img_channels=3, f=64, residuals=8):
        super().__init__()
        self.initial = nn.Sequential(nn.Conv2d(img_channels, f, 7, 1, 3),
                                     nn.InstanceNorm2d(f), nn.ReLU())
        self.down_blocks = nn.ModuleList([
            nn.Conv2d(f, 2 * f, 3, 2, 1), nn.Conv2d(2 * f, 2 * f, 3, 1, 1),
            nn.InstanceNorm2d(2 * f), nn.ReLU(),
            nn.Conv2d(2 * f, 4 * f, 3, 2, 1), nn.Conv2d(4 * f, 4 * f, 3, 1, 1),
            nn.InstanceNorm2d(4 * f), nn.ReLU()])
        self.res_blocks = nn.Sequential(*[ResidualBlock(4 * f) for _ in range(residuals)])
        self.up_blocks = nn.ModuleList([
            nn.ConvTranspose2d(4 * f, 2 * f, 3, 2, 1, output_padding=1),
            nn.Conv2d(2 * f, 2 * f, 3, 1, 1), nn.InstanceNorm2d(2 * f), nn.ReLU(),
            nn.ConvTranspose2d(2 * f, f, 3, 2, 1, output_padding=1),
            nn.Conv2d(f, f, 3, 1, 1), nn.InstanceNorm2d(f), nn.ReLU()])
        self.last = nn.Conv2d(f, img_channels, 7, 1, 3)

    def forward(self, x):
        x = self.initial(x)
        for layer in self.down_blocks:
            x = layer(x)
        x = self.res_blocks(x)
        for layer in self.up_blocks:
            x = layer(x)
        return torch.tanh(self.last(x))


class Discriminator(nn.Module):
    def __init__(self, in_channels=3, out_channels=1, features=(32, 64, 128, 256)):
        super().__init__()
        f = features

        def conv(i, o, s):
            return nn.Conv2d(i, o, 3, s, 1, padding_mode="reflect")

        self.model = nn.Sequential(
            conv(in_channels, f[0], 1), nn.LeakyReLU(0.2),
            conv(f[0], f[1], 2), nn.LeakyReLU(0.2),
            conv(f[1], f[2], 1), nn.InstanceNorm2d(f[2]), nn.LeakyReLU(0.2),
            conv(f[2], f[2], 2), nn.LeakyReLU(0.2),
            conv(f[2], f[3], 1), nn.InstanceNorm2d(f[3]), nn.LeakyReLU(0.2),
            conv(f[3], f[3], 1), nn.InstanceNorm2d(f[3]), nn.LeakyReLU(0.2),
            conv(f[3], out_channels, 1))

    def forward(self, x):
        return self.model(x)
