"""Fast evaluation of the mixture log-likelihood: a fused numba kernel with a numpy fallback.

:class:`MixtureKernel` holds a model's data and parameter layout and maps θ rows straight to
log-likelihoods. With numba (the default when it is importable) the whole computation — filling
in fixed parameters, unpacking weights, means and covariances, and the per-point log-sum-exp over
components — happens in one compiled pass with no (N, K) temporaries, so memory does not grow
with N beyond the data themselves. The built-in custom components (``line``,
``gaussian_outlier``, ``student_t``, ``gaussian_cluster``, ``exponential_space_density``) are
evaluated in the same pass (:func:`component_table`); a user's component's densities are computed
in Python and passed in. Without numba, or with ``NESTMIX_KERNEL=numpy`` in the environment (or
``backend="numpy"``), the reference densities of :mod:`nestmix.components.gaussian` and the
components' own ``log_density`` are evaluated in chunks of θ and of points.

numba is imported when a likelihood is first evaluated, not when nestmix is imported or a model
built; its compiled code is cached on disk (``cache=True``; one signature per entry point), so
only the very first call on a machine pays the compilation — a few seconds per entry point,
measured by ``benchmarks/kernel.py`` — and later processes load it in milliseconds.

From ``parallel_min_points`` points on (default :data:`nestmix.runtime.threads.PARALLEL_MIN_POINTS`,
10⁴) the numba backend calls the parallel variant of the kernel when this run has more than one
thread to itself (:func:`nestmix.runtime.threads.threads_for`); it returns the same values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nestmix.errors import ModelError
from nestmix.runtime.backend import BACKENDS, KERNEL_ENV, numba_available, resolve_backend
from nestmix.runtime.threads import PARALLEL_MIN_POINTS, threads_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nestmix.data.measurements import Measurements
    from nestmix.model.layout import Layout
    from nestmix.priors.blocks import BlockPrior

__all__ = ["BACKENDS", "MixtureKernel", "component_table", "numba_available", "resolve_backend"]

ENV_VAR = KERNEL_ENV
MAX_ELEMENTS = 4_000_000
"""Bound on the doubles in one temporary of the numpy fallback (32 MB)."""

_EMPTY_EXTRA = np.empty((0, 0, 0))
_EMPTY_BG = np.empty(0)


def layout_vector(layout: Layout, n_extra: int, has_background: bool) -> np.ndarray:
    """The integers the compiled kernels read the parameter layout from (see ``_numba_layout``)."""
    return np.array([
        layout.k, layout.d, layout.n_weights, layout.mean_offset, layout.scale_offset,
        layout.n_scale_sets, layout.scales_per_set, layout.corr_offset, layout.n_corr,
        int(layout.with_corr), int(layout.scale_is_sigma), int(n_extra), int(has_background),
    ], dtype=np.int64)


COMPONENT_CODES = {"line": 1, "gaussian_outlier": 2, "student_t": 3, "gaussian_cluster": 4,
                   "exponential_space_density": 5}
"""Built-in component families the compiled kernels evaluate (codes of ``_numba_layout``)."""


def component_table(components: Sequence[Any], data: Measurements, layout: Layout
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """What the compiled kernels need to evaluate the custom components themselves.

    Parameters
    ----------
    components : sequence
        The model's custom components, in order.
    data : Measurements
    layout : Layout
        Gives where each component's parameters sit in φ.

    Returns
    -------
    (ndarray of int64, ndarray of shape (1, rows, N)) or None
        The integers that follow the layout vector (the number of components, then code, φ
        index of the first parameter, first data row and option for each) and the per-point
        data rows; None when a component is not a built-in family with a compiled form (or a
        subclass that redefines its ``log_density``), or is not a Gaussian cluster in D >= 2.
    """
    ints = [len(components)]
    rows = []
    n_rows = 0
    offset = layout.extra_offset
    for component in components:
        code = COMPONENT_CODES.get(getattr(component, "family", ""))
        if (code is None or _defined_by(component, "log_density")
                is not _defined_by(component, "compiled_data")
                or (data.n_dims > 1 and code != COMPONENT_CODES["gaussian_cluster"])):
            return None
        option, block = component.compiled_data(data)
        ints += [code, offset, n_rows, int(option)]
        rows.append(np.asarray(block, dtype=float).reshape(-1, data.n_points))
        n_rows += rows[-1].shape[0]
        offset += len(component.parameters)
    return np.array(ints, dtype=np.int64), _writable(
        np.concatenate(rows, axis=0)[None] if n_rows else np.empty((1, 0, data.n_points)))


def _defined_by(obj: Any, name: str) -> type | None:
    """The class in ``type(obj)``'s MRO that defines the attribute ``name``."""
    return next((cls for cls in type(obj).__mro__ if name in vars(cls)), None)


