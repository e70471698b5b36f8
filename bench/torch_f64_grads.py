"""Float64 PyTorch oracle for whole-model gradients (bench/model_checks.ts).

Reads a safetensors file written by the engine: the model's weights under their PyTorch names,
"__image" (NC...), "__label" (int32), "__mask<i>" (dropout masks in creation order), and the
JSON config in "__metadata__"."duet". Rebuilds the published architecture (SSL4MIS U-Net with
its state_dict names, UA-MT V-Net), runs it in float64 with those masks, loss = CE + squared
Dice, and writes the flat gradient (parameters in file order) as raw float64 to argv[2].
"""
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# argv[3] == "f32" runs the same computation in float32 (PyTorch's own float32 error).
DTYPE = torch.float32 if len(sys.argv) > 3 and sys.argv[3] == "f32" else torch.float64
torch.set_default_dtype(DTYPE)
NP = np.float32 if DTYPE == torch.float32 else np.float64


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dt = {"F32": np.float32, "I32": np.int32, "U32": np.uint32}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt[h["dtype"]]).reshape(h["shape"])
    return out, meta, list(header.keys())


class Masks:
    """Stands in for the dropout layers: multiplies by the engine's masks, in order."""

    def __init__(self, masks):
        self.masks, self.i = masks, 0

    def __call__(self, x):
        m = self.masks[self.i]
        self.i += 1
        return x * m


class MaskedDropout(nn.Module):
    def __init__(self, p, masks):
        super().__init__()
        self.p, self.masks = p, masks

    def forward(self, x):
        return self.masks(x) if self.p > 0 else x


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, p, masks):
        super().__init__()
        self.conv_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            MaskedDropout(p, masks),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU())

    def forward(self, x):
        return self.conv_conv(x)


class DownBlock(nn.Module):
    def __init__(self, cin, cout, p, masks):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), ConvBlock(cin, cout, p, masks))

    def forward(self, x):
        return self.maxpool_conv(x)


class UpBlock(nn.Module):
    def __init__(self, in1, in2, out, bilinear, masks):
        super().__init__()
        self.bilinear = bilinear
        if bilinear:
            self.conv1x1 = nn.Conv2d(in1, in2, 1)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        else:
            self.up = nn.ConvTranspose2d(in1, in2, 2, stride=2)
        self.conv = ConvBlock(in2 * 2, out, 0.0, masks)

    def forward(self, x1, x2):
        if self.bilinear:
            x1 = self.conv1x1(x1)
        return self.conv(torch.cat([x2, self.up(x1)], 1))


class Encoder(nn.Module):
    def __init__(self, cin, ch, drop, masks):
        super().__init__()
        self.in_conv = ConvBlock(cin, ch[0], drop[0], masks)
        for i in range(1, len(ch)):
            setattr(self, f"down{i}", DownBlock(ch[i - 1], ch[i], drop[i], masks))
        self.n = len(ch)

    def forward(self, x):
        f = [self.in_conv(x)]
        for i in range(1, self.n):
            f.append(getattr(self, f"down{i}")(f[-1]))
        return f


class Decoder(nn.Module):
    def __init__(self, ch, ncls, bilinear, masks):
        super().__init__()
        self.n = len(ch)
        for j, i in enumerate(range(len(ch) - 1, 0, -1), start=1):
            setattr(self, f"up{j}", UpBlock(ch[i], ch[i - 1], ch[i - 1], bilinear, masks))
        self.out_conv = nn.Conv2d(ch[0], ncls, 3, padding=1)

    def forward(self, f):
        h = f[-1]
        for j in range(1, self.n):
            h = getattr(self, f"up{j}")(h, f[-1 - j])
        return self.out_conv(h)


class UNet(nn.Module):
    def __init__(self, cfg, masks):
        super().__init__()
        self.encoder = Encoder(cfg["inChannels"], cfg["channels"], cfg["dropout"], masks)
        self.decoder = Decoder(cfg["channels"], cfg["numClasses"], cfg["up"] == "bilinear", masks)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def stage(n, cin, cout):
    ops = []
    for i in range(n):
        ops += [nn.Conv3d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU()]
    s = nn.Module()
    s.conv = nn.Sequential(*ops)
    return s


def resample(kind, cin, cout):
    s = nn.Module()
    if kind == "down":
        s.conv = nn.Sequential(nn.Conv3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU())
    else:
        s.conv = nn.Sequential(nn.ConvTranspose3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU())
    return s


class VNet(nn.Module):
    """UA-MT VNet (ConvTranspose up) with its state_dict names."""

    def __init__(self, cfg, masks):
        super().__init__()
        nf, names = cfg["nFilters"], ["one", "two", "three", "four", "five"]
        self.masks = masks
        for i, n in enumerate([1, 2, 3, 3, 3]):
            setattr(self, f"block_{names[i]}", stage(n, cfg["inChannels"] if i == 0 else nf << i, nf << i))
            if i < 4:
                setattr(self, f"block_{names[i]}_dw", resample("down", nf << i, nf << (i + 1)))
        for j, (u, d, n) in enumerate(zip(["five", "six", "seven", "eight"], ["six", "seven", "eight", "nine"], [3, 3, 2, 1])):
            setattr(self, f"block_{u}_up", resample("up", nf << (4 - j), nf << (3 - j)))
            setattr(self, f"block_{d}", stage(n, nf << (3 - j), nf << (3 - j)))
        self.out_conv = nn.Conv3d(nf, cfg["numClasses"], 1)

    def forward(self, x):
        names, f, h = ["one", "two", "three", "four", "five"], [], x
        for i in range(5):
            h = getattr(self, f"block_{names[i]}").conv(h)
            if i == 4:
                h = self.masks(h) if self.masks.masks else h
            f.append(h)
            if i < 4:
                h = getattr(self, f"block_{names[i]}_dw").conv(h)
        for j, (u, d) in enumerate(zip(["five", "six", "seven", "eight"], ["six", "seven", "eight", "nine"])):
            h = getattr(self, f"block_{u}_up").conv(h) + f[3 - j]
            h = getattr(self, f"block_{d}").conv(h)
            if j == 3:
                h = self.masks(h) if self.masks.masks else h
        return self.out_conv(h)


def main():
    tensors, meta, order = read_safetensors(sys.argv[1])
    cfg = json.loads(meta["duet"])
    masks = Masks([torch.from_numpy(tensors[k].astype(NP)) for k in order if k.startswith("__mask")])
    net = UNet(cfg, masks) if cfg["kind"] == "unet2d" else VNet(cfg, masks)
    state = {k: torch.from_numpy(v.astype(NP)) for k, v in tensors.items() if not k.startswith("__")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    net.train()
    x = torch.from_numpy(tensors["__image"].astype(NP))
    y = torch.from_numpy(tensors["__label"].astype(np.int64))
    logits = net(x)
    k = logits.shape[1]
    onehot = F.one_hot(y, k).movedim(-1, 1).to(DTYPE)
    axes = [0] + list(range(2, logits.dim()))
    p = torch.softmax(logits, 1)
    dice = (1 - (2 * (p * onehot).sum(axes) + 1e-5) / ((p * p).sum(axes) + (onehot * onehot).sum(axes) + 1e-5)).mean()
    loss = F.cross_entropy(logits, y) + dice
    loss.backward()
    params = dict(net.named_parameters())
    flat = np.concatenate([params[n].grad.numpy().ravel() for n in order if n in params])
    flat.astype(np.float64).tofile(sys.argv[2])
    print(json.dumps({"loss": loss.item(), "n": int(flat.size)}))


if __name__ == "__main__":
    main()
