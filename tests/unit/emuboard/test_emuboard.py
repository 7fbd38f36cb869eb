"""The emulated board's recipe and build steps that need no board: alternatives links from a real .deb's
postinst, the fake /proc a board shows, the SSH login script. (The board itself: tests/notebooks.)"""
import os
import subprocess

import pytest

from helpers.board.targets import soc_from_compatible
from helpers.emuboard import enter, recipe, rootfs
from helpers.emuboard.sshd import login_script


def test_recipe_names_every_suite_and_profile_and_its_hash_follows_the_pins(monkeypatch):
    assert set(recipe.SUITES) == {"bullseye", "bookworm"}
    for p in recipe.PROFILES:
        for s in recipe.SUITES:
            pins = recipe.profile_packages(p, s)
            assert any(x.startswith("rknn-toolkit-lite2==") for x in pins) and all("==" in x for x in pins)
            assert set(recipe.PROFILE_BACKENDS[(s, p)]) <= {"onnx", "rknnlite", "ncnn"}
    # Debian 11's own numpy (1.19.5) is below onnxruntime's declared minimum: no onnx there
    assert "onnx" not in recipe.PROFILE_BACKENDS[("bullseye", "debian")]
    assert not any(x.startswith("onnxruntime") for x in recipe.profile_packages("debian", "bullseye"))
    tags = recipe.manylinux_platforms(recipe.SUITES["bullseye"])
    assert "manylinux_2_31_aarch64" in tags and "manylinux_2_32_aarch64" not in tags
    h = recipe.recipe_hash("bullseye")
    assert h == recipe.recipe_hash("bullseye") != recipe.recipe_hash("bookworm")
    monkeypatch.setitem(recipe.PROFILES["pip"], "bullseye", ("numpy==2.0.1",))
    assert recipe.recipe_hash("bullseye") != h
    with pytest.raises(ValueError, match="unknown suite 'jessie'"):
        recipe.suite("jessie")


def _deb(tmp_path, name, files: dict, postinst: str):
    pkg = tmp_path / f"pkg-{name}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: 1.0\nArchitecture: arm64\n"
                                            "Maintainer: t <t@t>\nDescription: test\n")
    (pkg / "DEBIAN" / "postinst").write_text(postinst)
    (pkg / "DEBIAN" / "postinst").chmod(0o755)
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    out = tmp_path / "root/var/cache/apt/archives" / f"{name}_1.0_arm64.deb"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(out)], check=True,
                   capture_output=True)
    return out


@pytest.mark.skipif(not __import__("shutil").which("dpkg-deb"), reason="needs dpkg-deb (Debian)")
def test_alternatives_links_are_made_relative_with_the_highest_priority(tmp_path):
    lib = "usr/lib/aarch64-linux-gnu"
    _deb(tmp_path, "libblas3", {f"{lib}/blas/libblas.so.3": "ref"},
         "#!/bin/sh\nupdate-alternatives --install /usr/lib/aarch64-linux-gnu/libblas.so.3 \\\n"
         "    libblas.so.3-aarch64-linux-gnu /usr/lib/aarch64-linux-gnu/blas/libblas.so.3 10\n")
    _deb(tmp_path, "libopenblas0", {f"{lib}/openblas-pthread/libblas.so.3": "fast"},
         "#!/bin/sh\nupdate-alternatives --install /usr/lib/aarch64-linux-gnu/libblas.so.3 "
         "libblas.so.3-aarch64-linux-gnu /usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3 100\n")
    _deb(tmp_path, "mawk", {"usr/bin/mawk": "awk"},
         "#!/bin/sh\nupdate-alternatives --quiet --install /usr/bin/awk awk /usr/bin/mawk 5 "
         "--slave /usr/bin/nawk nawk /usr/bin/mawk\n")
    root = tmp_path / "root"
    assert rootfs.unpack_all(root, tmp_path / "log") == 3
    made = rootfs.alternatives(root)
    link = root / lib / "libblas.so.3"
    assert os.readlink(link) == "openblas-pthread/libblas.so.3" and link.read_text() == "fast"  # priority 100 wins
    assert os.readlink(root / "usr/bin/nawk") == "mawk" and made["/usr/bin/awk"] == "/usr/bin/mawk"
    (root / "proc").symlink_to("/proc")
    (root / "usr/share/base-passwd").mkdir(parents=True)
    (root / "etc").mkdir()
    for n in ("passwd", "group"):
        (root / "usr/share/base-passwd" / f"{n}.master").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "usr/lib/python3.9").mkdir(parents=True)
    rootfs.finish(root)
    assert (root / "proc").is_dir() and not (root / "proc").is_symlink() and (root / "etc/passwd").is_file()
    assert (root / "usr/local/lib/python3.9/dist-packages").is_dir()  # pip in a venv needs it (python3's postinst)
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))  # unpacked, then removed


def test_the_board_shows_an_rk3588_device_tree_and_cpuinfo(tmp_path):
    info, dt = enter.write_fake_proc(tmp_path, "rk3588")
    raw = (dt / "compatible").read_bytes()
    assert raw == b"rockchip,rk3588-evb1-lp4-v10\0rockchip,rk3588\0"
    assert soc_from_compatible(raw.decode()) == "rk3588"
    _, other = enter.write_fake_proc(tmp_path, "rk3566")
    assert soc_from_compatible((other / "compatible").read_bytes().decode()) == "rk3566"
    text = info.read_text()
    assert text.count("processor\t:") == 8 and text.count("0xd0b") == 4 and text.count("0xd05") == 4
    env = enter.board_env("pip")
    assert env["PATH"].startswith("/opt/rkboard/pip/bin:") and env["QEMU_CPU"] == "cortex-a76"
    argv = enter.proot_argv(tmp_path / "root", info, dt, env, enter.shell_command(["echo", "a b"]))
    assert argv[:2] == ["env", "-i"] and argv[-3:] == ["/bin/sh", "-c", "echo 'a b'"]
    assert f"{dt}:/proc/device-tree" in argv and "qemu-aarch64-static" in argv


def test_ssh_sessions_run_their_command_inside_the_board(tmp_path):
    class Board:
        def argv(self, cmd):
            return ["env", "-i", "A=1", "proot", "-r", "/r", "/bin/sh", "-c", cmd]

    script = login_script(Board())
    assert 'exec env -i A=1 proot -r /r /bin/sh -c "$SSH_ORIGINAL_COMMAND"' in script
    assert "exec env -i A=1 proot -r /r /bin/bash -l" in script  # a login without a command: the board's shell
    f = tmp_path / "login"
    f.write_text(script)
    assert subprocess.run(["sh", "-n", str(f)]).returncode == 0  # valid shell


def test_a_notebook_never_builds_a_board_it_says_what_to_run(tmp_path, monkeypatch):
    """Building a board downloads (Debian's archive, aarch64 wheels): setup's job. A notebook's board section asks for a
    built one (build=False) and, when setup has not built it, stops with the command, before any download."""
    from helpers import emuboard
    from helpers.emuboard.build import BoardNotBuilt

    monkeypatch.setenv("RK_BOARD_CACHE", str(tmp_path / "empty cache"))
    monkeypatch.setattr(rootfs, "build_rootfs", lambda *a, **k: pytest.fail("a notebook started a board build"),
                        raising=False)
    with pytest.raises(BoardNotBuilt, match=r"python -m helpers.emuboard build.*EMULATED_BOARD"):
        emuboard.EmulatedBoard("bullseye", "pip", build=False)
    from helpers.deploy import flows

    assert open(flows.__file__).read().count("build=False") == 2  # 07's and 08's board sections
