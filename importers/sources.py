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

from sharegraph.importers.records import Origin
from sharegraph.importers.report import ImportFailed

Progress = Callable[[int], None]
_READ_SIZE = 1 << 16
_MIB = 1024 * 1024
# Real descriptions outgrow the csv module's 128 KiB default; a runaway quote still stops here
# (the csv module holds a field as 4 bytes a character, so this is 16 MiB at most).
_CSV_FIELD_LIMIT = 4 * _MIB
# A physical line is read whole before the csv module sees it: a file without line breaks must
# stop here, not after it has been read into memory.
LINE_LIMIT = 4 * _MIB
_HEADER_LIMIT = 1 * _MIB
# The text of one XML element (a description, say).
XML_TEXT_LIMIT = 4 * _MIB


def no_progress(_: int) -> None:
    return None


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]
    problem: str | None = None


def _physical_lines(path: Path, raw: Any) -> Iterator[bytes]:
    """The file's lines, none longer than :data:`LINE_LIMIT` (a longer one is refused)."""
    number = 0
    while line := raw.readline(LINE_LIMIT + 1):
        number += 1
        if len(line) > LINE_LIMIT:
            raise ImportFailed(
                Origin(str(path), number),
                f"line {number} is longer than {LINE_LIMIT // _MIB} MiB; is this a CSV file "
                "with line breaks (a file with old Mac line endings needs converting)?",
            )
        yield line


def _decoded_lines(path: Path, raw: Any, progress: Progress) -> Iterator[str]:
    for number, line in enumerate(_physical_lines(path, raw), 1):
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
            line = raw.readline(_HEADER_LIMIT)
    except OSError:
        return []
    first = line.decode("utf-8", errors="replace").removeprefix("\ufeff")
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


class _TooLong(Exception):
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
        # The text of each open element, in pieces (joined once, when it ends), and its length.
        texts: list[list[str]] = []
        sizes: list[int] = []
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
            else:
                element = ET.SubElement(stack[-1], tag, attributes)
            stack.append(element)
            texts.append([])
            sizes.append(0)
            lines[element] = parser.CurrentLineNumber

        def end(tag: str) -> None:
            nonlocal depth
            depth -= 1
            if depth >= 1 and stack:
                element = stack.pop()
                sizes.pop()
                if parts := texts.pop():
                    element.text = "".join(parts)
                if not stack:
                    counts[tag] += 1
                    done.append(XmlRecord(element, counts[tag], lines))

        def data(text: str) -> None:
            if stack and len(stack[-1]) == 0:
                sizes[-1] += len(text)
                if sizes[-1] > XML_TEXT_LIMIT:
                    raise _TooLong
                texts[-1].append(text)

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
            except _TooLong:
                raise ImportFailed(
                    Origin(str(self.path), lines.get(stack[-1], parser.CurrentLineNumber)),
                    f"the text of <{stack[-1].tag}> is longer than "
                    f"{XML_TEXT_LIMIT // _MIB} MiB; imports refuse it",
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
