"""Background processes tracked by pid files: start, wait until healthy, stop exactly what was started.

Shared by the local stack (``weir.devstack``), Airflow standalone and the stream supervisor, so it sits below
the engines and imports no other Weir module.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class DevStackError(RuntimeError):
    """A local-stack problem (a process that would not start, a taken port, a missing tool), with what went wrong
    and how to fix it."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process is still alive, else None (a stale file is removed)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    if _is_zombie(pid):
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def start_background(cmd: list[str], pid_file: Path, log_file: Path, env: dict[str, str] | None = None,
                     cwd: Path | None = None) -> int:
    """Start ``cmd`` detached in its own process group, logging to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=str(cwd) if cwd else None, start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def wait_until(check: Callable[[], bool], timeout_s: float, pid: int, what: str, log_file: Path) -> None:
    """Poll ``check`` until true; fail with the log's tail if the process died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise DevStackError(f"{what} exited during start-up. Last lines of {log_file}:\n{tail(log_file)}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise DevStackError(f"{what} was not healthy after {timeout_s:.0f}s. Last lines of {log_file}:\n{tail(log_file)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _is_zombie(pid)


def end_group(pgid: int, alive: Callable[[], bool], timeout_s: float, poll_s: float = 0.2) -> None:
    """SIGTERM process group ``pgid``, wait up to ``timeout_s`` while ``alive()``, then SIGKILL what is left:
    a clean shutdown when the processes allow it, never a hang when they do not."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        time.sleep(poll_s)
    if alive():
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_process(pid_file: Path, timeout_s: float = 15.0) -> bool:
    """Stop the process group recorded in ``pid_file`` (TERM, then KILL). Harmless if nothing runs."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False

    def alive() -> bool:
        _reap(pid)
        return _alive(pid)

    end_group(pid, alive, timeout_s)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start_and_wait(cmd: list[str], pid_file: Path, log_file: Path, check: Callable[[], bool], timeout_s: float,
                   what: str) -> int:
    """Start ``cmd`` and wait until ``check`` passes; on failure stop it again, so nothing is half-started."""
    pid = start_background(cmd, pid_file, log_file)
    try:
        wait_until(check, timeout_s, pid, what, log_file)
    except BaseException:
        stop_process(pid_file)
        raise
    return pid
