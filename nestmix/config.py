"""Old import path of :mod:`nestmix.sweep.config`, kept for existing notebooks and scripts."""

from nestmix.sweep.config import load_config, plan_from_mapping

__all__ = ["load_config", "plan_from_mapping"]
