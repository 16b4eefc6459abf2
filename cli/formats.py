"""How list commands print rows (search, history, ls, regressions) and how answers print Markdown.

On a terminal a list is a table that fits its width: identifying columns (keys, kinds, models, dates,
hashes) are never cut; titles and figures take what is left and end in an ellipsis. When even that leaves
no room, each row takes two lines, the long text indented under its identifiers. Piped, the default is
TSV (a header line, one line per row), so `cut`, `sort` and `awk` work; ``--format`` chooses table, tsv,
csv or json anywhere (``--json`` stays the alias of ``--format json``).
"""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

ELLIPSIS = "…"
GAP = 2  # spaces between columns
INDENT = 4  # the second line of a stacked row


class ListFormat(StrEnum):
    table = "table"
    tsv = "tsv"
    csv = "csv"
    json = "json"


FORMAT_OPTION = typer.Option(None, "--format", case_sensitive=False,
                             help="table (default on a terminal), tsv (default when piped), csv or json.")


def list_format(chosen: ListFormat | None, *, as_json: bool) -> ListFormat:
    """The format a list command prints: --json, else --format, else a table on a terminal and TSV piped."""
    if as_json:
        return ListFormat.json
    if chosen is not None:
        return chosen
    return ListFormat.table if sys.stdout.isatty() else ListFormat.tsv


Cell = str | tuple[str, ...]  # a tuple is a list of figures, cut between figures rather than inside one


@dataclass(frozen=True)
class Column:
    """One column of a list. ``flex`` columns shrink (with an ellipsis) to fit; the others never do."""

    name: str
    flex: bool = False
    min_width: int = 12  # a flex column narrower than this makes the rows stack instead
    optional: bool = False  # left out of a table that would not fit otherwise (kept in TSV, CSV, JSON)
    below: int = 0  # in stacked rows, moved (whole) to the second line while the first is too wide: highest first
    right: bool = False  # right-aligned (numbers)
    grow: int = 1  # cells a flex column gains per round when room is shared out (figures before titles)


