"""Real networks written in PyTorch from their public sources, and the golden JSON of each:
the output shape of every named stage, and layer by layer every module that holds parameters
(output shape, parameter count, MACs = torch.utils.flop_counter FLOPs / 2), with the whole
network's outputs, parameters and MACs.

    python tests/golden/make_golden_networks.py     (needs torch)

Each network here is the PyTorch module a file in configs/ transcribes (the file names the
source); the tests compare the file's propagation with this JSON, and with the module itself
when torch is installed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
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


# -- junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py): ResnetGenerator, resnet_9blocks,
# norm 'instance' (InstanceNorm2d without affine, tracking running stats), so every conv has a bias


def instance_norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=True)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), instance_norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        model: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), instance_norm(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), instance_norm(ngf * mult * 2),
                      nn.ReLU(True)]
        model += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                      instance_norm(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# -- sanghyun-son/EDSR-PyTorch (src/model/edsr.py, src/model/common.py): EDSR baseline x2,
# n_resblocks 16, n_feats 64, res_scale 1, rgb_range 255


class MeanShift(nn.Conv2d):
    """A frozen 1x1 convolution that subtracts (or adds back) the data set's mean colour: its
    weights are set from rgb_range and the mean in the source, which shapes do not need."""

    def __init__(self) -> None:
        super().__init__(3, 3, kernel_size=1)
        for p in self.parameters():
            p.requires_grad = False


def default_conv(cin: int, cout: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=bias)


class EDSRResBlock(nn.Module):
    def __init__(self, n_feats: int, kernel_size: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(default_conv(n_feats, n_feats, kernel_size), nn.ReLU(True),
                                  default_conv(n_feats, n_feats, kernel_size))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x).mul(self.res_scale)
        res += x
        return res


class Upsampler(nn.Sequential):
    def __init__(self, scale: int, n_feats: int) -> None:
        m: list[nn.Module] = []
        for _ in range(int(math.log(scale, 2))):
            m += [default_conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
        super().__init__(*m)


class EDSR(nn.Module):
    def __init__(self, n_resblocks: int = 16, n_feats: int = 64, scale: int = 2, res_scale: float = 1) -> None:
        super().__init__()
        self.sub_mean = MeanShift()
        self.add_mean = MeanShift()
        self.head = nn.Sequential(default_conv(3, n_feats, 3))
        self.body = nn.Sequential(*[EDSRResBlock(n_feats, 3, res_scale) for _ in range(n_resblocks)],
                                  default_conv(n_feats, n_feats, 3))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), default_conv(n_feats, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sub_mean(x)
        x = self.head(x)
        res = self.body(x)
        res += x
        x = self.tail(res)
        return self.add_mean(x)


# -- rosinality/vq-vae-2-pytorch (vqvae.py): the bottom Decoder of VQVAE(), `self.dec`:
# in_channel = embed_dim * 2 = 128, out_channel 3, channel 128, n_res_block 2, n_res_channel 32, stride 4


class VQResBlock(nn.Module):
    def __init__(self, in_channel: int, channel: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.ReLU(), nn.Conv2d(in_channel, channel, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channel, in_channel, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        out += x
        return out


class VQDecoder(nn.Module):
    def __init__(self, in_channel: int = 128, out_channel: int = 3, channel: int = 128, n_res_block: int = 2,
                 n_res_channel: int = 32) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channel, channel, 3, padding=1)]
        blocks += [VQResBlock(channel, n_res_channel) for _ in range(n_res_block)]
        blocks += [nn.ReLU(inplace=True), nn.ConvTranspose2d(channel, channel // 2, 4, stride=2, padding=1),
                   nn.ReLU(inplace=True), nn.ConvTranspose2d(channel // 2, out_channel, 4, stride=2, padding=1)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


# -- pytorch/examples (dcgan/main.py): Generator, nz 100, ngf 64, nc 3 --------------------------


class DCGANGenerator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


# -- descriptinc/melgan-neurips (mel2wav/modules.py): Generator(80, ngf=32, n_residual_layers=3) ---
# Weight norm left out (the convolutions of inference, after remove_weight_norm), as the file says.


class MelGANResnetBlock(nn.Module):
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
                self.add_module(f"res{i}_{j + 1}", MelGANResnetBlock(mult * ngf // 2, dilation=3**j))
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


# -- delta-onera/segnet_pytorch (segnet.py): SegNet, VGG16 encoder with batch norm, decoder by
# max unpooling with the encoder's indices; input_nbr 3, label_nbr 12


def segnet_convs() -> list[tuple[str, int, int]]:
    """(name, in, out) of every conv, in the source's order: encoder conv11..conv53, decoder
    conv53d..conv11d."""
    enc = [("11", 3, 64), ("12", 64, 64), ("21", 64, 128), ("22", 128, 128), ("31", 128, 256), ("32", 256, 256),
           ("33", 256, 256), ("41", 256, 512), ("42", 512, 512), ("43", 512, 512), ("51", 512, 512),
           ("52", 512, 512), ("53", 512, 512)]
    dec = [("53d", 512, 512), ("52d", 512, 512), ("51d", 512, 512), ("43d", 512, 512), ("42d", 512, 512),
           ("41d", 512, 256), ("33d", 256, 256), ("32d", 256, 256), ("31d", 256, 128), ("22d", 128, 128),
           ("21d", 128, 64), ("12d", 64, 64), ("11d", 64, 12)]
    return [(f"conv{n}", cin, cout) for n, cin, cout in enc + dec]


class SegNet(nn.Module):
    STAGES = (("11", "12"), ("21", "22"), ("31", "32", "33"), ("41", "42", "43"), ("51", "52", "53"))

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout in segnet_convs():
            setattr(self, name, nn.Conv2d(cin, cout, kernel_size=3, padding=1))
            if name != "conv11d":
                setattr(self, "bn" + name[4:], nn.BatchNorm2d(cout, momentum=0.1))

    def block(self, x: torch.Tensor, n: str) -> torch.Tensor:
        return F.relu(getattr(self, "bn" + n)(getattr(self, "conv" + n)(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = []
        for stage in self.STAGES:
            for n in stage:
                x = self.block(x, n)
            x, i = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
            ids.append(i)
        for stage in reversed(self.STAGES):
            x = F.max_unpool2d(x, ids.pop(), kernel_size=2, stride=2)
            for n in reversed(stage):
                x = self.conv11d(x) if n == "11" else self.block(x, n + "d")
        return x


# -- the ResNet of torchvision (torchvision/models/resnet.py; VainF/DeepLabV3Plus-Pytorch keeps a
# copy in network/backbone/resnet.py), up to layer4, as IntermediateLayerGetter returns it


def conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.misc.FrozenBatchNorm2d: fixed statistics and affine terms, all buffers."""

    def __init__(self, n: int) -> None:
        super().__init__()
        for name, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((n,), fill))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        return x * scale.reshape(1, -1, 1, 1) + (self.bias - self.running_mean * scale).reshape(1, -1, 1, 1)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: int = 1, norm: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv1x1(inplanes, planes), norm(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride, dilation), norm(planes)
        self.conv3, self.bn3 = conv1x1(planes, planes * 4), norm(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNetFeatures(nn.Module):
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]) without avgpool and fc; forward gives layer1..layer4."""

    def __init__(self, replace_stride_with_dilation: tuple[bool, bool, bool] = (False, False, False),
                 norm: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.norm, self.inplanes, self.dilation = norm, 64, 1
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(256, 6, stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(512, 3, stride=2, dilate=replace_stride_with_dilation[2])

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * 4, stride), self.norm(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, previous_dilation, self.norm)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, dilation=self.dilation, norm=self.norm) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features


# -- VainF/DeepLabV3Plus-Pytorch (network/_deeplab.py, network/modeling.py, network/utils.py):
# deeplabv3plus_resnet50, output_stride 16 (layer4 dilated, ASPP rates 6, 12, 18), 21 classes


class ASPP(nn.Module):
    def __init__(self, in_channels: int, rates: tuple[int, int, int], out_channels: int = 256) -> None:
        super().__init__()

        def cbr(conv: nn.Conv2d) -> list[nn.Module]:
            return [conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]

        self.convs = nn.ModuleList(
            [nn.Sequential(*cbr(nn.Conv2d(in_channels, out_channels, 1, bias=False)))]
            + [nn.Sequential(*cbr(nn.Conv2d(in_channels, out_channels, 3, padding=r, dilation=r, bias=False)))
               for r in rates]
            + [nn.Sequential(nn.AdaptiveAvgPool2d(1), *cbr(nn.Conv2d(in_channels, out_channels, 1, bias=False)))]
        )
        self.project = nn.Sequential(*cbr(nn.Conv2d(5 * out_channels, out_channels, 1, bias=False)), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = [conv(x) for conv in self.convs]
        res[-1] = F.interpolate(res[-1], size=x.shape[-2:], mode="bilinear", align_corners=False)  # ASPPPooling
        return self.project(torch.cat(res, dim=1))


class DeepLabHeadV3Plus(nn.Module):
    def __init__(self, in_channels: int = 2048, low_level_channels: int = 256, num_classes: int = 21,
                 aspp_dilate: tuple[int, int, int] = (6, 12, 18)) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(low_level_channels, 48, 1, bias=False), nn.BatchNorm2d(48),
                                     nn.ReLU(inplace=True))
        self.aspp = ASPP(in_channels, aspp_dilate)
        self.classifier = nn.Sequential(nn.Conv2d(304, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                        nn.ReLU(inplace=True), nn.Conv2d(256, num_classes, 1))

    def forward(self, low_level: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        low_level_feature = self.project(low_level)
        output_feature = self.aspp(out)
        output_feature = F.interpolate(output_feature, size=low_level_feature.shape[2:], mode="bilinear",
                                       align_corners=False)
        return self.classifier(torch.cat([low_level_feature, output_feature], dim=1))


class DeepLabV3Plus(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNetFeatures(replace_stride_with_dilation=(False, False, True))
        self.classifier = DeepLabHeadV3Plus()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        y = self.classifier(features[0], features[3])
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


# -- pytorch/vision: resnet_fpn_backbone('resnet50') of Faster R-CNN
# (torchvision/models/detection/backbone_utils.py, torchvision/ops/feature_pyramid_network.py):
# ResNet-50 with FrozenBatchNorm2d, FeaturePyramidNetwork([256, 512, 1024, 2048], 256) on
# layer1..layer4 and the LastLevelMaxPool extra block


class FeaturePyramidNetwork(nn.Module):
    def __init__(self, in_channels_list: list[int], out_channels: int) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels_list)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        last_inner = self.inner_blocks[-1](x[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(x) - 2, -1, -1):
            inner_lateral = self.inner_blocks[idx](x[idx])
            inner_top_down = F.interpolate(last_inner, size=inner_lateral.shape[-2:], mode="nearest")
            last_inner = inner_lateral + inner_top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))  # LastLevelMaxPool
        return results


class ResNetFPN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = ResNetFeatures(norm=FrozenBatchNorm2d)
        self.fpn = FeaturePyramidNetwork([256, 512, 1024, 2048], 256)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.fpn(self.body(x))


# -- CompVis/latent-diffusion (ldm/modules/diffusionmodules/model.py): the Decoder of the KL-f4
# autoencoder (configs/autoencoder/autoencoder_kl_64x64x3.yaml: z_channels 3, ch 128,
# ch_mult [1, 2, 4], num_res_blocks 2, attn_resolutions [], dropout 0), so attention only in the middle


def normalize(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


class LDMResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = normalize(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.dropout, self.conv2 = normalize(cout), nn.Dropout(0.0), nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = normalize(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_ = self.norm(x)
        q, k, v = self.q(h_), self.k(h_), self.v(h_)
        b, c, h, w = q.shape
        w_ = torch.bmm(q.reshape(b, c, h * w).permute(0, 2, 1), k.reshape(b, c, h * w)) * (int(c) ** (-0.5))
        w_ = F.softmax(w_, dim=2)
        h_ = torch.bmm(v.reshape(b, c, h * w), w_.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(h_)


class LDMUpsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class LDMDecoder(nn.Module):
    def __init__(self, ch: int = 128, out_ch: int = 3, ch_mult: tuple[int, ...] = (1, 2, 4), num_res_blocks: int = 2,
                 z_channels: int = 3) -> None:
        super().__init__()
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1 = LDMResnetBlock(block_in, block_in), AttnBlock(block_in)
        self.mid.block_2 = LDMResnetBlock(block_in, block_in)
        self.up = nn.ModuleList()
        for i_level in reversed(range(len(ch_mult))):
            up = nn.Module()
            up.block = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                up.block.append(LDMResnetBlock(block_in, ch * ch_mult[i_level]))
                block_in = ch * ch_mult[i_level]
            if i_level != 0:
                up.upsample = LDMUpsample(block_in)
            self.up.insert(0, up)
        self.norm_out, self.conv_out = normalize(block_in), nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i_level in reversed(range(len(self.up))):
            for block in self.up[i_level].block:
                h = block(h)
            if i_level != 0:
                h = self.up[i_level].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


# -- ultralytics/yolov5 v6.0 (models/yolov5s.yaml, models/common.py, models/yolo.py): YOLOv5s,
# depth_multiple 0.33, width_multiple 0.50, nc 80, 3 anchors per level; Detect's three 1x1 convs
# (their reshape to (bs, 3, ny, nx, 85) and the box decoding left out)


class YOLOConv(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class YOLOBottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1, self.cv2 = YOLOConv(c1, c_, 1, 1), YOLOConv(c_, c2, 3, 1)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C3(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1, self.cv2, self.cv3 = YOLOConv(c1, c_, 1, 1), YOLOConv(c1, c_, 1, 1), YOLOConv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(YOLOBottleneck(c_, c_, shortcut, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))


class SPPF(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1, self.cv2 = YOLOConv(c1, c_, 1, 1), YOLOConv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class YOLOv5s(nn.Module):
    """models/yolo.py's parse_model of yolov5s.yaml, written out: channels x 0.5, repeats x 0.33."""

    def __init__(self, nc: int = 80, na: int = 3) -> None:
        super().__init__()
        self.model = nn.ModuleList([
            YOLOConv(3, 32, 6, 2, 2), YOLOConv(32, 64, 3, 2), C3(64, 64, 1), YOLOConv(64, 128, 3, 2), C3(128, 128, 2),
            YOLOConv(128, 256, 3, 2), C3(256, 256, 3), YOLOConv(256, 512, 3, 2), C3(512, 512, 1), SPPF(512, 512, 5),
            YOLOConv(512, 256, 1, 1), nn.Upsample(None, 2, "nearest"), nn.Identity(), C3(512, 256, 1, False),
            YOLOConv(256, 128, 1, 1), nn.Upsample(None, 2, "nearest"), nn.Identity(), C3(256, 128, 1, False),
            YOLOConv(128, 128, 3, 2), nn.Identity(), C3(256, 256, 1, False),
            YOLOConv(256, 256, 3, 2), nn.Identity(), C3(512, 512, 1, False),
        ])
        self.detect = nn.ModuleList(nn.Conv2d(c, na * (nc + 5), 1) for c in (128, 256, 512))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        concat = {12: 6, 16: 4, 19: 14, 22: 10}  # the Concat layers: index -> the earlier layer joined
        y: list[torch.Tensor] = []
        for i, m in enumerate(self.model):
            x = torch.cat([x, y[concat[i]]], 1) if i in concat else m(x)
            y.append(x)
        return [conv(y[i]) for conv, i in zip(self.detect, (17, 20, 23))]


