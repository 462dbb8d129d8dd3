"""The pages of the layers written as programs: one template, every check computed at build time."""

import re

from derive.programs import PROGRAMS
from derive.site.programs import page_name, program_checks, program_pages


def test_every_program_has_a_page_from_the_one_template_and_the_index_links_it():
    pages = program_pages()
    assert set(pages) == {"programs.md"} | {page_name(e) for e in PROGRAMS}
    for entry in PROGRAMS:
        page = pages[page_name(entry)]
        assert page.startswith(f"# {entry.title}\n") and f"```\n{entry.text}\n```" in page
        for heading in ("## Forward pass", "## Backward pass", "## The generated module", "## Check"):
            assert heading in page, (entry.slug, heading)
        assert f"class {entry.name}(" in page and "**no**" not in page
        assert f"]({page_name(entry)})" in pages["programs.md"]
        for heading in re.findall(r"^#+ (.*)$", page, re.M):  # outside code blocks: no TeX in headings
            assert not re.search(r"[_^\\]", heading) or heading.startswith("#"), heading


def test_checks_cover_every_gradient_and_fail_on_a_wrong_backward():
    entry = next(e for e in PROGRAMS if e.slug == "rnn-step")
    checks = program_checks(entry)
    assert {c.array for c in checks} == {"x (input)", "h (input)", "Wx", "Wh", "b"}
    assert all(c.passed for c in checks) and {c.samples for c in checks} == {"one sample", "batch of 3"}
    from derive.site.programs import program_module

    Layer = program_module(entry)[1]
    right = Layer.backward

    def wrong(self, input, gradOutput, scale=1.0):  # a planted mistake: the gradient of b doubled
        out = right(self, input, gradOutput, scale)
        self.gradb *= 2
        return out
    Layer.backward = wrong
    assert not next(c for c in program_checks(entry, Layer) if c.array == "b").passed
