"""MathJax for the site, from the npm package at build time.

MathJax is not kept in the repository: `mathjax_files` runs `npm pack`, checks the
tarball against the sha512 pinned below and hands the hook the few files the site needs.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

from .build import SiteBuildError


MATHJAX_VERSION = "3.2.2"
# The `integrity` npm records for mathjax@3.2.2 (`npm pack --json` prints it).
MATHJAX_INTEGRITY = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# What the site needs from the package: the combined TeX-input/CHTML-output
# component, its woff2 fonts, and the TeX extensions it loads on demand
# (without them macros such as \boldsymbol come out as errors).
MATHJAX_NEEDED = (
    "es5/tex-mml-chtml.js",
    "es5/output/chtml/fonts/woff-v2/",
    "es5/input/tex/extensions/",
)
# Where they go in the site; mkdocs.yml loads MATHJAX_SITE_DIR/tex-mml-chtml.js.
MATHJAX_SITE_DIR = "assets/mathjax"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _npm_pack(cache_dir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SiteBuildError(
            f"npm not found: the site needs it to fetch mathjax@{MATHJAX_VERSION} "
            "(install Node.js and npm, e.g. `apt-get install npm`)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--pack-destination", str(cache_dir)],
        capture_output=True,
        text=True,
    )
    tarball = cache_dir / f"mathjax-{MATHJAX_VERSION}.tgz"
    if done.returncode != 0 or not tarball.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SiteBuildError(f"`npm pack mathjax@{MATHJAX_VERSION}` failed: {last}")
    return tarball


def _needed(member: tarfile.TarInfo) -> bool:
    name = member.name.removeprefix("package/")
    return member.isfile() and any(
        name == want or (want.endswith("/") and name.startswith(want)) for want in MATHJAX_NEEDED
    )


def extract(archive: tarfile.TarFile, members: list[tarfile.TarInfo], target: Path) -> None:
    """Write the regular files ``members`` of ``archive`` under ``target``, refusing any other.

    Written by hand rather than with ``extractall(filter="data")``: the filter
    argument is missing from Python before 3.10.12 and 3.11.4 (Debian 12 has 3.11.2),
    which ``requires-python`` admits. A member that is not a regular file (a link,
    a device), has an absolute name or a ``..`` part is refused before anything is written.
    """
    target = Path(target)
    for member in members:
        parts = PurePosixPath(member.name).parts
        if not member.isfile() or member.name.startswith(("/", "\\")) or ".." in parts or "\\" in member.name:
            raise SiteBuildError(f"unsafe member in the MathJax tarball: {member.name!r}")
    for member in members:
        path = target.joinpath(*PurePosixPath(member.name).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = archive.extractfile(member)
        with source, open(path, "wb") as out:
            shutil.copyfileobj(source, out)


def mathjax_files(cache_dir: Path) -> dict[str, Path]:
    """The MathJax files of the site: {path in the site: file on disk}.

    Runs `npm pack mathjax@3.2.2` into `cache_dir` unless the tarball is
    already there, refuses a tarball whose sha512 is not the pinned one, and
    unpacks only the files the site needs.
    """
    cache_dir = Path(cache_dir)
    tarball = cache_dir / f"mathjax-{MATHJAX_VERSION}.tgz"
    if not tarball.exists():
        _npm_pack(cache_dir)
    found = _integrity(tarball)
    if found != MATHJAX_INTEGRITY:
        raise SiteBuildError(
            f"{tarball} is not mathjax@{MATHJAX_VERSION}: sha512 {found}, "
            f"expected {MATHJAX_INTEGRITY}; delete it and build again"
        )
    unpacked = cache_dir / f"mathjax-{MATHJAX_VERSION}"
    stamp = unpacked / ".integrity"
    if not stamp.exists() or stamp.read_text() != MATHJAX_INTEGRITY:
        shutil.rmtree(unpacked, ignore_errors=True)
        with tarfile.open(tarball) as archive:
            extract(archive, [m for m in archive.getmembers() if _needed(m)], unpacked)
        stamp.write_text(MATHJAX_INTEGRITY)
    es5 = unpacked / "package" / "es5"
    return {
        f"{MATHJAX_SITE_DIR}/{path.relative_to(es5).as_posix()}": path
        for path in sorted(es5.rglob("*"))
        if path.is_file()
    }
