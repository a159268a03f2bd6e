"""Argument types of the command line: each parses one flag's text and names the flag when it is wrong."""
from __future__ import annotations

import argparse
import math


def seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2 ** 32:
        raise argparse.ArgumentTypeError(f"the seed must be an integer in [0, 2**32 - 1], got {text!r}")
    return seed


def seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(seed(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers in [0, 2**32 - 1] such as 0,1,2, "
                                         f"got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds: give each seed once, got {text!r}")
    return seeds


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number of pixels is needed, got {text!r}")
    return int(text)


def workers(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--workers takes a whole number of processes, 1 or more, got {text!r}")
    return int(text)


def finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a finite number is needed, got {text!r}")
    return value


def weight(text: str) -> float:
    value = finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"the score weight lambda lies in [0, 1], got {text!r}")
    return value


def size_list(text: str) -> tuple[int, ...]:
    """--sizes '28,64' -> (28, 64); each a positive whole number of pixels."""
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--sizes takes comma-separated positive sizes in pixels, e.g. 28,64; "
                                         f"got {text!r}") from None
