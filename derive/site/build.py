"""What a build of the site rests on besides its pages: the error that stops it,
and the date it writes into the sitemap.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path


class SiteBuildError(RuntimeError):
    """A page or an asset of the site cannot be made; the message says why."""


def build_date(root: Path) -> str | None:
    """The date written into sitemap.xml: fixed for a given tree, not today's.

    SOURCE_DATE_EPOCH when it is set (the reproducible-builds convention), else the
    date of the last commit when ``root`` is a git checkout, else None: a tree
    without history (a tarball) has no date to give, and the sitemap leaves it out.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        if not epoch.strip().isdigit():
            raise SiteBuildError(f"SOURCE_DATE_EPOCH must be a number of seconds, got {epoch!r}")
    elif (Path(root) / ".git").exists():  # not the history of a repository the tree lies in
        try:
            done = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"],
                                  capture_output=True, text=True)
        except OSError:  # no git
            return None
        epoch = done.stdout.strip() if done.returncode == 0 else ""
        if not epoch.isdigit():
            return None
    else:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%d")
