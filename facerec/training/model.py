"""The compact embedder network: a small MobileFaceNet-like CNN (112x112 ArcFace-aligned input).

Weights files (``torch.save`` of a dict) hold ``arch``, ``kwargs``, ``state_dict``, ``model_id`` and
free-form ``meta``; ``facerec.training.embedder.TorchEmbedder`` runs them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn



def _conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (stride s), 1x1 project; residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            _conv_bn(cin, mid, 1), _conv_bn(mid, mid, 3, stride, groups=mid), _conv_bn(mid, cout, 1, act=False)
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class CompactNet(nn.Module):
    """112x112x3 -> ``dim``-d embedding (not normalised). Stages: 56, 28, 14, 7; global depthwise conv head."""

    def __init__(self, dim: int = 128, width: int = 32, expand: int = 2, blocks: tuple[int, ...] = (1, 2, 3, 1)):
        super().__init__()
        w = width
        chans = (w * 2, w * 4, w * 6, w * 8)
        layers = [_conv_bn(3, w, 3, 2), _conv_bn(w, w, 3, 1, groups=w)]  # 56x56
        cin = w
        for stage, (cout, n) in enumerate(zip(chans, blocks)):
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, 2 if i == 0 and stage < 3 else 1, expand))
                cin = cout
        self.features = nn.Sequential(*layers)  # 7x7 after three stride-2 stages from 56
        head = w * 16
        self.head = nn.Sequential(
            _conv_bn(cin, head, 1),
            nn.Conv2d(head, head, 7, 1, 0, groups=head, bias=False),  # global depthwise conv (MobileFaceNet)
            nn.BatchNorm2d(head),
            nn.Flatten(),
            nn.Dropout(0.0),
            nn.Linear(head, dim, bias=False),
            nn.BatchNorm1d(dim),
        )

    def forward(self, x):
        return self.head(self.features(x))


ARCHS = {"compact": CompactNet}


def build_model(arch: str, kwargs: dict) -> nn.Module:
    try:
        cls = ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}") from None
    return cls(**kwargs)


def load_weights_file(path: str | Path, fuse: bool = False) -> tuple[nn.Module, dict]:
    """The network and the file's dict (``state_dict`` loaded, eval mode; ``fuse``: batch norms folded
    into the convolutions, for inference only)."""
    blob = torch.load(str(path), map_location="cpu", weights_only=True)
    model = build_model(blob["arch"], blob.get("kwargs", {}))
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    model.load_state_dict(state)
    model.eval()
    if fuse:
        fuse_for_inference(model)
    return model, blob


def save_weights_file(model: nn.Module, arch: str, kwargs: dict, path: str | Path, model_id: str, meta: dict | None = None) -> Path:
    """Save an inference weights file (float32)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".part")
    torch.save({"arch": arch, "kwargs": kwargs, "state_dict": state, "model_id": model_id, "meta": meta or {}}, str(tmp))
    tmp.replace(path)
    return path


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d into the convolution before it (eval-mode maths, fewer layers); in place."""
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.children())
        for i in range(len(children) - 1):
            conv, bn = children[i], children[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.bias is None:
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                  groups=conv.groups, bias=True)
                fused.weight.data = conv.weight.detach() * scale[:, None, None, None]
                fused.bias.data = bn.bias.detach() - bn.running_mean * scale
                module[i] = fused
                module[i + 1] = nn.Identity()
    return model
