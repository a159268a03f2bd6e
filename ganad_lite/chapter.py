"""The opening cell of every chapter: the active profile, the hardware, and what the page's numbers can mean."""
from __future__ import annotations

import warnings

from .data import DataFallbackWarning
from .device import hardware_info
from .profiles import Profile, get_profile

SMOKE_BANNER = ("> **Smoke build.** This page was executed in the `smoke` profile: models train for seconds on a "
                "few hundred images, so its figures and numbers prove that the code runs and say nothing about "
                "the method. Build with `GANAD_PROFILE=cpu` (or `full` on a GPU) for real results.")


def start(experiment: str | None = None, *, note: str | None = None, quiet_data: bool = True) -> Profile:
    """Print the profile and hardware, show the profile's banner, and return the profile.

    experiment: "mnist", "cifar10" or "mvtec" on an experiment chapter (its banner then compares the budget
    with the thesis). note: one extra line printed under the profile (e.g. what the chapter trains).
    quiet_data: silence DataFallbackWarning, since the chapters print the data notice themselves.
    """
    from IPython.display import Markdown, display

    if quiet_data:
        warnings.simplefilter("ignore", DataFallbackWarning)
    profile = get_profile()  # GANAD_PROFILE=smoke|cpu|full; the default depends on the hardware
    print(f"profile: {profile.name}")  # short lines: the page's output column is about 80 characters wide
    print(f"  ({profile.description})")
    print("hardware:", hardware_info()["summary"])
    if note:
        print(note)
    if profile.name == "smoke":
        display(Markdown(SMOKE_BANNER))
    elif experiment is not None:
        from .experiments import profile_banner

        display(Markdown(profile_banner(profile, experiment)))
    return profile
