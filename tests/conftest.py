"Pytest options shared by the notebook runner and the tests that cannot live in a notebook."
import os


def pytest_addoption(parser):
    parser.addoption("--flags", action="store", default=os.environ.get("FSDL_TEST_FLAGS", ""),
                     help="space- or comma-separated nbdev test flags to force (e.g. 'slow cuda slurm')")


def forced_flags(config):
    "The flags given with --flags (or FSDL_TEST_FLAGS), as a list"
    return [f for f in config.getoption("--flags").replace(",", " ").split() if f]
