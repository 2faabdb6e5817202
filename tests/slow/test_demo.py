# SPDX-License-Identifier: LGPL-2.1-or-later
"""The README's first command, scripts/demo.sh, run as a user runs it (with
the test suite's build, DOMUFS): from the default template to a checked
image, every step's exit status checked by the script itself (set -e), down
to its last line. A change of behaviour that breaks the front door (an exit
status the demo relies on, say) fails here, not on a user's machine."""
import os
import subprocess

import pytest

from test_recipes import DOMUFS, SRC


def test_the_readme_demo_runs_to_its_end():
    if not DOMUFS:
        pytest.skip("DOMUFS is not set (run through meson test)")
    env = dict(os.environ, DOMUFS=DOMUFS)
    r = subprocess.run(["bash", str(SRC / "scripts" / "demo.sh")], cwd=SRC, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    tail = "\n".join(r.stdout.splitlines()[-40:])
    assert r.returncode == 0, f"scripts/demo.sh exited {r.returncode}:\n{tail}"
    assert r.stdout.rstrip().endswith("demo: done"), tail
    assert "skipped" not in r.stdout, f"a check of the demo was skipped:\n{tail}"