def terminal_width() -> int:
    """The width to fit: COLUMNS when set, else the terminal's, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def cell_text(cell: Cell, joiner: str = ", ") -> str:
    text = joiner.join(cell) if isinstance(cell, tuple) else cell
    return " ".join(text.split())  # tabs and newlines would break a row (and TSV)


def fit(cell: Cell, width: int) -> str:
    """The cell in at most ``width`` cells of the terminal: figures cut between figures, text inside a word."""
    text = cell_text(cell)
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    if isinstance(cell, tuple):
        kept: list[str] = []
        for part in cell:
            candidate = ", ".join([*kept, part]) + ", " + ELLIPSIS
            if cell_len(candidate) > width:
                break
            kept.append(part)
        if kept:
            return ", ".join(kept) + ", " + ELLIPSIS
    out = ""
    for ch in text:
        if cell_len(out + ch) > width - 1:
            break
        out += ch
    return out.rstrip() + ELLIPSIS


def _pad(text: str, width: int, *, right: bool = False) -> str:
    space = " " * max(0, width - cell_len(text))
    return space + text if right else text + space


@dataclass(frozen=True)
class Layout:
    columns: list[int]  # indices of the columns shown
    widths: dict[int, int]  # width of each shown column
    stacked: bool


def plan_layout(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> Layout:
    """Which columns a table shows and how wide, for ``width`` cells of terminal."""
    natural = {i: max([cell_len(c.name), *(cell_len(cell_text(row[i])) for row in rows)])
               for i, c in enumerate(columns)}
    shown = list(range(len(columns)))

    def needed(indices: list[int]) -> int:
        fixed = sum(natural[i] for i in indices if not columns[i].flex)
        flex = sum(min(natural[i], columns[i].min_width) for i in indices if columns[i].flex)
        return fixed + flex + GAP * (len(indices) - 1)

    while needed(shown) > width:
        droppable = [i for i in shown if columns[i].optional]
        if not droppable:
            break
        shown.remove(droppable[-1])  # the last optional column goes first
    if needed(shown) > width:
        return Layout(columns=shown, widths=dict(natural), stacked=True)
    widths = {i: natural[i] for i in shown}
    flex = [i for i in shown if columns[i].flex]
    room = width - sum(natural[i] for i in shown if not columns[i].flex) - GAP * (len(shown) - 1)
    shared = share_room([natural[i] for i in flex], [columns[i].min_width for i in flex], room,
                        [columns[i].grow for i in flex])
    widths.update(zip(flex, shared, strict=True))
    return Layout(columns=shown, widths=widths, stacked=False)


def share_room(naturals: Sequence[int], minimums: Sequence[int], room: int,
               grows: Sequence[int] | None = None) -> list[int]:
    """Widths for text columns sharing ``room``: each its natural width if all fit, else at least its minimum
    and the rest handed out round by round (``grows`` cells a round each) to those still short."""
    if sum(naturals) <= room:
        return list(naturals)
    widths = [min(n, m) for n, m in zip(naturals, minimums, strict=True)]
    while sum(widths) > max(room, len(widths)):  # not even the minimums fit: the widest gives way
        widths[widths.index(max(widths))] -= 1
    spare = room - sum(widths)
    while spare > 0 and any(w < n for w, n in zip(widths, naturals, strict=True)):
        for i, n in enumerate(naturals):
            step = min(spare, n - widths[i], grows[i] if grows else 1)
            if step > 0:
                widths[i] += step
                spare -= step
    return widths


def table_lines(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[tuple[str, bool]]:
    """The table as (line, is_header) pairs, each line at most ``width`` cells unless an identifier is longer."""
    layout = plan_layout(columns, rows, width)
    gap = " " * GAP
    if not layout.stacked:
        shown = layout.columns

        def line(cells: Sequence[Cell]) -> str:
            parts = [_pad(fit(cells[i], layout.widths[i]), layout.widths[i], right=columns[i].right) for i in shown]
            return gap.join(parts).rstrip()

        return [(line([c.name for c in columns]), True), *((line(row), False) for row in rows)]
    # Stacked: identifiers on the first line, the rest indented below in column order, only text cut.
    top = [i for i in layout.columns if not columns[i].flex]
    for i in sorted((i for i in top if columns[i].below), key=lambda i: -columns[i].below):
        if sum(layout.widths[j] for j in top) + GAP * (len(top) - 1) <= width:
            break
        top.remove(i)
    under = [i for i in layout.columns if i not in top]
    out = [(gap.join(_pad(columns[i].name, layout.widths[i], right=columns[i].right) for i in top).rstrip(), True)]
    for row in rows:
        out.append((gap.join(_pad(cell_text(row[i]), layout.widths[i], right=columns[i].right)
                             for i in top).rstrip(), False))
        whole = [cell_text(row[i]) for i in under if not columns[i].flex and cell_text(row[i])]
        texts = [i for i in under if columns[i].flex and cell_text(row[i])]
        room = width - INDENT - sum(cell_len(w) + GAP for w in whole) - GAP * max(0, len(texts) - 1)
        sizes = share_room([cell_len(cell_text(row[i])) for i in texts], [columns[i].min_width for i in texts],
                           room, [columns[i].grow for i in texts])
        fitted = dict(zip(texts, sizes, strict=True))
        pieces = [fit(row[i], fitted[i]) if i in fitted else cell_text(row[i]) for i in under
                  if i in fitted or (not columns[i].flex and cell_text(row[i]))]
        if pieces:
            out.append((" " * INDENT + gap.join(pieces), False))
    return out


def print_rows(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], fmt: ListFormat,
               console: Console, *, width: int | None = None) -> None:
    """Print rows as a fitted table, TSV or CSV (JSON is the command's own dictionary, printed by ``emit``)."""
    if fmt is ListFormat.tsv:
        sys.stdout.write("\t".join(c.name for c in columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(cell_text(cell, "; ") for cell in row) + "\n")
        return
    if fmt is ListFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.name for c in columns])
        writer.writerows([[cell_text(cell, "; ") for cell in row] for row in rows])
        return
    for text, is_header in table_lines(columns, rows, width or terminal_width()):
        console.print(Text(text, style="bold" if is_header else ""), soft_wrap=True)


# ---------------------------------------------------------------- Markdown answers
class AnswerFormat(StrEnum):
    markdown = "markdown"
    json = "json"


ANSWER_FORMAT_OPTION = typer.Option(None, "--format", case_sensitive=False,
                                    help="markdown (the source, the default when piped) or json; on a terminal "
                                    "the Markdown is rendered.")
PLAIN_OPTION = typer.Option(False, "--plain", help="Print the Markdown source even on a terminal.")


def answer_is_json(chosen: AnswerFormat | None, *, as_json: bool) -> bool:
    return as_json or chosen is AnswerFormat.json


def print_markdown(text: str, *, plain: bool) -> None:
    """Rendered Markdown on a terminal (headings, bold, lists); the source itself when piped or asked."""
    if plain or not sys.stdout.isatty():
        sys.stdout.write(text.rstrip("\n") + "\n")
        return
    from rich.markdown import Markdown

    Console(highlight=False).print(Markdown(text, hyperlinks=False))
