"Pytest options shared by the notebook runner and the tests that cannot live in a notebook."
import os, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--flags", action="store", default=os.environ.get("FSDL_TEST_FLAGS", ""),
                     help="space- or comma-separated nbdev test flags to force (e.g. 'slow cuda slurm')")


def forced_flags(config):
    "The flags given with --flags (or FSDL_TEST_FLAGS), as a list"
    return [f for f in config.getoption("--flags").replace(",", " ").split() if f]


def _is_worker(config): return hasattr(config, "workerinput")  # a pytest-xdist worker: the controller owns services


def pytest_sessionstart(session):
    """Start the real services that forced flags need (the `slurm` flag: a one-node SLURM cluster); stopped at the end.

    Each service is one script in scripts/services/ that a contributor can also run by hand. With pytest-xdist
    (`-n 2`) only the controlling process starts them, once, before any worker runs a test."""
    config = session.config
    config._fsdl_services = []
    if _is_worker(config): return
    for flag in forced_flags(config):
        script = ROOT / "scripts" / "services" / f"{flag}.sh"
        if script.exists():
            subprocess.run(["bash", str(script), "up"], check=True)
            config._fsdl_services.append(script)


def pytest_sessionfinish(session, exitstatus):
    for script in getattr(session.config, "_fsdl_services", []): subprocess.run(["bash", str(script), "down"], check=False)
