"""A pseudo-terminal for tests: run a command with stdout (or stderr) on a pty of a given size, and
read what the terminal shows, as a person in a terminal would see it."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import tempfile
import termios


def run_in_pty(cmd: list[str], columns: int | None = None, env: dict | None = None, stream: str = "stdout",
               timeout: float = 120) -> tuple[str, int, bytes]:
    """(what the terminal shows, the exit code, the other stream's bytes). ``columns`` None or 0: a pty
    whose size is not set, as some CI runners give."""
    master, slave = os.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    other = tempfile.TemporaryFile()  # noqa: SIM115 - not a pipe: a full pipe would block the child while we read
    kwargs = {"stdout": slave, "stderr": other} if stream == "stdout" else {"stdout": other, "stderr": slave}
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env, close_fds=True, **kwargs)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    rc = proc.wait(timeout=timeout)
    other.seek(0)
    rest = other.read()
    other.close()
    return b"".join(chunks).decode().replace("\r\n", "\n"), rc, rest
