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


def build_date(root: Path) -> str:
    """The date written into sitemap.xml: fixed for a given tree, not today's.

    SOURCE_DATE_EPOCH when it is set (the reproducible-builds convention),
    else the date of the last commit, else the epoch.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), "log", "-1", "--format=%ct"],
                capture_output=True, text=True,
            )
            epoch = done.stdout.strip() if done.returncode == 0 else None
        except OSError:
            epoch = None
    stamp = datetime.fromtimestamp(int(epoch or 0), timezone.utc)
    return stamp.strftime("%Y-%m-%d")
