"""A griffe extension for the docs build: gradflow's "Example:" sections are doctests.

Griffe reads only "Examples:" as an examples section (code, rendered as code); an
"Example:" heading would become a note whose `>>>` lines render as prose.
"""

from __future__ import annotations

import re

import griffe

_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
