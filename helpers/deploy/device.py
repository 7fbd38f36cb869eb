"""Board I/O over SSH (paramiko) and adb (adbutils): find, push, pull, run, versions.

Most Debian/Ubuntu RK3588 boards are reached over SSH; Rockchip's own dev kits and Android
images over adb (USB). Both sides offer the same operations (:class:`Device`), and every failure
is a :class:`DeviceError` that says what to do. Nothing on the PC is lost or overwritten: pulls
go to a temporary folder and are renamed into place, and refuse an existing target unless told.
Pushes check the board's free space first and land in a temporary folder that is renamed at the
end, so an interrupted push never leaves a half-copied bundle behind.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
import socket
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from ..board.atomic import commit
from ..board.targets import soc_from_compatible

#: where the board-side runtime files live on Rockchip's Linux images, and where they come from
BOARD_FILES = {
    "librknnrt": ("/usr/lib/librknnrt.so", "rknpu2/runtime/Linux/librknn_api/aarch64/librknnrt.so"),
    "rknn_server": ("/usr/bin/rknn_server", "rknpu2/runtime/Linux/rknn_server/aarch64/usr/bin/rknn_server"),
}


#: a push needs this much more free space than the files take (file-system overhead), plus a fixed margin
PUSH_HEADROOM, PUSH_MARGIN_BYTES = 1.1, 1_000_000


class DeviceError(RuntimeError):
    """Something about the board or the link to it; the message says what to do."""


class NoDevice(DeviceError):
    pass


class ConnectionFailed(DeviceError):
    pass


class AuthFailed(DeviceError):
    pass


class RemoteCommandFailed(DeviceError):
    def __init__(self, cmd: str, code: int, stderr: str):
        self.cmd, self.code, self.stderr = cmd, code, stderr
        super().__init__(f"command failed on the device (exit {code}): {cmd}\n{stderr.strip()[-1500:]}")


class DiskFull(DeviceError):
    pass


class VersionMismatch(DeviceError):
    pass


@dataclass
class BoardVersions:
    soc: str | None = None
    librknnrt: str | None = None
    rknn_server: str | None = None
    npu_driver: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


VERSION_SCRIPT = r"""
echo "soc: $(tr -d '\0' < /proc/device-tree/compatible 2>/dev/null | tr ',' ' ' | tr -s ' ')"
echo "librknnrt: $(strings /usr/lib/librknnrt.so 2>/dev/null | grep -m1 'librknnrt version' || true)"
echo "rknn_server: $(strings /usr/bin/rknn_server 2>/dev/null | grep -m1 'rknn_server version' || true)"
echo "npu_driver: $(cat /sys/kernel/debug/rknpu/version 2>/dev/null || dmesg 2>/dev/null | grep -i -m1 'rknpu.*driver' || true)"
"""


def parse_versions(text: str) -> BoardVersions:
    """Parse the output of :data:`VERSION_SCRIPT` (missing pieces stay ``None``)."""
    v = BoardVersions()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        val = val.strip()
        if key == "soc":
            v.soc = soc_from_compatible(val)
        elif key in ("librknnrt", "rknn_server"):
            m = re.search(r"version:?\s*([0-9]+\.[0-9]+\.[0-9]+)", val)
            setattr(v, key, m.group(1) if m else None)
        elif key == "npu_driver":
            m = re.search(r"v?([0-9]+\.[0-9]+\.[0-9]+)", val)
            v.npu_driver = m.group(1) if m else None
    return v


def check_versions(v: BoardVersions, toolkit_version: str, target: str | None = None, need_server: bool = False) -> None:
    """Raise :class:`VersionMismatch` naming exactly what to push when the board does not match."""
    problems = []
    if target and v.soc and v.soc != target:
        problems.append(f"the board is an {v.soc}, the model was built for {target}: rebuild with TARGET='{v.soc}'")
    wanted = ["librknnrt"] + (["rknn_server"] if need_server else [])
    for name in wanted:
        have = getattr(v, name)
        board_path, release_path = BOARD_FILES[name]
        if have != toolkit_version:
            what = "is missing" if have is None else f"is version {have}"
            problems.append(f"{board_path} {what}, the model was built by rknn-toolkit2 {toolkit_version}: push "
                            f"{release_path} from the rknn-toolkit2 v{toolkit_version} release to {board_path} "
                            f"(and restart rknn_server)")
    if problems:
        raise VersionMismatch("the board does not match the toolkit:\n- " + "\n- ".join(problems))


class Device:
    """Common operations; subclasses implement ``shell``, ``_put``, ``_get``."""

    kind = "?"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        pass

    def shell(self, cmd: str, check: bool = True, timeout: float = 600) -> tuple[int, str, str]:
        raise NotImplementedError

    def free_bytes(self, path: str) -> int:
        _, out, _ = self.shell(f"mkdir -p {shlex.quote(path)} && df -Pk {shlex.quote(path)} | tail -1")
        fields = out.split()
        if len(fields) < 4:
            raise DeviceError(f"cannot read the free space of {path} on the device: {out!r}")
        return int(fields[3]) * 1024

    def push(self, local: str | os.PathLike, remote_dir: str) -> str:
        """Copy a file or folder to ``remote_dir`` (replaced as a whole). Returns the remote path."""
        local = Path(local)
        if not local.exists():
            raise FileNotFoundError(f"nothing to push at {local}")
        files = [local] if local.is_file() else [f for f in local.rglob("*") if f.is_file()]
        need = sum(f.stat().st_size for f in files)
        parent = posixpath.dirname(remote_dir.rstrip("/")) or "/"
        free = self.free_bytes(parent)
        if free < need * PUSH_HEADROOM + PUSH_MARGIN_BYTES:
            raise DiskFull(f"the device has {free / 2**20:.1f} MB free in {parent}, the push needs "
                           f"{need / 2**20:.1f} MB: free some space there (or choose another folder)")
        tmp = f"{remote_dir.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
        dst = {f: posixpath.join(tmp, f.name if local.is_file() else f.relative_to(local).as_posix()) for f in files}
        dirs = sorted({tmp} | {posixpath.dirname(d) for d in dst.values()})
        # one round trip for every folder, one for the modes: a board's shell is a process per command
        self.shell(f"rm -rf {shlex.quote(tmp)} && mkdir -p " + " ".join(shlex.quote(d) for d in dirs))
        try:
            for f, d in dst.items():
                self._put(f, d)
            runnable = [d for f, d in dst.items() if os.access(f, os.X_OK)]
            if runnable:
                self.shell("chmod +x " + " ".join(shlex.quote(d) for d in runnable))
            self.shell(f"rm -rf {shlex.quote(remote_dir)} && mv {shlex.quote(tmp)} {shlex.quote(remote_dir)}")
        except BaseException:
            self.shell(f"rm -rf {shlex.quote(tmp)}", check=False)
            raise
        return remote_dir

    def pull(self, remote: str, local: str | os.PathLike, overwrite: bool = False) -> Path:
        """Copy a remote file or folder to ``local``; never replaces an existing ``local`` unless ``overwrite``."""
        local = Path(local)
        if local.exists() and not overwrite:
            raise FileExistsError(f"{local} exists; pull into a new path (or pass overwrite=True)")
        code, out, _ = self.shell(f"if [ -d {shlex.quote(remote)} ]; then cd {shlex.quote(remote)} && find . -type f; "
                                  f"elif [ -f {shlex.quote(remote)} ]; then echo FILE; else exit 3; fi", check=False)
        if code == 3:
            raise DeviceError(f"nothing at {remote} on the device")
        if code:
            raise RemoteCommandFailed(f"list {remote}", code, out)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{local.name}.", dir=local.parent))
        try:
            if out.strip() == "FILE":
                self._get(remote, tmp / "f")
                src = tmp / "f"
            else:
                for rel in out.split("\n"):
                    rel = rel.strip()
                    if not rel:
                        continue
                    dst = tmp / "d" / rel[2:]
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    self._get(posixpath.join(remote, rel[2:]), dst)
                src = tmp / "d"
                src.mkdir(exist_ok=True)
            commit(src, local)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return local

    def versions(self) -> BoardVersions:
        _, out, _ = self.shell(VERSION_SCRIPT, check=False)
        return parse_versions(out)

    def _put(self, local: Path, remote: str) -> None:
        raise NotImplementedError

    def _get(self, remote: str, local: Path) -> None:
        raise NotImplementedError


class SshDevice(Device):
    """A board over SSH (paramiko). ``key_file`` or ``password``; unknown host keys are accepted
    only when ``trust_new_host=True`` (a throw-away test server, or a board you just flashed)."""

    kind = "ssh"

    def __init__(self, host: str, port: int = 22, user: str = "root", key_file: str | None = None,
                 password: str | None = None, timeout: float = 10, trust_new_host: bool = False):
        import paramiko

        self.host, self.port, self.user = host, port, user
        self.client = paramiko.SSHClient()
        self.client.load_system_host_keys()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if trust_new_host else paramiko.RejectPolicy())
        where = f"{user}@{host}:{port}"
        try:
            self.client.connect(host, port=port, username=user, key_filename=key_file, password=password,
                                timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                                look_for_keys=key_file is None and password is None, allow_agent=False)
        except paramiko.AuthenticationException as e:
            raise AuthFailed(f"{where} refused the login ({e}): check the user, the password or that the key's "
                             "public half is in the board's ~/.ssh/authorized_keys") from None
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise ConnectionFailed(f"{where}: unknown host key. Check it is your board, then connect once with "
                                       "`ssh` to record it (or pass trust_new_host=True)") from None
            raise ConnectionFailed(f"SSH to {where} failed: {e}") from None
        except (OSError, socket.timeout) as e:
            raise ConnectionFailed(f"cannot reach {where} ({e}): is the board on, on this network, and sshd "
                                   "running (`systemctl status ssh` on the board)?") from None
        self.sftp = self.client.open_sftp()

    def shell(self, cmd: str, check: bool = True, timeout: float = 600) -> tuple[int, str, str]:
        _, stdout, stderr = self.client.exec_command(cmd, timeout=timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        code = stdout.channel.recv_exit_status()
        if check and code:
            raise RemoteCommandFailed(cmd, code, err or out)
        return code, out, err

    def _put(self, local: Path, remote: str) -> None:
        try:
            self.sftp.put(str(local), remote)
        except OSError as e:
            if "No space" in str(e) or getattr(e, "errno", None) == 28:
                raise DiskFull(f"the device ran out of space writing {remote}") from None
            raise DeviceError(f"could not write {remote} on the device: {e}") from None

    def _get(self, remote: str, local: Path) -> None:
        self.sftp.get(remote, str(local))

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None


class AdbDevice(Device):
    """A board over adb (adbutils talks to the adb server; start it with `adb start-server`)."""

    kind = "adb"

    def __init__(self, serial: str | None = None, host: str = "127.0.0.1", port: int = 5037):
        import adbutils

        self.client = adbutils.AdbClient(host=host, port=port, socket_timeout=10)
        try:
            devices = self.client.device_list()
        except (adbutils.AdbError, OSError) as e:
            raise ConnectionFailed(f"no adb server at {host}:{port} ({e}): start it with `adb start-server` "
                                   "(Debian/Ubuntu: apt install adb)") from None
        if not devices:
            raise NoDevice("no adb device found: connect the board's USB OTG port, check `adb devices` lists it "
                           "(and the board's adbd is running), or use SSH instead")
        serials = [d.serial for d in devices]
        if serial is not None and serial not in serials:
            raise NoDevice(f"adb device {serial!r} not found; connected: {', '.join(serials)}")
        self.device = self.client.device(serial or serials[0])

    @staticmethod
    def list_serials(host: str = "127.0.0.1", port: int = 5037) -> list[str]:
        import adbutils

        try:
            return [d.serial for d in adbutils.AdbClient(host=host, port=port, socket_timeout=10).device_list()]
        except (adbutils.AdbError, OSError) as e:
            raise ConnectionFailed(f"no adb server at {host}:{port} ({e}): start it with `adb start-server`") from None

    def shell(self, cmd: str, check: bool = True, timeout: float = 600) -> tuple[int, str, str]:
        r = self.device.shell2(cmd, timeout=timeout)
        if check and r.returncode:
            raise RemoteCommandFailed(cmd, r.returncode, r.output)
        return r.returncode, r.output, ""

    def _put(self, local: Path, remote: str) -> None:
        self.device.sync.push(str(local), remote)

    def _get(self, remote: str, local: Path) -> None:
        self.device.sync.pull(remote, str(local))


