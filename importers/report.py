"""The outcome of one import: counts per record type, warnings and errors with their origin."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sharegraph.importers.records import KINDS, Kind, Origin

# A file with a million bad rows still gets a readable report.
MAX_ISSUES = 5_000


@dataclass(frozen=True)
class Issue:
    origin: Origin
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {**self.origin.to_json(), "reason": self.reason}


class ImportFailed(Exception):
    """The input cannot be read at all (malformed, wrong encoding, missing): nothing is written."""

    def __init__(self, origin: Origin, reason: str) -> None:
        super().__init__(reason)
        self.issue = Issue(origin, reason)


@dataclass
class ImportReport:
    format: str
    path: str
    tenant: str = ""
    source: str | None = None
    partial: bool = False
    strict: bool = False
    counts: dict[Kind, Counter[str]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS}
    )
    placeholders: int = 0
    rejected: int = 0
    warnings: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    omitted_warnings: int = 0
    omitted_errors: int = 0
    failed: bool = False
    committed: bool = False

    def warn(self, origin: Origin, reason: str) -> None:
        if len(self.warnings) < MAX_ISSUES:
            self.warnings.append(Issue(origin, reason))
        else:
            self.omitted_warnings += 1

    def reject(self, origin: Origin, reason: str) -> None:
        self.rejected += 1
        self.error(origin, reason)

    def error(self, origin: Origin, reason: str) -> None:
        if len(self.errors) < MAX_ISSUES:
            self.errors.append(Issue(origin, reason))
        else:
            self.omitted_errors += 1

    def fail(self, issue: Issue) -> None:
        self.failed = True
        self.errors.append(issue)

    def count(self, kind: Kind, what: str) -> None:
        self.counts[kind][what] += 1

    def total(self, what: str) -> int:
        return sum(counter[what] for counter in self.counts.values())

    @property
    def ok(self) -> bool:
        """False when nothing was written because the input was unreadable or --strict refused."""
        return not self.failed and not (self.strict and self.rejected)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "committed": self.committed,
            "format": self.format,
            "path": self.path,
            "tenant": self.tenant,
            "source": self.source,
            "partial": self.partial,
            "strict": self.strict,
            "created": self.total("created"),
            "updated": self.total("updated"),
            "unchanged": self.total("unchanged"),
            "deactivated": self.total("deactivated"),
            "rejected": self.rejected,
            "placeholders": self.placeholders,
            "byType": {
                kind: {
                    what: counter[what]
                    for what in ("created", "updated", "unchanged", "deactivated")
                }
                for kind, counter in self.counts.items()
                if any(counter.values())
            },
            "warnings": [issue.to_json() for issue in self.warnings],
            "errors": [issue.to_json() for issue in self.errors],
            "omittedWarnings": self.omitted_warnings,
            "omittedErrors": self.omitted_errors,
        }

    def summary(self) -> str:
        verb = "imported" if self.committed else "nothing written"
        return (
            f"{verb}: {self.total('created')} created, {self.total('updated')} updated, "
            f"{self.total('unchanged')} unchanged, {self.total('deactivated')} deactivated, "
            f"{self.rejected} rejected, {len(self.warnings) + self.omitted_warnings} warning(s)"
        )
