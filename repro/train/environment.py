"""What a run ran on: code version, library versions and hardware."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GIT_COMMIT_ENV = "REPRO_GIT_COMMIT"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@lru_cache(maxsize=1)
def git_state() -> dict[str, object]:
    if os.environ.get(GIT_COMMIT_ENV):
        # A copy of the tree whose .git is absent or stale (a lent GPU machine): the caller names the commit.
        return {"commit": os.environ[GIT_COMMIT_ENV], "dirty": None, "from": GIT_COMMIT_ENV}
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit or "unknown", "dirty": bool(status) if status is not None else None}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def hardware_label(device: str) -> str:
    """Short human label used in tables: the GPU if one is used, else the CPU."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def environment(device: str = "cpu") -> dict[str, object]:
    env: dict[str, object] = {
        "git": git_state(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": memory_gib(),
        "device": device,
        "hardware": hardware_label(device),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env
