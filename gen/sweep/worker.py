"""One task in its own process: ``python -m macforge.gen.sweep.worker TASK.json WORK_ROOT RECORD.json``.

Both backends start every task this way, so a task that crashes the interpreter (a simulator abort, an
out-of-memory kill) loses only itself, and a task's imports and simulator state never leak into the next.
The record (:func:`macforge.gen.sweep.steps.execute`) is written to ``RECORD.json`` atomically.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run_in_subprocess(task: dict, work_root: str | Path, timeout: float | None = None) -> dict:
    """Run ``task`` in a fresh Python process and return its record; a crash or a timeout becomes an
    ``"error"`` record."""
    work_root = Path(work_root)
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root, prefix=".task-") as tmp:
        tin, tout = Path(tmp) / "task.json", Path(tmp) / "record.json"
        tin.write_text(json.dumps(task))
        cmd = [sys.executable, "-m", "macforge.gen.sweep.worker", str(tin), str(work_root), str(tout)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return _crash(task, f"TimeoutError: task exceeded {timeout} s")
        if tout.exists():
            return json.loads(tout.read_text())
        return _crash(task, f"WorkerCrashed: exit status {proc.returncode}\n{proc.stderr[-3000:]}")


def _crash(task: dict, error: str) -> dict:
    from .steps import tool_versions

    return {"key": task["key"], "step": task["step"], "tools": task.get("tools") or tool_versions(task["step"]),
            "status": "error",
            "result": None, "timing": {}, "error": error}


def main(argv: list[str]) -> int:
    from .steps import execute

    tin, work_root, tout = argv
    rec = execute(json.loads(Path(tin).read_text()), work_root)
    tmp = Path(tout).with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, tout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