# -- the networks and what the golden files hold ----------------------------------------------


@dataclass(frozen=True)
class Network:
    """A module, its input, and its stages: a tensor's name in the file -> the module (path in
    the torch module) whose output that tensor is."""

    build: Callable[[], nn.Module]
    input: tuple[int, ...]
    stages: dict[str, str] = field(default_factory=dict)


def same(*names: str) -> dict[str, str]:
    return {n: n for n in names}


NETWORKS = {
    "unet_milesial": Network(UNet, (1, 3, 250, 250),
                             same("inc", "down1", "down2", "down3", "down4", "up1", "up2", "up3", "up4", "outc")),
    "cyclegan_resnet_generator": Network(ResnetGenerator, (1, 3, 128, 128), {
        "stem": "model.3", "down1": "model.6", "down2": "model.9",
        **{f"blocks.{i}": f"model.{10 + i}" for i in range(9)}, "up1": "model.21", "up2": "model.24",
        "out": "model.27"}),
    "edsr_baseline_x2": Network(EDSR, (1, 3, 48, 48), {
        "sub_mean": "sub_mean", "head": "head", **{f"body.{i}": f"body.{i}" for i in range(16)},
        "body_conv": "body.16", "upsample": "tail.0", "tail": "tail", "add_mean": "add_mean"}),
    "vqvae2_decoder": Network(VQDecoder, (1, 128, 32, 32), {
        "conv_in": "blocks.0", "res.0": "blocks.1", "res.1": "blocks.2", "up1": "blocks.4", "up2": "blocks.6"}),
    "dcgan_generator": Network(DCGANGenerator, (1, 100, 1, 1)),
    "melgan_generator": Network(MelGAN, (1, 80, 32), same(
        "pre", *(n for i in range(1, 5) for n in (f"up{i}", *(f"res{i}_{j}" for j in range(1, 4)))), "post")),
    "hifigan_generator_v1": Network(HiFiGAN, (1, 80, 32), same("conv_pre", "stage1", "stage2", "stage3", "stage4", "post")),
    "unet3d_cicek": Network(UNet3D, (1, 3, 132, 132, 116), same(
        "enc1", "pool1", "enc2", "pool2", "enc3", "pool3", "bottom", "up3", "dec3", "up2", "dec2", "up1", "dec1", "out")),
    "segnet": Network(SegNet, (1, 3, 64, 64), same(*(name for name, _, _ in segnet_convs()))),
    "deeplabv3plus_resnet50": Network(DeepLabV3Plus, (1, 3, 128, 128), {
        **{f"layer{i}": f"backbone.layer{i}" for i in range(1, 5)}, "low_level": "classifier.project",
        "aspp": "classifier.aspp", "classifier": "classifier.classifier"}),
    "fasterrcnn_resnet50_fpn_backbone": Network(ResNetFPN, (1, 3, 200, 200), {
        f"layer{i}": f"body.layer{i}" for i in range(1, 5)}),
    "ldm_kl_f4_decoder": Network(LDMDecoder, (1, 3, 16, 16), {
        "conv_in": "conv_in", "mid_block_1": "mid.block_1", "mid_attn_1": "mid.attn_1", "mid_block_2": "mid.block_2",
        "up2": "up.2.upsample", "up1": "up.1.upsample", "up0": "up.0.block.2", "conv_out": "conv_out"}),
    "yolov5s": Network(YOLOv5s, (1, 3, 128, 128), {
        "p3": "model.4", "p4": "model.6", "sppf": "model.9", "head10": "model.10", "head13": "model.13",
        "head14": "model.14", "small": "model.17", "medium": "model.20", "large": "model.23"}),
}


