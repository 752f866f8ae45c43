"""Hypothesis profiles for the money code: "ci" (the default) and "deep" (`make test-deep`).

The property tests pick the profile named by HYPOTHESIS_PROFILE (default "ci") through their
own ``@settings`` rather than ``settings.load_profile``: loading a profile is global, and
would also multiply the examples of every other Hypothesis test in the suite.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=50_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
