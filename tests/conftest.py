"Pytest options shared by the notebook runner and the tests that cannot live in a notebook."
import os, subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--flags", action="store", default=os.environ.get("FSDL_TEST_FLAGS", ""),
                     help="space- or comma-separated nbdev test flags to force (e.g. 'slow cuda slurm')")


def forced_flags(config):
    "The flags given with --flags (or FSDL_TEST_FLAGS), as a list"
    return [f for f in config.getoption("--flags").replace(",", " ").split() if f]


@pytest.fixture(scope="session", autouse=True)
def services(request):
    """Start the real services that forced flags need (the `slurm` flag: a one-node SLURM cluster), and stop them after.

    Each service is one script in scripts/services/ that a contributor can also run by hand."""
    started = []
    for flag in forced_flags(request.config):
        script = ROOT / "scripts" / "services" / f"{flag}.sh"
        if script.exists():
            subprocess.run(["bash", str(script), "up"], check=True)
            started.append(script)
    yield
    for script in started: subprocess.run(["bash", str(script), "down"], check=False)
