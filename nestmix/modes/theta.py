"""Permuting the component labels of sampled parameter vectors θ, found from parameter names.

θ holds (in the prior's block order) the free weights — all of ``w_1 … w_K``, ``w_<name>`` of
custom components and ``w_bg`` but the last, which is implied — then per-component entries named
``mu_{k}…``, ``var_{k}…`` or ``sigma_{k}…`` and ``rho_{k}…``, then the custom components'
parameters ``<name>_<param>``, which never move. Tied scales and correlations
(``var``, ``rho_x_y``) are shared and never move; parameters held fixed are not in θ and are the
same for every component anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nestmix.errors import ModelError

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel

__all__ = ["ThetaLayout"]

_PER_COMPONENT = re.compile(r"^(mu|var|sigma|rho)_(\d+)(_.*)?$")


@dataclass(frozen=True)
class ThetaLayout:
    """Where the per-component entries sit in θ.

    Attributes
    ----------
    k : int
        Number of Gaussian components.
    n_components : int
        K, plus one with a background.
    weight_columns : ndarray of int, shape (n_components - 1,)
        θ columns of the free weights in order (Gaussians, custom components, background).
    slots : ndarray of int, shape (S, K)
        ``slots[s, j]``: θ column of the s-th per-component quantity of component j.
    """

    k: int
    n_components: int
    weight_columns: np.ndarray
    slots: np.ndarray

    @classmethod
    def from_model(cls, model: MixtureModel) -> ThetaLayout:
        """The layout of ``model.param_names``."""
        names = list(model.param_names)
        k = model.k
        tied = model.spec.covariance == "tied"
        weight_names = getattr(model, "weight_names", None) or (
            [f"w_{j + 1}" for j in range(model.k)] + ["w_bg"] * (model.n_components - model.k))
        try:
            weight_columns = [names.index(w) for w in weight_names[:-1]]
        except ValueError as exc:
            raise ModelError(f"cannot find the free weights in θ: {exc}") from None
        custom = {f"{c.name}_{p}" for c in getattr(model, "extra_components", ())
                  for p in c.parameters}
        groups: dict[tuple[str, str], dict[int, int]] = {}
        for column, name in enumerate(names):
            if name in custom:
                continue
            match = _PER_COMPONENT.match(name)
            if match is None or (tied and match.group(1) != "mu"):
                continue
            key = (match.group(1), match.group(3) or "")
            groups.setdefault(key, {})[int(match.group(2))] = column
        slots = []
        for (kind, suffix), columns in groups.items():
            if sorted(columns) != list(range(1, k + 1)):
                raise ModelError(f"parameters {kind}_*{suffix} do not cover components 1..{k}: "
                                 f"found {sorted(columns)}")
            slots.append([columns[j + 1] for j in range(k)])
        return cls(k=k, n_components=model.n_components,
                   weight_columns=np.array(weight_columns, dtype=np.intp),
                   slots=np.array(slots, dtype=np.intp).reshape(len(slots), k))

    def permute(self, thetas: np.ndarray, permutations: np.ndarray) -> np.ndarray:
        """Relabelled θ: new component j of sample s takes old component ``perm[s, j]``.

        Parameters
        ----------
        thetas : ndarray, shape (n, ndim)
        permutations : ndarray of int, shape (n, K)

        Returns
        -------
        ndarray, shape (n, ndim)
        """
        thetas = np.asarray(thetas, dtype=float)
        perm = np.asarray(permutations, dtype=np.intp)
        out = thetas.copy()
        if self.slots.size:
            block = thetas[:, self.slots]
            out[:, self.slots] = np.take_along_axis(block, perm[:, None, :], axis=2)
        if self.weight_columns.size:
            free = thetas[:, self.weight_columns]
            full = np.concatenate([free, 1.0 - free.sum(axis=1, keepdims=True)], axis=1)
            gauss = np.take_along_axis(full[:, :self.k], perm, axis=1)
            full = np.concatenate([gauss, full[:, self.k:]], axis=1)
            out[:, self.weight_columns] = full[:, :-1]
        return out
