"""What the pages say: API errors in words a person understands (the code stays, in small
print), statuses and outcomes in plain English."""

from __future__ import annotations

from dataclasses import dataclass

from sharegraph.console.graph_client import Problem

CODE_WORDS = {
    "UNAUTHENTICATED": "You are not signed in, or your session has ended.",
    "FORBIDDEN": "You are not allowed to do this.",
    "NOT_FOUND": "We could not find this. It may have been removed, or it is not shared with you.",
    "BAD_USER_INPUT": "Something in what you sent needs changing.",
    "CONFLICT": "This changed while you were looking at it. Reload the page and try again.",
    "RATE_LIMITED": "Too many attempts. Wait a little and try again.",
    "TIMEOUT": "This took too long. Try again in a moment.",
    "SERVICE_UNAVAILABLE": "The service is not available right now. Try again in a moment.",
    "QUERY_TOO_COMPLEX": "This page asked for too much at once.",
    "INTERNAL": "Something went wrong on our side.",
}
REASON_WORDS = {
    "CSRF": "This form has expired or did not come from this site. Reload the page and retry.",
    "BAD_CREDENTIALS": "That name or e-mail address and password do not match.",
    "ACCOUNT_LOCKED": "This account is locked after too many wrong passwords.",
    "TOO_MANY_ATTEMPTS": "Too many sign-in attempts from your address.",
    "SESSION_EXPIRED": "Your session has ended. Sign in again.",
    "LINK_EXPIRED": "This link has expired or has already been used.",
    "WEAK_PASSWORD": "Choose a stronger password.",
    "PASSWORDS_DIFFER": "The two passwords are not the same.",
    "ILLEGAL_TRANSITION": "The referral cannot move to that status from where it is.",
    "VERSION_CONFLICT": "Someone changed this referral meanwhile. Reload the page and try again.",
    # A CONFLICT that reloading does not solve: the name is in use (principals network-wide,
    # inventories and templates in the tenant).
    "NAME_TAKEN": "That name is in use already. Choose another one.",
}

STATUS_WORDS = {
    "DRAFT": "Draft",
    "REQUESTED": "New",
    "ACCEPTED": "Accepted",
    "REJECTED": "Rejected",
    "IN_PROGRESS": "In progress",
    "ON_HOLD": "On hold",
    "FAILED": "Failed",
    "COMPLETED": "Completed",
    "CANCELLED": "Cancelled",
    "ENTERED_IN_ERROR": "Entered in error",
}
OUTCOME_WORDS = {
    "GOT_HELP": "Got help",
    "COULD_NOT_GET_HELP": "Could not get help",
    "NO_CAPACITY": "No capacity",
    "NOT_ELIGIBLE": "Not eligible",
    "COULD_NOT_CONTACT": "Could not contact",
    "NO_LONGER_INTERESTED": "No longer interested",
    "REFERRED_ELSEWHERE": "Referred elsewhere",
    "NEEDS_CLIENT_ACTION": "Needs client action",
}
# The buttons a receiving organization sees per status: (target, words, needs a reason). The
# gateway decides; this only chooses what to offer.
ACTIONS = {
    "REQUESTED": [("ACCEPTED", "Accept", False), ("REJECTED", "Reject", True)],
    "ACCEPTED": [
        ("IN_PROGRESS", "Start", False),
        ("ON_HOLD", "Hold", True),
        ("COMPLETED", "Complete", False),
        ("FAILED", "Fail", True),
    ],
    "IN_PROGRESS": [
        ("ON_HOLD", "Hold", True),
        ("COMPLETED", "Complete", False),
        ("FAILED", "Fail", True),
    ],
    "ON_HOLD": [("IN_PROGRESS", "Start", False), ("FAILED", "Fail", True)],
}


@dataclass(frozen=True)
class Shown:
    """A problem as the page shows it."""

    words: str
    detail: str | None
    code: str
    reason: str | None


def shown(problem: Problem) -> Shown:
    words = REASON_WORDS.get(problem.reason or "") or CODE_WORDS.get(
        problem.code, CODE_WORDS["INTERNAL"]
    )
    detail = None if problem.code in ("INTERNAL",) else problem.message
    if detail and detail.rstrip(".").lower() == words.rstrip(".").lower():
        detail = None
    return Shown(words, detail, problem.code, problem.reason)
