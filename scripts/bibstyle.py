"""Sphinx extension (loaded from `_config.yml`): the `plain` bibliography style plus biblatex's `@thesis`.

pybtex's styles know `@phdthesis` and `@mastersthesis` but not the biblatex entry type `@thesis`, which
`references.bib` uses for a bachelor's thesis (with `type` and `institution` fields). This registers the
style `plain_thesis`, which formats such entries like a PhD thesis entry with its own `type`.
"""
from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting import toplevel
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.formatting.unsrt import date
from pybtex.style.template import first_of, optional_field, sentence


class ThesisStyle(PlainStyle):
    def get_thesis_template(self, e):
        return toplevel[
            sentence[self.format_names("author")],
            self.format_btitle(e, "title"),
            sentence[first_of[optional_field("type"), "Thesis"],
                     first_of[optional_field("institution"), optional_field("school")],
                     optional_field("address"), date],
            sentence[optional_field("note")],
            self.format_web_refs(e),
        ]


def setup(app):
    register_plugin("pybtex.style.formatting", "plain_thesis", ThesisStyle)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
