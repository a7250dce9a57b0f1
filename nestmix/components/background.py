"""Background components: broad populations that sit under the Gaussians."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nestmix.errors import ModelError

__all__ = ["UniformBox", "default_box"]


def default_box(values: np.ndarray, padding: float = 0.1) -> np.ndarray:
    """The data's range in each dimension, widened by ``padding`` of the width on each side.

    Parameters
    ----------
    values : ndarray, shape (N, D)
    padding : float
        Fraction of the range added below the minimum and above the maximum.

    Returns
    -------
    ndarray, shape (D, 2)
        Lower and upper edges.
    """
    lo = values.min(axis=0)
    hi = values.max(axis=0)
    width = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return np.stack([lo - padding * width, hi + padding * width], axis=1)


@dataclass(frozen=True)
class UniformBox:
    """A flat density over an axis-aligned box.

    Attributes
    ----------
    edges : tuple of (float, float)
        Lower and upper edge in each dimension.
    """

    edges: tuple[tuple[float, float], ...]

    @classmethod
    def create(cls, edges, values: np.ndarray) -> UniformBox:
        """Validate ``edges`` (shape (D, 2)) against the data and build the box."""
        box = np.asarray(edges, dtype=float)
        d = values.shape[1]
        if box.shape != (d, 2):
            raise ModelError(f"background box must have shape ({d}, 2), got {box.shape}")
        if not np.all(np.isfinite(box)) or np.any(box[:, 1] <= box[:, 0]):
            raise ModelError("background box needs finite edges with lower < upper")
        outside = np.any((values < box[:, 0]) | (values > box[:, 1]), axis=1)
        if outside.any():
            raise ModelError(
                f"{int(outside.sum())} data points lie outside the background box "
                f"(first: point {int(np.argmax(outside))}); widen the box"
            )
        return cls(tuple((float(lo), float(hi)) for lo, hi in box))

    @property
    def log_density(self) -> float:
        """Log of the constant density, minus the log-volume of the box."""
        return -float(sum(np.log(hi - lo) for lo, hi in self.edges))

    def log_density_of(self, values: np.ndarray) -> np.ndarray:
        """Per-point log-density, shape (N,): constant inside the box, -inf outside."""
        box = np.asarray(self.edges)
        inside = np.all((values >= box[:, 0]) & (values <= box[:, 1]), axis=1)
        return np.where(inside, self.log_density, -np.inf)

    def to_dict(self) -> dict:
        """JSON-able description."""
        return {"kind": "uniform", "edges": [list(e) for e in self.edges]}
