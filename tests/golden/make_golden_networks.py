"""Real networks written in PyTorch from their public sources, and the golden JSON of each:
the output shape of every named stage, per-stage parameter counts and MACs, and the whole network's.

    python tests/golden/make_golden_networks.py     (needs torch)

Each network here is the PyTorch module a file in configs/ transcribes; the tests compare the
file's propagation with this JSON, and with the module itself when torch is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent / "networks"


# -- milesial/Pytorch-UNet (unet/unet_parts.py, unet/unet_model.py), bilinear=False ------------


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        dy, dx = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = 2) -> None:
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1, self.down2, self.down3, self.down4 = Down(64, 128), Down(128, 256), Down(256, 512), Down(512, 1024)
        self.up1, self.up2, self.up3, self.up4 = Up(1024, 512), Up(512, 256), Up(256, 128), Up(128, 64)
        self.outc = nn.Conv2d(64, n_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


# -- descriptinc/melgan-neurips (mel2wav/modules.py): Generator(80, ngf=32, n_residual_layers=3) ---
# Weight norm left out (the convolutions of inference, after remove_weight_norm), as the file says.


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad1d(dilation), nn.Conv1d(dim, dim, kernel_size=3, dilation=dilation),
            nn.LeakyReLU(0.2), nn.Conv1d(dim, dim, kernel_size=1),
        )
        self.shortcut = nn.Conv1d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class MelGAN(nn.Sequential):
    """The generator's nn.Sequential, its stages named: pre, up1, res1_1 ... res4_3, post."""

    def __init__(self, input_size: int = 80, ngf: int = 32, n_residual_layers: int = 3) -> None:
        super().__init__()
        mult = 16
        self.add_module("pre", nn.Sequential(nn.ReflectionPad1d(3), nn.Conv1d(input_size, mult * ngf, 7)))
        for i, r in enumerate([8, 8, 2, 2], start=1):
            self.add_module(f"up{i}", nn.Sequential(nn.LeakyReLU(0.2), nn.ConvTranspose1d(
                mult * ngf, mult * ngf // 2, kernel_size=r * 2, stride=r, padding=r // 2 + r % 2, output_padding=r % 2)))
            for j in range(n_residual_layers):
                self.add_module(f"res{i}_{j + 1}", ResnetBlock(mult * ngf // 2, dilation=3**j))
            mult //= 2
        self.add_module("post", nn.Sequential(nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(ngf, 1, 7), nn.Tanh()))


# -- jik876/hifi-gan (models.py): Generator with config_v1.json, weight norm left out -------------


class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList([nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                               padding=(kernel_size * d - d) // 2) for d in dilation])
        self.convs2 = nn.ModuleList([nn.Conv1d(channels, channels, kernel_size, 1, dilation=1,
                                               padding=(kernel_size - 1) // 2) for _ in dilation])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
            x = xt + x
        return x


class HiFiStage(nn.Module):
    """One upsampling of the generator's forward: leaky ReLU, ConvTranspose1d, the mean of the resblocks."""

    def __init__(self, cin: int, u: int, k: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose1d(cin, cin // 2, k, u, padding=(k - u) // 2)
        self.resblocks = nn.ModuleList([ResBlock1(cin // 2, rk) for rk in (3, 7, 11)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up(F.leaky_relu(x, 0.1))
        return sum(block(x) for block in self.resblocks) / len(self.resblocks)  # type: ignore[return-value]


class HiFiGAN(nn.Sequential):
    def __init__(self) -> None:
        super().__init__()
        self.add_module("conv_pre", nn.Conv1d(80, 512, 7, 1, padding=3))
        for i, (u, k) in enumerate(zip([8, 8, 2, 2], [16, 16, 4, 4]), start=1):
            self.add_module(f"stage{i}", HiFiStage(512 // 2 ** (i - 1), u, k))
        self.add_module("post", nn.Sequential(nn.LeakyReLU(0.01), nn.Conv1d(32, 1, 7, 1, padding=3), nn.Tanh()))


# -- 3D U-Net, Cicek et al. 2016 (arXiv:1606.06650, Fig. 1): valid 3x3x3 convs, BN, ReLU -----------


def double_conv3d(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, mid, 3), nn.BatchNorm3d(mid), nn.ReLU(),
                         nn.Conv3d(mid, cout, 3), nn.BatchNorm3d(cout), nn.ReLU())


class CropCat3d(nn.Module):
    """torch.cat([up, center crop of skip to up's size]), then the two convolutions of the level."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = double_conv3d(cin, cout, cout)

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        starts = [(s - u) // 2 for s, u in zip(skip.shape[2:], up.shape[2:])]
        skip = skip[(..., *(slice(a, a + u) for a, u in zip(starts, up.shape[2:])))]
        return self.conv(torch.cat([up, skip], dim=1))


class UNet3D(nn.Module):
    def __init__(self, in_channels: int = 3, labels: int = 3) -> None:
        super().__init__()
        self.enc1, self.pool1 = double_conv3d(in_channels, 32, 64), nn.MaxPool3d(2)
        self.enc2, self.pool2 = double_conv3d(64, 64, 128), nn.MaxPool3d(2)
        self.enc3, self.pool3 = double_conv3d(128, 128, 256), nn.MaxPool3d(2)
        self.bottom = double_conv3d(256, 256, 512)
        self.up3, self.dec3 = nn.ConvTranspose3d(512, 512, 2, 2), CropCat3d(512 + 256, 256)
        self.up2, self.dec2 = nn.ConvTranspose3d(256, 256, 2, 2), CropCat3d(256 + 128, 128)
        self.up1, self.dec1 = nn.ConvTranspose3d(128, 128, 2, 2), CropCat3d(128 + 64, 64)
        self.out = nn.Conv3d(64, labels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool1(e1))
        e3 = self.enc3(self.pool2(e2))
        x = self.bottom(self.pool3(e3))
        x = self.dec3(self.up3(x), e3)
        x = self.dec2(self.up2(x), e2)
        x = self.dec1(self.up1(x), e1)
        return self.out(x)


NETWORKS = {
    "unet_milesial": (UNet, (1, 3, 250, 250)),
    "melgan_generator": (MelGAN, (1, 80, 32)),
    "hifigan_generator_v1": (HiFiGAN, (1, 80, 32)),
    "unet3d_cicek": (UNet3D, (1, 3, 132, 132, 116)),
}


def measure(name: str) -> dict[str, object]:
    """Every named stage's output shape, parameter count and MACs (FlopCounterMode FLOPs / 2), on the
    meta device."""
    cls, shape = NETWORKS[name]
    with torch.device("meta"):
        model = cls().eval()
    stages: dict[str, object] = {}
    for stage, module in model.named_children():
        module.register_forward_hook(lambda m, a, out, stage=stage: stages.__setitem__(stage, list(out.shape)))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.zeros(shape, device="meta"))
    flops = counter.get_flop_counts()
    return {
        "input": list(shape), "output": list(out.shape), "param_count": sum(p.numel() for p in model.parameters()),
        "macs": counter.get_total_flops() // 2,
        "stages": {s: {"output": stages[s], "param_count": sum(p.numel() for p in m.parameters()),
                       "macs": sum(flops.get(f"{cls.__name__}.{s}", {}).values()) // 2}
                   for s, m in model.named_children()},
    }


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name in NETWORKS:
        (HERE / f"{name}.json").write_text(json.dumps(measure(name), indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")
