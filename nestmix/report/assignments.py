"""Cluster assignments in the memberships table: each point's probability to belong to each
(relabelled) component of the preferred K, and its most probable component."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from nestmix.report.document import Column, Table

if TYPE_CHECKING:
    from nestmix.posterior.predictive import AveragedMemberships

__all__ = ["with_assignments"]


def with_assignments(table: Table, averaged: AveragedMemberships, best_k: int) -> Table:
    """``table`` (one row per point) with the memberships of the preferred K appended.

    Parameters
    ----------
    table : Table
        The model-averaged memberships (:func:`nestmix.report.tables.membership_table`).
    averaged : AveragedMemberships
        Its per-K posterior-mean memberships, relabelled to the canonical labelling.
    best_k : int
        The preferred K; when its memberships are missing, the K of highest P(K | data)
        among those that have them.

    Returns
    -------
    Table
        With columns ``K<k>_p_<component>`` (components ``1..K``, custom components by
        name, ``background``; in the CSV only), ``K<k>_label`` (the most probable component)
        and ``K<k>_p_label`` (its probability).
    """
    ks = list(averaged.k_values)
    k = best_k if best_k in averaged.per_k else ks[int(np.argmax(averaged.p_k))]
    members = np.asarray(averaged.per_k[k], dtype=float)
    names = ["background" if n == "w_bg" else n.removeprefix("w_")
             for n in averaged.component_names[k]]
    top = members.argmax(axis=1)
    columns = (*table.columns,
               *(Column(f"K{k}_p_{n}", f"P({n} | K={k})", ".3f", show=False,
                        help="posterior mean membership, relabelled") for n in names),
               Column(f"K{k}_label", f"component (K={k})",
                      help=f"the point's most probable component of K = {k}"),
               Column(f"K{k}_p_label", "its probability", ".3f"))
    rows = tuple((*row, *(float(v) for v in members[i]), names[top[i]],
                  float(members[i, top[i]])) for i, row in enumerate(table.rows))
    caption = (table.caption + f" The last columns assign each point to its most probable "
               f"component of K = {k} (components relabelled to one labelling; each "
               "component's probability is in the CSV).")
    return replace(table, columns=columns, rows=rows, caption=caption)
