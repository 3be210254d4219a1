"""The small conv autoencoder of the latent-space study (paper Sec. 5.3, Figs. 9 / 12) and
VA-VAE's vision-foundation alignment loss.

- :class:`Autoencoder`: 1x28x28 -> 4x7x7 (D = 196) -> 1x28x28 (the SD-VAE / VA-VAE analogue).
- :func:`alignment_loss`: with frozen classifier feature maps (7x7 patches) in place of DINOv2
  patches, a marginal cosine-similarity loss ``mean relu(1 - m1 - cos(W z_ij, f_ij))`` and a
  marginal distance-matrix loss ``mean relu(|cos(z_i, z_j) - cos(f_i, f_j)| - m2)`` over patch
  pairs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Autoencoder", "alignment_loss"]


class Autoencoder(nn.Module):
    """Conv autoencoder, spatial factor 4: (C, H, W) -> (latent_channels, H/4, W/4) -> (C, H, W).

    Encoder: conv3 -> conv4/s2 -> conv3 -> conv4/s2 -> conv1 (SiLU between); the decoder mirrors
    it with transposed convs. 28x28 -> 7x7: with 4 latent channels D = 196 (a 4x compression).

    Args:
        in_channels: C.
        latent_channels: channels of the latent.
        width: base width w (2w in the middle).
    """

    def __init__(self, in_channels: int = 1, latent_channels: int = 4, width: int = 16):
        super().__init__()
        self.config = {
            "in_channels": int(in_channels),
            "latent_channels": int(latent_channels),
            "width": int(width),
        }
        w = width
        act = nn.SiLU
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), act(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), act(),  # H/2
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), act(),
            nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), act(),  # H/4
            nn.Conv2d(2 * w, latent_channels, 1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * w, 3, padding=1), act(),
            nn.ConvTranspose2d(2 * w, 2 * w, 4, stride=2, padding=1), act(),  # H/2
            nn.Conv2d(2 * w, w, 3, padding=1), act(),
            nn.ConvTranspose2d(w, w, 4, stride=2, padding=1), act(),  # H
            nn.Conv2d(w, in_channels, 3, padding=1),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> raw latent (B, latent_channels, H/4, W/4) (not normalised)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latent -> (B, C, H, W) reconstruction (normalised pixel units, not clamped)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def _patches(t: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h*w, C) L2-normalised patch vectors."""
    return F.normalize(t.flatten(2).transpose(1, 2), dim=-1)


def alignment_loss(
    z_proj: torch.Tensor, feats: torch.Tensor, m1: float = 0.1, m2: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """VA-VAE's vision-foundation alignment loss (marginal cosine + distance matrix).

    Args:
        z_proj: (B, F, h, w) linearly projected latent.
        feats: (B, F, h', w') frozen classifier feature maps (resized to (h, w) if needed).
        m1, m2: margins of the two terms.

    Returns:
        (loss, mean cosine between matching patches).
    """
    if feats.shape[-2:] != z_proj.shape[-2:]:
        feats = F.adaptive_avg_pool2d(feats, z_proj.shape[-2:])
    pz, pf = _patches(z_proj), _patches(feats)  # (B, P, F) each
    cos = (pz * pf).sum(-1)  # (B, P)
    l_mcos = F.relu(1 - m1 - cos).mean()
    gz = pz @ pz.transpose(1, 2)  # (B, P, P) patch-pair cosines in the latent
    gf = pf @ pf.transpose(1, 2)  # (B, P, P) ... in the features
    l_mdms = F.relu((gz - gf).abs() - m2).mean()
    return l_mcos + l_mdms, cos.mean()
