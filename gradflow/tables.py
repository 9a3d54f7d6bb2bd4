"""Aligned text tables through rich (the `tables` extra), for gradflow info, check and summary.

Without rich the rows are printed tab-separated, after one note naming the extra.
"""

from __future__ import annotations

import io


def render(columns: list[str], rows: list[list], title: str | None = None,
           right: tuple[int, ...] = ()) -> str:
    """A table as plain text (no colours), columns aligned whatever the length of the cells.

    Args:
        columns: the header cells.
        rows: one list of cells per row (converted with str).
        title: a line above the table.
        right: indices of columns to right-align (numbers).

    Returns:
        The table as text, ending without a newline.

    Example:
        >>> print(render(["op", "max error"], [["exp", "1e-07"], ["[cuda12]", "0"]], right=(1,)))
        ┏━━━━━━━━━━┳━━━━━━━━━━━┓
        ┃ op       ┃ max error ┃
        ┡━━━━━━━━━━╇━━━━━━━━━━━┩
        │ exp      │     1e-07 │
        │ [cuda12] │         0 │
        └──────────┴───────────┘
    """
    from gradflow.extras import optional

    rich = optional("rich", "tables are printed tab-separated, not aligned")
    if rich is None:
        lines = [title] if title else []
        lines += ["\t".join(map(str, row)) for row in [columns, *rows]]
        return "\n".join(lines)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # NOTE: cells as Text, never markup: "pip install '.[cuda12]'" keeps its brackets.
    table = Table(title=Text(title) if title else None, title_justify="left")
    for index, name in enumerate(columns):
        table.add_column(Text(name), justify="right" if index in right else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    buffer = io.StringIO()
    # NOTE: a wide, colourless console: tables never wrap and logs hold no escape codes.
    Console(file=buffer, width=400, color_system=None, force_terminal=False,
            legacy_windows=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())
