"""Named blocks of unit-cube transforms assembled into one prior over a parameter vector.

A model's full parameter vector φ has named entries (weights, means, scales, correlations). Some
entries are held fixed; the rest form θ, the vector a sampler sees, with one unit-cube coordinate
per entry. Each :class:`Block` owns a contiguous slice of the cube and of θ and fills the θ entries
given by its targets (indices into φ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nestmix.priors._compiled import CompiledPlan

__all__ = ["Block", "BlockPrior"]


@dataclass(frozen=True)
class Block:
    """One vectorised transform from ``ndim`` cube coordinates to ``ndim`` entries of φ.

    Attributes
    ----------
    name : str
        What the block is, e.g. ``"mean"`` or ``"weights"``.
    targets : tuple of int
        Indices into the full parameter vector φ that this block fills, in output order.
    transform : callable
        Maps u of shape (n, ndim) to values of shape (n, ndim).
    description : dict
        JSON-able description of the prior, used in fingerprints.
    """

    name: str
    targets: tuple[int, ...]
    transform: Callable[[np.ndarray], np.ndarray] = field(compare=False)
    description: dict = field(compare=False)

    @property
    def ndim(self) -> int:
        """Number of unit-cube coordinates (and θ entries) of the block."""
        return len(self.targets)


@dataclass(frozen=True)
class BlockPrior:
    """Prior over a full parameter vector φ built from blocks and fixed values.

    Attributes
    ----------
    names : tuple of str
        Names of all entries of φ.
    blocks : tuple of Block
        The transforms; their targets are disjoint.
    fixed : tuple of (int, float)
        Entries of φ that are held fixed, with their values.
    """

    names: tuple[str, ...]
    blocks: tuple[Block, ...]
    fixed: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        covered = [t for b in self.blocks for t in b.targets] + [i for i, _ in self.fixed]
        if sorted(covered) != list(range(len(self.names))):
            raise ValueError("blocks and fixed entries must cover every parameter exactly once")

    @property
    def ndim(self) -> int:
        """Dimension of the unit cube, and of θ."""
        return sum(b.ndim for b in self.blocks)

    @property
    def free_indices(self) -> np.ndarray:
        """Indices into φ of the θ entries, in θ order."""
        return np.array([t for b in self.blocks for t in b.targets], dtype=int)

    @property
    def free_names(self) -> tuple[str, ...]:
        """Names of the θ entries."""
        return tuple(self.names[i] for i in self.free_indices)

    def transform(self, u: np.ndarray) -> np.ndarray:
        """Map unit-cube points u, shape (n, ndim), to θ, shape (n, ndim).

        Blocks with simple quantiles run in one compiled pass (:mod:`nestmix.priors._compiled`)
        when numba is available; the others, and everything without numba, with numpy.
        """
        plan = self._compiled
        if plan is not None:
            return plan(u)
        theta = np.empty_like(u, dtype=float)
        start = 0
        for block in self.blocks:
            stop = start + block.ndim
            theta[:, start:stop] = block.transform(u[:, start:stop])
            start = stop
        return theta

    @cached_property
    def _compiled(self):
        from nestmix.runtime.backend import resolve_backend

        if resolve_backend() != "numba":  # decided before anything imports numba
            return None
        from nestmix.priors._compiled import compile_blocks

        return compile_blocks(self.blocks)

    @property
    def compiled_plan(self) -> CompiledPlan | None:
        """The compiled plan of :meth:`transform` (:class:`~nestmix.priors._compiled.
        CompiledPlan`), or None when nothing is compiled."""
        return self._compiled

    @property
    def numpy_blocks(self) -> tuple[str, ...]:
        """The blocks :meth:`transform` applies with numpy, as ``"<name> (<dist>)"``: those
        without a compiled form, or all of them with the numpy backend."""
        plan = self._compiled
        blocks = self.blocks if plan is None else [block for _, _, block in plan.numpy_blocks]
        return tuple(f"{b.name} ({b.description.get('dist', '?')})" for b in blocks)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_compiled", None)  # rebuilt on first use where the object lands
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def full(self, theta: np.ndarray) -> np.ndarray:
        """Insert the fixed values: θ of shape (n, ndim) → φ of shape (n, len(names))."""
        phi = np.empty((theta.shape[0], len(self.names)))
        for index, value in self.fixed:
            phi[:, index] = value
        phi[:, self.free_indices] = theta
        return phi

    def describe(self) -> list[dict]:
        """JSON-able description of every block and fixed value."""
        out = [
            {"block": b.name, "parameters": [self.names[t] for t in b.targets], **b.description}
            for b in self.blocks
        ]
        out += [{"fixed": self.names[i], "value": v} for i, v in self.fixed]
        return out


def group_by_prior(priors: Sequence, targets: Sequence[int]) -> list[tuple[object, list[int]]]:
    """Group targets that share the same (hashable) prior, keeping first-seen order."""
    groups: dict[object, list[int]] = {}
    for prior, target in zip(priors, targets, strict=True):
        groups.setdefault(prior, []).append(target)
    return list(groups.items())
