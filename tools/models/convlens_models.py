"""Console-script launcher of `convlens-models` (tools/models/pyproject.toml): puts this checkout's root on
sys.path (`tools` then puts handlers/ there for the engine) and runs the command line."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main() -> int:
    from tools.models.cli import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
