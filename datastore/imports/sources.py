"""Reading input files safely: line-exact UTF-8 CSV, streamed XML with line numbers, HTML text.

Nothing here reads a file whole. A file that cannot be read (wrong encoding, malformed CSV or
XML, a DTD) raises :class:`ImportFailed` with the file, the line and what to do.
"""

from __future__ import annotations

import csv
import html
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.parsers import expat

from .records import Origin
from .report import ImportFailed

Progress = Callable[[int], None]
_READ_SIZE = 1 << 16
# Real descriptions outgrow the csv module's 128 KiB default; a runaway quote still stops here.
_CSV_FIELD_LIMIT = 16 * 1024 * 1024


def no_progress(_: int) -> None:
    return None


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]
    problem: str | None = None


def _decoded_lines(path: Path, raw: Any, progress: Progress) -> Iterator[str]:
    for number, line in enumerate(raw, 1):
        progress(len(line))
        try:
            text: str = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ImportFailed(
                Origin(str(path), number),
                f"not UTF-8 text (byte 0x{line[error.start]:02x} at column {error.start + 1}); "
                "save the file as UTF-8 and import it again",
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield text


def read_csv(path: Path, progress: Progress = no_progress) -> Iterator[CsvRow]:
    """Rows as dicts keyed by lower-cased header names, with the line each row starts on."""
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        raw = path.open("rb")
    except OSError as error:
        raise ImportFailed(Origin(str(path)), f"cannot read the file: {error.strerror}") from None
    with raw:
        reader = csv.reader(_decoded_lines(path, raw, progress), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return
            names = [name.strip().lower() for name in header]
            last_line = reader.line_num
            for row in reader:
                start, last_line = last_line + 1, reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                problem = None
                if len(row) != len(names):
                    problem = f"the row has {len(row)} fields, the header {len(names)}"
                yield CsvRow(start, dict(zip(names, row, strict=False)), problem)
        except csv.Error as error:
            raise ImportFailed(
                Origin(str(path), reader.line_num), f"malformed CSV: {error}"
            ) from None


def csv_header(path: Path) -> list[str]:
    """The lower-cased header of a CSV file (empty if unreadable; reading it reports why)."""
    try:
        with path.open("rb") as raw:
            first = raw.readline().decode("utf-8", errors="replace").removeprefix("\ufeff")
    except OSError:
        return []
    return [name.strip().lower() for name in next(csv.reader([first]), [])]


@dataclass
class XmlRecord:
    """One child element of the document's root, with its subtree and source lines."""

    element: ET.Element
    index: int  # 1-based among its siblings of the same tag
    lines: dict[ET.Element, int]

    @property
    def line(self) -> int:
        return self.lines[self.element]


class _Refused(Exception):
    pass


class XmlStream:
    """Streams the children of the root element one at a time (expat, so lines are known).

    DTDs and entity declarations are refused: an AIRS file needs neither, and they are how
    entity-expansion and external-entity attacks get in. Each child's subtree is dropped once
    it has been handed over.
    """

    def __init__(self, path: Path, progress: Progress = no_progress) -> None:
        self.path = path
        self.progress = progress
        self.root_tag: str | None = None
        self.root_attributes: dict[str, str] = {}

    def __iter__(self) -> Iterator[XmlRecord]:
        parser = expat.ParserCreate()
        done: list[XmlRecord] = []
        stack: list[ET.Element] = []
        lines: dict[ET.Element, int] = {}
        counts: Counter[str] = Counter()
        depth = 0

        def start(tag: str, attributes: dict[str, str]) -> None:
            nonlocal depth, lines
            depth += 1
            if depth == 1:
                self.root_tag, self.root_attributes = tag, attributes
                return
            if depth == 2:
                element = ET.Element(tag, attributes)
                lines = {}
                stack.append(element)
            else:
                element = ET.SubElement(stack[-1], tag, attributes)
                stack.append(element)
            lines[element] = parser.CurrentLineNumber

        def end(tag: str) -> None:
            nonlocal depth
            depth -= 1
            if depth >= 1 and stack:
                element = stack.pop()
                if not stack:
                    counts[tag] += 1
                    done.append(XmlRecord(element, counts[tag], lines))

        def data(text: str) -> None:
            if stack and len(stack[-1]) == 0:
                stack[-1].text = (stack[-1].text or "") + text

        def refuse(*_: Any) -> None:
            raise _Refused

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        parser.buffer_text = True
        try:
            raw = self.path.open("rb")
        except OSError as error:
            raise ImportFailed(
                Origin(str(self.path)), f"cannot read the file: {error.strerror}"
            ) from None
        with raw:
            try:
                while chunk := raw.read(_READ_SIZE):
                    self.progress(len(chunk))
                    parser.Parse(chunk, False)
                    yield from done
                    done.clear()
                parser.Parse(b"", True)
                yield from done
            except expat.ExpatError as error:
                reason = expat.ErrorString(error.code)
                hint = ""
                if error.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
                    hint = " (if the file is not UTF-8, convert it or declare its encoding)"
                raise ImportFailed(
                    Origin(str(self.path), error.lineno),
                    f"not well-formed XML at line {error.lineno}, column {error.offset + 1}: "
                    f"{reason}{hint}",
                ) from None
            except _Refused:
                raise ImportFailed(
                    Origin(str(self.path), parser.CurrentLineNumber),
                    "the XML declares a DTD or entities, which imports refuse",
                ) from None


class _TextOfHtml(HTMLParser):
    _BREAKS = frozenset(
        {"br", "p", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v]+")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def html_to_text(value: str | None) -> str | None:
    """Escaped HTML (iCarol escapes it twice) as plain text: tags become line breaks or go."""
    if value is None:
        return None
    text = html.unescape(value)
    if _TAG.search(text):
        parser = _TextOfHtml()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line) or None
