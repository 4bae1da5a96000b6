"""Builds LXD unified image tarballs in memory (metadata.yaml + rootfs/), good and bad."""

import io
import tarfile
import time

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "cat", "echo", "hostname", "ps", "sleep", "ls", "mkdir", "true", "false", "tty", "init"]

METADATA = """architecture: x86_64
creation_date: {date}
properties:
  description: Ferry test image {tag}
  os: testos
  release: "{tag}"
"""

INITTAB = "::sysinit:/etc/init.d/rcS\n::respawn:/bin/sleep 100000\n"
RCS = "#!/bin/sh\nmkdir -p /tmp\necho \"test image {tag}: booted\"\n"


class TarBuilder:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w:gz", format=tarfile.GNU_FORMAT)

    def _info(self, name, type_, mode):
        ti = tarfile.TarInfo(name)
        ti.type = type_
        ti.mode = mode
        ti.mtime = int(time.time())
        return ti

    def file(self, name, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def dir(self, name, mode=0o755):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode))
        return self

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def chardev(self, name, major, minor):
        ti = self._info(name, tarfile.CHRTYPE, 0o666)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def blockdev(self, name, major, minor):
        ti = self._info(name, tarfile.BLKTYPE, 0o660)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def base_image(tag="t1", with_busybox=True):
    """A bootable busybox image: its init runs rcS (prints a line on the console) and a sleeper."""
    t = TarBuilder()
    t.file("metadata.yaml", METADATA.format(date=int(time.time()), tag=tag))
    t.dir("rootfs")
    for d in ("bin", "sbin", "etc", "etc/init.d", "proc", "sys", "dev", "tmp", "root", "var", "run"):
        t.dir(f"rootfs/{d}")
    if with_busybox:
        with open(BUSYBOX, "rb") as f:
            t.file("rootfs/bin/busybox", f.read(), 0o755)
        for a in APPLETS:
            if a != "init":
                t.symlink(f"rootfs/bin/{a}", "busybox")
        t.symlink("rootfs/sbin/init", "/bin/busybox")
    t.file("rootfs/etc/inittab", INITTAB)
    t.file("rootfs/etc/init.d/rcS", RCS.format(tag=tag), 0o755)
    t.file("rootfs/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    return t
