"""Entry point the language host runs for `--policy-pack policies`: the project's modules are importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.pack import pack

pack()
