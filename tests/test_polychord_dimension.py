"""PolyChord's live points depend on the dimension: 25 × ndim up to 20 parameters, 50 × ndim
above (the sampler study's ``clusters2d4``, benchmarks/README.md)."""

from __future__ import annotations

from types import SimpleNamespace

from nestmix import get_sampler
from nestmix.samplers.polychord.dimension import MAX_NDIM_STANDARD_LIVE, live_points


def test_live_points_double_above_20_parameters():
    assert [live_points(n) for n in (1, 6, 18, MAX_NDIM_STANDARD_LIVE)] == [25, 150, 450, 500]
    assert [live_points(n) for n in (MAX_NDIM_STANDARD_LIVE + 1, 24, 30)] == [1050, 1200, 1500]


def test_the_rule_is_what_a_run_resolves_and_given_settings_win():
    chord = get_sampler("polychord")
    settings = chord.validate({})
    wide, narrow = SimpleNamespace(ndim=24), SimpleNamespace(ndim=12)
    assert chord.resolved(settings, wide)["nlive"] == 50 * 24
    assert chord.resolved(settings, narrow)["nlive"] == 25 * 12
    assert chord.resolved(settings, wide)["num_repeats"] == 5 * 24
    assert chord.resolved(chord.validate({"nlive": 300}), wide)["nlive"] == 300
    # the convergence check's deeper runs start from the same rule
    assert chord.with_more_live_points(settings, 24, 2)["nlive"] == 2 * 50 * 24
