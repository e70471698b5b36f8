"""PyTorch CPU reference for `deno task bench`: the same U-Net, batch, loss and optimizer as
Duet's benchmark step, timed the same way (median ms over timed steps after warm-up).

Usage: /usr/bin/python3 bench/torch_reference.py --threads 2 --steps 20 --warmup 5 [--channels 16,32,64,128]
       [--vnet NF,D,H,W --volume D,H,W]: the V-Net step on patches, and "infer" = Duet's
       Gaussian-weighted sliding-window inference of one volume
Prints one JSON object on stdout. With --serve it reads commands from stdin ("train N",
"infer N", "quit") and answers each with one JSON line of timings, so bench/main.ts can
interleave PyTorch and Duet rounds on a noisy machine.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    """SSL4MIS: conv3x3-BN-LeakyReLU-Dropout-conv3x3-BN-LeakyReLU."""

    def __init__(self, cin, cout, p):
        super().__init__()
        self.conv_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            nn.Dropout(p),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU())

    def forward(self, x):
        return self.conv_conv(x)


class UpBlock(nn.Module):
    def __init__(self, in1, in2, out, bilinear):
        super().__init__()
        self.bilinear = bilinear
        if bilinear:
            self.conv1x1 = nn.Conv2d(in1, in2, 1)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        else:
            self.up = nn.ConvTranspose2d(in1, in2, 2, stride=2)
        self.conv = ConvBlock(in2 * 2, out, 0.0)

    def forward(self, x1, x2):
        if self.bilinear:
            x1 = self.conv1x1(x1)
        return self.conv(torch.cat([x2, self.up(x1)], dim=1))


class UNet(nn.Module):
    """SSL4MIS code/networks/unet.py with configurable depth."""

    def __init__(self, cin, ncls, ch, drop, bilinear=False):
        super().__init__()
        self.inc = ConvBlock(cin, ch[0], drop[0])
        self.downs = nn.ModuleList(
            [nn.Sequential(nn.MaxPool2d(2), ConvBlock(ch[i - 1], ch[i], drop[i])) for i in range(1, len(ch))])
        self.ups = nn.ModuleList(
            [UpBlock(ch[i], ch[i - 1], ch[i - 1], bilinear) for i in range(len(ch) - 1, 0, -1)])
        self.out_conv = nn.Conv2d(ch[0], ncls, 3, padding=1)

    def forward(self, x):
        feats = [self.inc(x)]
        for d in self.downs:
            feats.append(d(feats[-1]))
        h = feats[-1]
        for j, up in enumerate(self.ups):
            h = up(h, feats[-2 - j])
        return self.out_conv(h)


class VNet(nn.Module):
    """UA-MT / CAML code/networks/VNet.py (batchnorm, ConvTranspose up, Dropout3d(0.5) after
    blocks five and nine), as engine/models/vnet.ts builds it."""

    def __init__(self, nf=16, ncls=2):
        super().__init__()

        def stage(n, cin, cout):
            layers = []
            for i in range(n):
                layers += [nn.Conv3d(cin if i == 0 else cout, cout, 3, padding=1),
                           nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers)

        def resample(conv, cin, cout):
            return nn.Sequential(conv(cin, cout, 2, stride=2), nn.BatchNorm3d(cout),
                                 nn.ReLU(inplace=True))

        self.enc = nn.ModuleList([stage(n, 1 if i == 0 else nf << i, nf << i)
                                  for i, n in enumerate([1, 2, 3, 3, 3])])
        self.down = nn.ModuleList([resample(nn.Conv3d, nf << i, nf << (i + 1)) for i in range(4)])
        self.up = nn.ModuleList([resample(nn.ConvTranspose3d, nf << (4 - j), nf << (3 - j))
                                 for j in range(4)])
        self.dec = nn.ModuleList([stage(n, nf << (3 - j), nf << (3 - j))
                                  for j, n in enumerate([3, 3, 2, 1])])
        self.out_conv = nn.Conv3d(nf, ncls, 1)
        self.dropout = nn.Dropout3d(0.5)

    def forward(self, x):
        feats = []
        for i in range(5):
            x = self.enc[i](x)
            if i == 4:
                x = self.dropout(x)
            feats.append(x)
            if i < 4:
                x = self.down[i](x)
        for j in range(4):
            x = self.dec[j](self.up[j](x) + feats[3 - j])
        return self.out_conv(self.dropout(x))


def window_starts(n, p, overlap):
    """deploy/sliding_window.ts windowStarts."""
    if n <= p:
        return [0]
    step = max(1, int(p * (1 - overlap)))
    count = -(-(n - p) // step) + 1
    return [round(i * (n - p) / (count - 1)) for i in range(count)]


def sliding_window(net, volume, patch, overlap, ncls, batch=2):
    """Gaussian-weighted windows (sigma patch/8) over a [D, H, W] volume, as Duet's; argmax."""
    axes = []
    for n in patch:
        c, sigma = (n - 1) / 2, n / 8
        axes.append(torch.exp(-((torch.arange(n) - c) ** 2) / (2 * sigma * sigma)))
    g = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    g = torch.clamp(g / g.max(), min=1e-3)
    D, H, W = volume.shape
    total = torch.zeros(ncls, D, H, W)
    weight = torch.zeros(D, H, W)
    starts = [(z, y, x) for z in window_starts(D, patch[0], overlap)
              for y in window_starts(H, patch[1], overlap)
              for x in window_starts(W, patch[2], overlap)]
    for i in range(0, len(starts), batch):
        group = starts[i:i + batch]
        x = torch.stack([volume[z:z + patch[0], y:y + patch[1], x:x + patch[2]]
                         for z, y, x in group])[:, None]
        p = torch.softmax(net(x), 1)
        for k, (z, y, x0) in enumerate(group):
            total[:, z:z + patch[0], y:y + patch[1], x0:x0 + patch[2]] += p[k] * g
            weight[z:z + patch[0], y:y + patch[1], x0:x0 + patch[2]] += g
    return (total / weight).argmax(0)


