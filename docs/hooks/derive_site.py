"""mkdocs hook: add the pages computed by derive.site, and MathJax, to the site.

Everything real lives in derive/site/; this file only hands its results to
mkdocs as generated files, so nothing generated is ever written into docs/.
"""

import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # building from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from derive import site  # noqa: E402


# The sitemap's date for this build: one `git log` per build, not one per page.
_build_date = None


def on_pre_build(config):
    global _build_date
    try:
        _build_date = site.build_date(ROOT)
    except site.SiteBuildError as error:
        raise PluginError(str(error)) from None


def on_files(files, config):
    try:
        mathjax = site.mathjax_files(ROOT / ".cache" / "mathjax")
        pages = site.generated_files()
    except site.SiteBuildError as error:
        raise PluginError(str(error)) from None
    for src_uri, path in mathjax.items():
        files.append(File.generated(config, src_uri, abs_src_path=str(path)))
    for src_uri, content in pages.items():
        files.append(File.generated(config, src_uri, content=content))
    for src_uri, html in site.redirect_pages().items():  # the old addresses of moved pages
        files.append(File.generated(config, src_uri, content=html))
    return files


def on_pre_page(page, config, files):
    # Pages carry the build date into sitemap.xml(.gz); use a fixed one so
    # two builds of the same tree give the same bytes. Without one, mkdocs still
    # needs a date for the gzip header: the epoch, which gzip reads as "no time
    # stamp" (RFC 1952), while on_post_template leaves it out of the sitemap.
    page.update_date = _build_date or "1970-01-01"
    return page


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "index.md":
        return markdown
    try:
        return site.home_page(markdown)
    except site.SiteBuildError as error:
        raise PluginError(str(error)) from None


@event_priority(-100)  # after the search plugin has written its index
def on_post_build(config):
    index = Path(config["site_dir"]) / "search" / "search_index.json"
    if index.is_file():
        index.write_text(site.readable_search_index(index.read_text(encoding="utf-8")), encoding="utf-8")


def on_post_template(output_content, template_name, config):
    if template_name == "sitemap.xml" and _build_date is None:
        return re.sub(r"\s*<lastmod>[^<]*</lastmod>", "", output_content)
    return output_content
