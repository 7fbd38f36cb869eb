"""An OpenSSH server on 127.0.0.1 whose sessions run inside the emulated board.

The host's own ``sshd`` listens on a free port of the loopback address with a fresh host key and a
fresh client key, and forces every session through one login script: a command (``ssh ... CMD``)
runs in the board's ``/bin/sh``, a login without one gets the board's shell, and the sftp
subsystem (paramiko's SFTP, scp) runs the board's own ``sftp-server``, so files land in the
board's file system. ``helpers.deploy.device.SshDevice`` and notebook 07's ``BOARD_SSH`` meet it exactly
as they would meet a board on the network.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SFTP_INSIDE = "/usr/lib/openssh/sftp-server"  # Debian's openssh-sftp-server, arm64, inside the board


@dataclass(frozen=True)
class BoardAddress:
    host: str
    port: int
    user: str
    key_file: str

    @property
    def target(self) -> str:
        """``user@host:port``, as notebook 07's ``BOARD_SSH`` and ``on_board.run_on_board(ssh=...)`` take it."""
        return f"{self.user}@{self.host}:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login_script(board) -> str:
    """The ForceCommand: the client's command (or a login shell, or the sftp subsystem) inside the board."""
    run = " ".join(shlex.quote(a) for a in board.argv("PLACEHOLDER")[:-1])  # proot ... /bin/sh -c
    login = " ".join(shlex.quote(a) for a in board.argv("exec /bin/bash -l")[:-3])
    return ("#!/bin/sh\n# sessions of the emulated board (helpers.emuboard.sshd)\n"
            'if [ -z "$SSH_ORIGINAL_COMMAND" ]; then\n'
            f"  exec {login} /bin/bash -l\nfi\n"
            f'exec {run} "$SSH_ORIGINAL_COMMAND"\n')


def _config(d: Path, port: int) -> str:
    return (f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"ForceCommand {d / 'login'}\nSubsystem sftp {SFTP_INSIDE}\nPrintMotd no\n")


def _keys(d: Path) -> None:
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")


def _wait(port: int, proc: subprocess.Popen, seconds: float = 10) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd for the emulated board stopped: {proc.stderr.read().decode()[-800:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd for the emulated board did not listen on 127.0.0.1:{port} within {seconds} s")


@contextmanager
def ssh_server(board, port: int | None = None):
    """Serve ``board`` (an :class:`~helpers.emuboard.EmulatedBoard`) over SSH on 127.0.0.1 while the block runs.

    Yields a :class:`BoardAddress` (root, a key made for this server). Needs ``sshd`` (openssh-server)
    and root, as a board's sshd does.
    """
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        raise RuntimeError("no sshd here: apt-get install openssh-server (scripts/setup.sh does when root)")
    d = Path(tempfile.mkdtemp(prefix="emuboard-sshd-"))
    proc = None
    try:
        _keys(d)
        (d / "login").write_text(login_script(board))
        (d / "login").chmod(0o755)
        port = port or _free_port()
        (d / "sshd_config").write_text(_config(d, port))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
        _wait(port, proc)
        yield BoardAddress("127.0.0.1", port, "root", str(d / "client_key"))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(d, ignore_errors=True)