class MixtureKernel:
    """Log-likelihood of Gaussian mixtures (+ custom components + background) for fixed data.

    Parameters
    ----------
    layout : Layout
        Where weights, means, scales and correlations sit in the full parameter vector φ.
    prior : BlockPrior
        Gives the map from θ to φ (free entries and fixed values).
    values : ndarray, shape (N, D)
    point_covariances : ndarray, shape (N, D, D), or None
        Measurement covariances, deconvolved.
    log_background : ndarray, shape (N,), or None
        Per-point log-density of the uniform background, when the model has one.
    n_extra : int
        Number of custom components, whose log-densities are passed to :meth:`__call__`
        unless the compiled kernel evaluates them itself (see `components`).
    backend : str, optional
        ``numba``, ``numpy`` or ``auto``; default ``$NESTMIX_KERNEL`` or ``auto``.
    max_elements : int
        Chunk bound of the numpy backend.
    components : sequence, optional
        The custom components with `data`: when all are built-in families with a compiled form
        (:func:`component_table`), the numba backend evaluates them itself.
    data : Measurements, optional
    parallel_min_points : int, optional
        Points from which the parallel kernel may be used (default
        :data:`nestmix.runtime.threads.PARALLEL_MIN_POINTS`).

    Attributes
    ----------
    backend : str
        The backend in use, ``numba`` or ``numpy``.
    parallel_min_points : int
    """

    def __init__(self, layout: Layout, prior: BlockPrior, values: np.ndarray,
                 point_covariances: np.ndarray | None, log_background: np.ndarray | None,
                 n_extra: int = 0, backend: str | None = None,
                 max_elements: int = MAX_ELEMENTS, components: Sequence[Any] = (),
                 data: Measurements | None = None,
                 parallel_min_points: int | None = None) -> None:
        self.backend = resolve_backend(backend)
        self.parallel_min_points = (PARALLEL_MIN_POINTS if parallel_min_points is None
                                    else int(parallel_min_points))
        self.layout = layout
        self.ndim = prior.ndim
        self.n_extra = int(n_extra)
        self.max_elements = int(max_elements)
        self._values = _writable(values)
        self._point_cov = None if point_covariances is None else _writable(point_covariances)
        self._log_bg = None if log_background is None else _writable(log_background)
        self._prior = prior
        self._lay = layout_vector(layout, self.n_extra, log_background is not None)
        self._lay_given = self._lay  # the layout when the densities are passed in
        self._component_data = _EMPTY_EXTRA
        self._components = tuple(components) if data is not None else ()
        self._data = data
        self._table_built = not (self.backend == "numba" and self.n_extra
                                 and len(self._components) == self.n_extra)
        self._compiles = False
        n_phi = len(prior.names)
        source = np.full(n_phi, -1, dtype=np.int64)
        source[prior.free_indices] = np.arange(prior.ndim)
        fixed = np.zeros(n_phi)
        for index, value in prior.fixed:
            fixed[index] = value
        self._source, self._fixed = source, fixed
        d = self._values.shape[1]
        if d == 1:
            self._y = _writable(self._values[:, 0])
            self._err = _EMPTY_BG if self._point_cov is None else _writable(
                self._point_cov[:, 0, 0])
        else:
            self._y = _writable(self._values.T)
            self._err = (np.empty((d, d, 0)) if self._point_cov is None
                         else _writable(np.moveaxis(self._point_cov, 0, 2)))
        self._function: Any = None

    @property
    def compiles_components(self) -> bool:
        """Whether the custom components are evaluated in the compiled kernel (then
        :meth:`__call__` takes no log-densities). Decided on first use, once the model has
        checked the components against the data."""
        if not self._table_built:
            assert self._data is not None  # components are kept only with their data
            table = component_table(self._components, self._data, self.layout)
            if table is not None:
                self._lay = np.concatenate([self._lay, table[0]])
                self._component_data = table[1]
                self._compiles = True
            self._table_built = True
        return self._compiles

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_function"] = None  # compiled functions are looked up again after unpickling
        if state["_compiles"]:  # the components' data rows are rebuilt where the object lands
            state.update(_lay=self._lay_given, _component_data=_EMPTY_EXTRA, _compiles=False,
                         _table_built=False)
        return state

    def _compiled(self, parallel: bool = False) -> Any:
        """The compiled kernel for these data: serial, or its parallel variant."""
        from nestmix.model.kernels import _numba_impl

        one_d = self._values.shape[1] == 1
        if parallel:
            return _numba_impl.loglike_1d_parallel if one_d else _numba_impl.loglike_nd_parallel
        if self._function is None:
            self._function = _numba_impl.loglike_1d if one_d else _numba_impl.loglike_nd
        return self._function

    def compiled_arguments(self) -> tuple | None:
        """The compiled kernel's arguments after θ and before ``out``, or None.

        ``(source, fixed, lay, y, err, extra, log_bg)`` as :meth:`__call__` passes them to
        :func:`~nestmix.model.kernels._numba_impl.loglike_1d` (1-D data) or ``loglike_nd``; None
        with the numpy backend or custom components whose densities are computed in Python.
        """
        if self.backend != "numba" or (self.n_extra and not self.compiles_components):
            return None
        return (self._source, self._fixed, self._lay, self._y, self._err, self._component_data,
                _EMPTY_BG if self._log_bg is None else self._log_bg)

    def __call__(self, theta: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """Log-likelihoods of the rows of ``theta``.

        Parameters
        ----------
        theta : ndarray, shape (m, ndim)
        extra : ndarray, shape (m, n_extra, N), optional
            Log-densities of the custom components at these θ; required when ``n_extra > 0``
            unless :attr:`compiles_components`.

        Returns
        -------
        ndarray, shape (m,)
            ``-inf`` where the likelihood is zero or undefined: a non-finite entry in θ, a
            negative weight, NaN or +inf from a custom component.
        """
        theta = np.ascontiguousarray(theta, dtype=float)
        if not theta.flags.writeable:  # numba compiles read-only arrays separately
            theta = theta.copy()
        if theta.ndim != 2 or theta.shape[1] != self.ndim:
            raise ModelError(f"θ must have shape (m, {self.ndim}), got {theta.shape}")
        m = theta.shape[0]
        n = self._values.shape[0]
        compiled = self.compiles_components
        lay = self._lay
        if compiled:  # the densities given in ``extra``, if any, are used
            lay = self._lay if extra is None else self._lay_given
            extra = self._component_data if extra is None else extra
        if self.n_extra and extra is not self._component_data:
            if extra is None or np.shape(extra) != (m, self.n_extra, n):
                raise ModelError(f"the custom components' log-densities must have shape "
                                 f"({m}, {self.n_extra}, {n}), got "
                                 f"{None if extra is None else np.shape(extra)}")
            extra = _writable(extra)
            bad = ~(extra < np.inf)  # NaN or +inf from a custom component
            if bad.any():
                rows = bad.any(axis=(1, 2))
                extra = np.where(bad, -np.inf, extra)
                out = self(theta, extra)
                out[rows] = -np.inf
                return out
        if self.backend == "numpy":
            return self._numpy(theta, extra)
        out = np.empty(m)
        parallel = threads_for(n, self.parallel_min_points) > 1
        self._compiled(parallel)(theta, self._source, self._fixed, lay, self._y, self._err,
                         _EMPTY_EXTRA if extra is None else extra,
                         _EMPTY_BG if self._log_bg is None else self._log_bg, out)
        return out

    def _numpy(self, theta: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
        from nestmix.model.kernels._numpy_impl import loglike_numpy

        finite = np.isfinite(theta).all(axis=1)
        if not finite.all():  # the same convention as the compiled kernels
            theta = np.where(finite[:, None], theta, 0.0)
            out = self._numpy(theta, extra)
            out[~finite] = -np.inf
            return out
        params = self.layout.expand(self._prior.full(theta))
        return loglike_numpy(params, self._values, self._point_cov, extra, self._log_bg,
                             self.max_elements)


def _writable(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, writable float64 array (a copy only when needed).

    The compiled kernels then always see the same array types, so each is compiled once.
    """
    out = np.ascontiguousarray(array, dtype=float)
    return out if out.flags.writeable else out.copy()
