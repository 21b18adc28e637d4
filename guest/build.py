"""Build bootflow's guest image from Debian packages only: a kernel, an initramfs, a root disk.

    .venv/bin/python guest/build.py [--out .guest]      (make guest; make demo and test run it)

- kernel: Debian's cloud kernel (the package ``linux-image-cloud-amd64`` points at), fetched
  with ``apt-get download`` and unpacked, never installed on this machine. It has the serial
  console, initrd support and ext4 built in; virtio and iso9660 are modules.
- initramfs: static busybox, those modules (in dependency order) and ``guest/initramfs-init``,
  which loads them and switches to the root disk.
- root disk: an ext4 filesystem made with ``mke2fs -d`` from a busybox tree whose
  ``/sbin/init`` is ``guest/init`` (reads the config drive, prints the guest's line), then
  converted to a compressed qcow2.

Cached: the output dir keeps the downloaded .deb and a manifest whose key covers every
input (this script, both init scripts, the kernel package, busybox's version); a build with
the same key does nothing. ``manifest.json`` names the files and the kernel command line;
``bootflow up`` uploads them from there (kernel and ramdisk as AKI/ARI images, the disk as
qcow2 with ``kernel_id``/``ramdisk_id`` properties, as Glance does).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
# The drivers a guest needs that Debian's cloud kernel builds as modules: virtio PCI
# transport, disks, NIC, and iso9660 for the config drive.
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "isofs")
ROOT_FS_MIB = 32
ROOT_LABEL = "bootflow-root"
# What the guest's init prints first on its line; spawn waits for it.
READY_MARKER = "bootflow-guest"
# quiet/loglevel keep kernel messages from interleaving with the guest's line.
CMDLINE = "root=/dev/vda console=ttyS0 quiet loglevel=3"
MANIFEST = "manifest.json"
# Bump when the output's shape changes in a way the inputs do not show.
FORMAT = 1


class BuildError(Exception):
    """The build cannot go on; the message says what is missing and how to get it."""


def run(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]
    except FileNotFoundError as exc:
        raise BuildError(f"{argv[0]} is missing: run scripts/install-system-deps.sh") from exc
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"{' '.join(argv)} failed: {exc.stderr.strip() or exc}") from exc


def kernel_package() -> str:
    """The versioned kernel package the meta-package depends on (apt's current candidate)."""
    for attempt in range(2):
        try:
            out = run("apt-cache", "depends", KERNEL_META_PACKAGE).stdout
        except BuildError:
            out = ""
        for line in out.splitlines():
            dep = line.strip()
            if dep.startswith("Depends:") and "linux-image-" in dep:
                return dep.split(":", 1)[1].strip()
        if attempt == 0 and os.geteuid() == 0:
            run("apt-get", "update", "-qq")  # package lists missing or stale
    raise BuildError(
        f"apt does not know {KERNEL_META_PACKAGE}; run `apt-get update` (as root) first"
    )


def download_deb(package: str, cache: Path) -> Path:
    """The package's .deb in ``cache``, downloaded once by apt (Debian's mirror only)."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        run("apt-get", "download", "-q", package, cwd=tmp)
        (deb,) = Path(tmp).glob(f"{package}_*.deb")
        final = cache / deb.name
        os.replace(deb, final)
    return final


def busybox() -> tuple[Path, str]:
    """The installed static busybox and its package version."""
    try:
        version = run("dpkg-query", "-W", "-f=${Version}", BUSYBOX_PACKAGE).stdout.strip()
    except BuildError as exc:
        raise BuildError(
            f"{BUSYBOX_PACKAGE} is not installed: apt-get install {BUSYBOX_PACKAGE}"
        ) from exc
    for line in run("dpkg-query", "-L", BUSYBOX_PACKAGE).stdout.splitlines():
        if line.endswith("/busybox") and Path(line).is_file():
            return Path(line), version
    raise BuildError(f"{BUSYBOX_PACKAGE} installs no busybox binary")


def applets(busybox_path: Path) -> list[str]:
    return run(str(busybox_path), "--list").stdout.split()


def module_depends(ko: Path) -> list[str]:
    """The modules ``ko`` needs, from its .modinfo section (what modinfo -F depends prints)."""
    data = ko.read_bytes()
    at = data.find(b"\0depends=")
    if at < 0:
        return []
    value = data[at + len(b"\0depends=") : data.index(b"\0", at + 1)].decode()
    return [m for m in value.split(",") if m]


def module_order(modules_dir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """The wanted modules and everything they depend on, dependencies first."""
    by_name = {ko.stem.replace("-", "_"): ko for ko in modules_dir.rglob("*.ko")}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        if name not in by_name:
            raise BuildError(f"kernel module {name} is not in {modules_dir}")
        for dep in module_depends(by_name[name]):
            visit(dep)
        order.append(by_name[name])

    for name in wanted:
        visit(name)
    return order


# -- a newc cpio archive, written here so the initramfs is byte-for-byte reproducible --------


def _cpio_entry(out: io.BytesIO, name: str, mode: int, data: bytes, ino: int) -> None:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    out.write(b"070701" + b"".join(f"{f:08X}".encode() for f in fields))
    out.write(encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def cpio_newc(root: Path) -> bytes:
    out = io.BytesIO()
    paths = sorted(root.rglob("*"))
    for ino, path in enumerate(paths, start=1):
        name = str(path.relative_to(root))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            _cpio_entry(out, name, stat.S_IFLNK | 0o777, os.readlink(path).encode(), ino)
        elif stat.S_ISDIR(st.st_mode):
            _cpio_entry(out, name, stat.S_IFDIR | 0o755, b"", ino)
        else:
            _cpio_entry(out, name, stat.S_IFREG | stat.S_IMODE(st.st_mode), path.read_bytes(), ino)
    _cpio_entry(out, "TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def busybox_tree(root: Path, busybox_path: Path, names: list[str]) -> None:
    """``root/bin/busybox`` and a symlink for each applet, as ``busybox --install -s``."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(busybox_path, bin_dir / "busybox")
    for name in names:
        if name != "busybox" and "/" not in name:
            (bin_dir / name).symlink_to("busybox")
    (root / "sbin").symlink_to("bin")


def build_initramfs(work: Path, busybox_path: Path, names: list[str], modules: list[Path]) -> bytes:
    root = work / "initramfs"
    busybox_tree(root, busybox_path, names)
    for sub in ("dev", "proc", "sys", "newroot"):
        (root / sub).mkdir()
    mod_dir = root / "lib" / "modules"
    mod_dir.mkdir(parents=True)
    for ko in modules:
        shutil.copy2(ko, mod_dir / ko.name)
    (mod_dir / "load-order").write_text("".join(f"{ko.stem}\n" for ko in modules))
    init = root / "init"
    shutil.copy2(HERE / "initramfs-init", init)
    init.chmod(0o755)
    # mtime=0: the same inputs give the same bytes.
    return gzip.compress(cpio_newc(root), compresslevel=9, mtime=0)


def build_root_disk(work: Path, busybox_path: Path, names: list[str], out: Path) -> None:
    root = work / "rootfs"
    busybox_tree(root, busybox_path, names)
    for sub in ("dev", "proc", "sys", "tmp", "run", "mnt/config", "etc", "root"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "hostname").write_text("bootflow-guest\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    init = root / "bin" / "init"
    init.unlink()  # the applet's symlink: our script is init
    shutil.copy2(HERE / "init", init)
    init.chmod(0o755)
    raw = work / "root.ext4"
    run(
        "mke2fs", "-q", "-t", "ext4", "-L", ROOT_LABEL, "-E", "root_owner=0:0",
        "-d", str(root), str(raw), f"{ROOT_FS_MIB}M",
    )  # fmt: skip
    partial = out.with_name(out.name + ".part")
    run("qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(partial))
    os.replace(partial, out)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cache_key(kernel_deb: str, busybox_version: str) -> str:
    h = hashlib.sha256(f"{FORMAT}\0{kernel_deb}\0{busybox_version}\0".encode())
    for name in ("build.py", "init", "initramfs-init"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()


def up_to_date(out: Path, key: str) -> dict[str, object] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    manifest: dict[str, object] = json.loads(path.read_text())
    files = manifest.get("files")
    if manifest.get("key") != key or not isinstance(files, dict):
        return None
    if not all((out / str(f["path"])).exists() for f in files.values()):
        return None
    return manifest


def build(out: Path, force: bool = False) -> dict[str, object]:
    """Build (or find cached) the guest in ``out``; the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    package = kernel_package()
    deb = download_deb(package, out / "debs")
    busybox_path, busybox_version = busybox()
    key = cache_key(deb.name, busybox_version)
    cached = None if force else up_to_date(out, key)
    if cached is not None:
        return cached

    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        work = Path(tmp)
        unpacked = work / "kernel"
        run("dpkg-deb", "-x", str(deb), str(unpacked))
        (vmlinuz,) = (unpacked / "boot").glob("vmlinuz-*")
        (modules_dir,) = (unpacked / "lib" / "modules").iterdir()
        modules = module_order(modules_dir, MODULES)
        names = applets(busybox_path)

        shutil.copy2(vmlinuz, out / "vmlinuz.part")
        os.replace(out / "vmlinuz.part", out / "vmlinuz")
        (out / "initrd.img.part").write_bytes(build_initramfs(work, busybox_path, names, modules))
        os.replace(out / "initrd.img.part", out / "initrd.img")
        build_root_disk(work, busybox_path, names, out / "disk.qcow2")

    files = {
        role: {"path": name, "size": (out / name).stat().st_size, "sha256": sha256(out / name)}
        for role, name in (("kernel", "vmlinuz"), ("ramdisk", "initrd.img"), ("disk", "disk.qcow2"))
    }
    manifest: dict[str, object] = {
        "key": key,
        "kernel_package": deb.name,
        "kernel_release": modules_dir.name,
        "busybox": busybox_version,
        "modules": [ko.stem for ko in modules],
        "cmdline": CMDLINE,
        "ready_marker": READY_MARKER,
        "files": files,
        "build_seconds": round(time.monotonic() - started, 2),
    }
    (out / (MANIFEST + ".part")).write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(out / (MANIFEST + ".part"), out / MANIFEST)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=HERE.parent / ".guest")
    parser.add_argument("--force", action="store_true", help="Rebuild even if up to date.")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        manifest = build(args.out.resolve(), force=args.force)
    except BuildError as exc:
        print(f"guest build failed: {exc}", file=sys.stderr)
        return 1
    files = manifest["files"]
    assert isinstance(files, dict)
    sizes = ", ".join(f"{role} {f['size'] / (1 << 20):.1f} MiB" for role, f in files.items())
    print(
        f"guest image in {args.out} ({manifest['kernel_release']}; {sizes}; "
        f"{time.monotonic() - started:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
