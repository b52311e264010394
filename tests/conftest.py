"""Pytest options shared by the notebook runner and the tests that cannot live in a notebook.

The suite runs on two workers (`-n 2` in pyproject.toml's addopts, pytest-xdist), the notebooks first and the
longest first (last run's times from pytest's cache, else the count of `#| slow` cells), so that both workers
finish together. `-n 0` runs everything in one process."""
import os, re, subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_DURATIONS = "fsdl/durations"  # pytest cache key: seconds per test id from the last run
_times = {}


def pytest_addoption(parser):
    parser.addoption("--flags", action="store", default=os.environ.get("FSDL_TEST_FLAGS", ""),
                     help="space- or comma-separated nbdev test flags to force (e.g. 'slow cuda slurm')")


def forced_flags(config):
    "The flags given with --flags (or FSDL_TEST_FLAGS), as a list"
    return [f for f in config.getoption("--flags").replace(",", " ").split() if f]


def _is_worker(config): return hasattr(config, "workerinput")  # a pytest-xdist worker: the controller owns services


def pytest_configure(config):
    """Share the cores between the xdist workers: each gets `cores // workers` OpenMP threads (torch's intra-op pool),
    inherited by its notebook kernel and every process a test starts, unless OMP_NUM_THREADS is already set.

    Without this, two workers on two cores each ran torch on two threads (and their training subprocesses too): four
    spinning OpenMP threads on two cores. Small models run many short parallel regions, and each one waits at its
    barrier for a thread that is descheduled, so a cell could take 8x its time alone (a 1-epoch fine-tune: 61 s in
    the suite, 7.6 s alone)."""
    if _is_worker(config) or "OMP_NUM_THREADS" in os.environ: return
    n = getattr(config.option, "numprocesses", None) or 0
    if n == "auto" or n == "logical": n = os.cpu_count() or 1
    if int(n) > 1: os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(n)))


def pytest_sessionstart(session):
    """Start the real services that forced flags need (the `slurm` flag: a one-node SLURM cluster); stopped at the end.

    Each service is one script in scripts/services/ that a contributor can also run by hand. With pytest-xdist
    only the controlling process starts them, once, before any worker runs a test."""
    config = session.config
    config._fsdl_services = []
    if _is_worker(config): return
    for flag in forced_flags(config):
        script = ROOT / "scripts" / "services" / f"{flag}.sh"
        if script.exists():
            subprocess.run(["bash", str(script), "up"], check=True)
            config._fsdl_services.append(script)


def _cost(item, last):
    "How long `item` is expected to take: its time in the last run, else 1 + a notebook's `#| slow` cells, else 0"
    if item.nodeid in last: return last[item.nodeid]
    params = getattr(getattr(item, "callspec", None), "params", {})
    nb = params.get("nb_path") if "test_notebook" in item.name else None
    return 1.0 + len(re.findall(r'"#\|\s*slow', Path(nb).read_text())) if nb else 0.0


def _last(config):
    "Last run's durations: read once by the controller and handed to xdist workers, so they collect in one order"
    if _is_worker(config): return config.workerinput.get("fsdl_durations", {})
    return config.cache.get(_DURATIONS, {}) if getattr(config, "cache", None) else {}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node): node.workerinput["fsdl_durations"] = _last(node.config)


def pytest_collection_modifyitems(session, config, items):
    last = _last(config)
    items.sort(key=lambda it: -_cost(it, last))  # stable: equal costs keep their order


def pytest_runtest_logreport(report):
    if report.when == "call": _times[report.nodeid] = round(report.duration, 1)


def pytest_sessionfinish(session, exitstatus):
    for script in getattr(session.config, "_fsdl_services", []):
        subprocess.run(["bash", str(script), "down"], check=False)
    cache = getattr(session.config, "cache", None)
    if cache is not None and _times and not _is_worker(session.config):
        cache.set(_DURATIONS, {**cache.get(_DURATIONS, {}), **_times})