def dice_loss(p, t):
    """UG-MCL / SSL4MIS dice_loss (squared denominators), mean over classes."""
    axes = (0, *range(2, p.dim()))
    inter = (p * t).sum(axes)
    den = (p * p).sum(axes) + (t * t).sum(axes)
    return (1 - (2 * inter + 1e-5) / (den + 1e-5)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--channels", default="16,32,64,128")
    ap.add_argument("--up", default="transpose", choices=["transpose", "bilinear"])
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--vnet", default="", help="nf,D,H,W: the V-Net step on [batch,1,D,H,W] patches")
    ap.add_argument("--volume", default="32,64,64", help="D,H,W of the sliding-window volume (V-Net)")
    ap.add_argument("--overlap", type=float, default=0.5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.vnet:
        nf, *patch = [int(v) for v in a.vnet.split(",")]
        net = VNet(nf, a.classes)
        x = torch.randn(a.batch, 1, *patch)
        volume = torch.randn(*[int(v) for v in a.volume.split(",")])
    else:
        ch = [int(c) for c in a.channels.split(",")]
        drop = [0.05, 0.1, 0.2, 0.3, 0.5][: len(ch)]
        net = UNet(1, a.classes, ch, drop, bilinear=a.up == "bilinear")
        x = torch.randn(a.batch, 1, a.size, a.size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    y = (x[:, 0] > 0.5).long()
    onehot = F.one_hot(y, a.classes).movedim(-1, 1).float()

    def train_step():
        opt.zero_grad(set_to_none=True)
        logits = net(x)
        loss = F.cross_entropy(logits, y) + dice_loss(torch.softmax(logits, 1), onehot)
        loss.backward()
        opt.step()
        return loss.item()

    def timed(fn, n):
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        return out

    def infer():
        net.eval()
        with torch.no_grad():
            if a.vnet:
                sliding_window(net, volume, patch, a.overlap, a.classes)
            else:
                net(x)
        net.train()

    params = sum(p.numel() for p in net.parameters())
    if a.serve:
        print(json.dumps({"ready": True, "params": params, "torch": torch.__version__}), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            n = int(cmd[1]) if len(cmd) > 1 else 1
            print(json.dumps({"ms": timed(train_step if cmd[0] == "train" else infer, n)}), flush=True)
        return
    net.train()
    timed(train_step, a.warmup)
    times = timed(train_step, a.steps)
    timed(infer, a.warmup)
    infer_ms = timed(infer, a.steps)
    print(json.dumps({
        "train_ms": statistics.median(times),
        "infer_ms": statistics.median(infer_ms),
        "train_samples_ms": times,
        "infer_samples_ms": infer_ms,
        "params": params,
        "threads": a.threads,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
