"""Real networks written in PyTorch from their public sources, and the golden JSON of each:
the output shape of every named stage, per-stage parameter counts and the whole network's.

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


NETWORKS = {"unet_milesial": (UNet, (1, 3, 250, 250))}


def measure(name: str) -> dict[str, object]:
    """Every named stage's output shape and parameter count, on the meta device."""
    cls, shape = NETWORKS[name]
    with torch.device("meta"):
        model = cls().eval()
    stages: dict[str, object] = {}
    for stage, module in model.named_children():
        module.register_forward_hook(lambda m, a, out, stage=stage: stages.__setitem__(stage, list(out.shape)))
    with torch.no_grad():
        out = model(torch.zeros(shape, device="meta"))
    return {
        "input": list(shape), "output": list(out.shape), "param_count": sum(p.numel() for p in model.parameters()),
        "stages": {s: {"output": stages[s], "param_count": sum(p.numel() for p in m.parameters())}
                   for s, m in model.named_children()},
    }


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name in NETWORKS:
        (HERE / f"{name}.json").write_text(json.dumps(measure(name), indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")
