"""The usage metrics a licensee reports, and how each is priced (settlement.rating prices them).

- ``tokens_trained``: rate per 1,000 tokens.
- ``training_examples``: rate per example.
- ``retrievals``: rate per retrieval.
- ``outputs_attributed``: rate per attributed output.
- ``revenue``: the quantity is revenue in minor units, priced by a revenue share in basis points.
"""

from __future__ import annotations

PRICING_UNIT_BY_METRIC: dict[str, int] = {
    "tokens_trained": 1_000,
    "training_examples": 1,
    "retrievals": 1,
    "outputs_attributed": 1,
}
"""How many units of each rate-priced metric one rate buys."""

REVENUE_METRIC = "revenue"
"""The metric priced by a revenue share instead of a rate."""
