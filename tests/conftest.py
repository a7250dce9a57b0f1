"""Shared fixtures: seeded generators, the bundled galaxy data, figure clean-up."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from nestmix import load_measurements


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator; tests never touch numpy's global random state."""
    return np.random.default_rng(20261121)


@pytest.fixture(scope="session")
def galaxies():
    """Roeder's 82 galaxy velocities in 1000 km/s (the copy bundled with the package)."""
    path = resources.files("nestmix.examples") / "galaxies_roeder1990.txt"
    return load_measurements(str(path), scale=0.001)


GALAXY_PRIORS = {
    "mean": {"dist": "norm", "loc": 20, "scale": 10},
    "variance": {"dist": "invgamma", "a": 3, "scale": 20},
}
