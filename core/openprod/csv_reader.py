"""A strict reader for CSV and TSV text: every row it cannot read exactly is reported, never guessed.

Python's `csv` module, like most spreadsheet readers, is forgiving: an unclosed quote swallows
the rest of the file into one cell, and extra cells are kept or dropped without a word. An import
must not lose a row silently, so this reader stops at nothing and says, per row, what is wrong:
an unclosed quote (with the line it opened on), text after a closing quote, a row with more or
fewer cells than the header, bytes that are not text in the detected encoding. Rows with problems
are not returned as data; the caller refuses to import until the file is fixed.

Accepted: RFC 4180 quoting (a quoted cell may hold the delimiter, doubled quotes and line breaks),
line ends \\n, \\r\\n or \\r; a quote inside an unquoted cell is kept as text (5'10"). Encodings:
UTF-8 with or without a byte order mark, UTF-16 with a mark (Excel's "Unicode text"), else
Windows-1252. Delimiters: comma, tab, semicolon or bar, detected from the header and the first
rows (the one that gives the most rows with the header's number of cells).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}
SHOWN = 120  # characters of a bad row shown in its problem


@dataclass(frozen=True)
class Problem:
    """A row that cannot be imported as it is: where (1-based line in the file), what, and why."""

    line: int
    content: str
    message: str


@dataclass(frozen=True)
class Row:
    line: int  # the line the row starts on
    cells: list[str]
    text: str  # the row as it appears in the file (for problems found later, e.g. a bad value)


@dataclass
class CsvTable:
    header: list[str]
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    delimiter: str = ","
    encoding: str = "UTF-8"
    blank_lines: int = 0

    @property
    def delimiter_name(self) -> str:
        return DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))


def shown(text: str) -> str:
    """A row's text as a problem shows it: line breaks visible, long rows cut."""
    flat = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    return flat if len(flat) <= SHOWN else flat[:SHOWN] + "…"


def decode(data: bytes) -> tuple[str, str, list[Problem]]:
    """(text, encoding name, problems): UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252.

    Bytes that none of these can read are reported per line and read as U+FFFD, so the line
    numbers of everything else stay right.
    """
    if data.startswith(codecs.BOM_UTF8):
        data, encoding, codec = data[len(codecs.BOM_UTF8):], "UTF-8 (with BOM)", "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, codec = "UTF-16", "utf-16"
    else:
        try:
            return data.decode("utf-8"), "UTF-8", []
        except UnicodeDecodeError:
            encoding, codec = "Windows-1252", "cp1252"
    try:
        return data.decode(codec), encoding, []
    except UnicodeDecodeError:
        pass
    problems = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            raw.decode(codec)
        except UnicodeDecodeError as exc:
            bad = raw[exc.start:exc.start + 1].hex()
            problems.append(Problem(number, shown(raw.decode(codec, "replace")),
                                    f"byte 0x{bad} is not text in {encoding} (nor in UTF-8): save the file "
                                    "as UTF-8 CSV and try again"))
    return data.decode(codec, "replace"), encoding, problems


Parsed = tuple[int, list[str], str, "str | None"]  # start line, cells, raw text, problem


def _split(text: str, delimiter: str) -> tuple[list[Parsed], int]:
    """Rows as (start line, cells, raw text, problem or None), and how many blank lines were skipped."""
    out: list[Parsed] = []
    blank = 0
    i, n, line = 0, len(text), 1
    while i < n:
        start, start_line = i, line
        cells: list[str] = []
        cell: list[str] = []
        problem: str | None = None
        quoted = False
        quote_line = line
        at_cell_start = True
        while i < n:
            ch = text[i]
            if quoted:
                if ch == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        cell.append('"')
                        i += 2
                        continue
                    quoted = False
                    i += 1
                    if i < n and text[i] not in (delimiter, "\n", "\r") and problem is None:
                        problem = (f"text after a closing quote (line {line}): a cell that starts with a quote "
                                   "must end with one just before the next separator")
                    continue
                if ch == "\n" or (ch == "\r" and text[i + 1:i + 2] != "\n"):
                    line += 1
                cell.append(ch)
                i += 1
                continue
            if ch == '"' and at_cell_start:
                quoted, at_cell_start = True, False
                quote_line = line
                i += 1
                continue
            at_cell_start = False
            if ch == delimiter:
                cells.append("".join(cell))
                cell, at_cell_start = [], True
                i += 1
                continue
            if ch in "\r\n":
                i += 2 if text[i:i + 2] == "\r\n" else 1
                line += 1
                break
            cell.append(ch)
            i += 1
        else:
            if quoted:
                last = line - 1 if text.endswith(("\n", "\r")) else line
                problem = (f"a quote opens on line {quote_line} and is never closed, so everything after it "
                           f"(lines {quote_line}-{last}) would become one cell")
        cells.append("".join(cell))
        raw = text[start:i].rstrip("\r\n")
        if len(cells) == 1 and not cells[0].strip() and problem is None:
            blank += 1
            continue
        out.append((start_line, cells, raw, problem))
    return out, blank


def detect_delimiter(text: str) -> str:
    """The candidate giving the most rows with the header's cell count (ties: more header cells)."""
    sample = "\n".join(text.splitlines()[:30])
    best, best_score = ",", (-1, -1)
    for candidate in DELIMITERS:
        rows, _blank = _split(sample, candidate)
        if not rows or len(rows[0][1]) < 2:
            continue
        width = len(rows[0][1])
        score = (sum(1 for r in rows[1:] if len(r[1]) == width), width)
        if score > best_score:
            best, best_score = candidate, score
    return best


def read_table(text: str, delimiter: str | None = None, *, encoding: str = "UTF-8",
               problems: list[Problem] | None = None, header: bool = True) -> CsvTable:
    """Header and rows of `text`, with a problem for every row that is not exactly readable.

    `header=False` (a block pasted from a spreadsheet): every row is data, rows may differ in length.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    chosen = delimiter or detect_delimiter(text)
    parsed, blank = _split(text, chosen)
    table = CsvTable(header=[], delimiter=chosen, encoding=encoding, problems=list(problems or []),
                     blank_lines=blank)
    if not parsed:
        return table
    if not header:
        for line, cells, raw, problem in parsed:
            if problem is not None:
                table.problems.append(Problem(line, shown(raw), problem))
            else:
                table.rows.append(Row(line, cells, raw))
        return table
    line, names, raw, problem = parsed[0]
    table.header = [h.strip() for h in names]
    if problem is not None:
        table.problems.append(Problem(line, shown(raw), f"the header cannot be read: {problem}"))
        return table
    width = len(names)
    unreadable = bool(problems)
    for line, cells, raw, problem in parsed[1:]:
        if problem is None and len(cells) > width and not any(c.strip() for c in cells[width:]):
            cells = cells[:width]  # empty trailing cells (a spreadsheet's extra commas): nothing is lost
        if problem is None and len(cells) != width:
            problem = (f"this row has {len(cells)} cells but the header has {width}"
                       + (": the extra cells would be lost" if len(cells) > width else ""))
        if problem is not None:
            table.problems.append(Problem(line, shown(raw), problem))
        elif unreadable and "\ufffd" in raw:
            continue  # already reported by `decode`, line by line
        else:
            table.rows.append(Row(line, cells, raw))
    return table


def read_bytes(data: bytes, delimiter: str | None = None) -> CsvTable:
    """Decode (reporting unreadable bytes) and read."""
    text, encoding, problems = decode(data)
    return read_table(text, delimiter, encoding=encoding, problems=problems)
