"""``python -m s2kd`` runs the project like ``kedro run``."""

from pathlib import Path

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args, **kwargs):
    configure_project(Path(__file__).parent.name)
    run = find_run_command(Path(__file__).parent.name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
