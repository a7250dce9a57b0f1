"""The result of relabelling: one permutation per posterior sample (:class:`Relabelling`).

Its own module so that what uses a relabelling (memberships, distinct modes) needs not import
the relabelling algorithms, which use the memberships themselves (Stephens' method).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nestmix.model.layout import Parameters
from nestmix.modes.features import permute_parameters
from nestmix.modes.theta import ThetaLayout

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel

__all__ = ["Relabelling"]


@dataclass(frozen=True)
class Relabelling:
    """Per-sample permutations to the canonical labelling.

    Attributes
    ----------
    permutations : ndarray of int, shape (n, K)
        Relabelled component j of sample s is its original component ``permutations[s, j]``
        (the background, when there is one, is not included and never moves).
    method : str
        ``hungarian`` or ``stephens``.
    iterations : int
        Number of assignment passes made.
    converged : bool
        True when the last pass changed no permutation.
    """

    permutations: np.ndarray
    method: str
    iterations: int
    converged: bool

    def __post_init__(self) -> None:
        perm = np.array(self.permutations, dtype=np.intp)
        perm.flags.writeable = False
        object.__setattr__(self, "permutations", perm)

    @property
    def k(self) -> int:
        """Number of Gaussian components."""
        return int(self.permutations.shape[1])

    def apply(self, params: Parameters) -> Parameters:
        """The relabelled weights, means and covariances (background weight still last)."""
        return permute_parameters(params, self.permutations)

    def apply_to_theta(self, thetas: np.ndarray, model: MixtureModel) -> np.ndarray:
        """Relabelled θ samples, shape (n, ndim), in ``model.param_names`` order."""
        return ThetaLayout.from_model(model).permute(thetas, self.permutations)

    def to_dict(self) -> dict:
        """JSON-able summary (the permutations go to the npz)."""
        return {"method": self.method, "iterations": self.iterations,
                "converged": self.converged, "k": self.k,
                "n_samples": int(self.permutations.shape[0])}