def shapes(out: object) -> list[list[int]]:
    """The shapes of a module's outputs: one tensor, a tuple or list of them, or a dict's values."""
    if isinstance(out, torch.Tensor):
        return [list(out.shape)]
    items = out.values() if isinstance(out, dict) else out
    return [list(t.shape) for t in items]  # type: ignore[union-attr]


def measure(name: str) -> dict[str, object]:
    """The network on the meta device: its stages' shapes, and every module that holds
    parameters, in the order forward calls them."""
    net = NETWORKS[name]
    with torch.device("meta"):
        model = net.build().eval()
    modules = dict(model.named_modules())
    stages: dict[str, list[int]] = {}
    for stage, path in net.stages.items():
        modules[path].register_forward_hook(lambda m, a, out, stage=stage: stages.__setitem__(stage, list(out.shape)))
    called: list[tuple[str, list[int]]] = []
    for path, module in modules.items():
        if not any(True for _ in module.children()) and any(True for _ in module.parameters()):
            module.register_forward_hook(lambda m, a, out, path=path: called.append((path, list(out.shape))))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.zeros(net.input, device="meta"))
    flops = counter.get_flop_counts()
    root = type(model).__name__
    layers = [
        {"module": path, "output": shape, "param_count": sum(p.numel() for p in modules[path].parameters()),
         "macs": sum(flops.get(f"{root}.{path}", {}).values()) // 2}
        for path, shape in called
    ]
    return {
        "input": list(net.input), "outputs": shapes(out), "param_count": sum(p.numel() for p in model.parameters()),
        "macs": counter.get_total_flops() // 2, "stages": {s: stages[s] for s in net.stages}, "layers": layers,
    }


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name in NETWORKS:
        if not (HERE.parents[2] / "configs" / f"{name}.yaml").exists():
            print("skipped", name, "(no file in configs/ yet)")
            continue
        (HERE / f"{name}.json").write_text(json.dumps(measure(name), indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")
