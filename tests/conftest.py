"""Suite-wide settings. Hypothesis runs without per-example deadlines: timing belongs in `register bench`,
and a loaded CI machine must not turn a slow example into a failure."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("register", deadline=None, print_blob=True)
settings.load_profile("register")
