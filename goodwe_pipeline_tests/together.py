"""Start several Python processes and release them at the same moment.

For races on first use: each child imports and sets up, calls
``wait_for_go()``, and only then does the racing work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_TIMEOUT_S = 120


def wait_for_go() -> None:
    """In a child: say ready, then wait for the release (the last two arguments are the flags)."""
    ready, go = sys.argv[-2:]
    Path(ready).touch()
    while not os.path.exists(go):
        time.sleep(0.002)


def run_together(script: str, args: Sequence[str], count: int, workdir: Path) -> list[str]:
    """Run ``count`` copies of ``script`` with ``args``, released together; return their stdouts.

    A child that fails fails the caller with its stderr.
    """
    go = workdir / "go"
    ready = [workdir / f"ready{i}" for i in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args, str(flag), str(go)],
            cwd=workdir,  # the packaged code is found without the repo as CWD
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + _TIMEOUT_S
        while not all(flag.exists() for flag in ready):
            assert all(p.poll() is None for p in processes), "a process died before the release"
            assert time.monotonic() < deadline, "the processes did not get ready"
            time.sleep(0.01)
        go.touch()
        outputs = []
        for process in processes:
            out, err = process.communicate(timeout=_TIMEOUT_S)
            assert process.returncode == 0, err
            outputs.append(out)
        return outputs
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
