"""Sign-in pages: sign in and out, reset a password, set one from an e-mailed link."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from sharegraph.console.forms import client_ip, read_form, safe_next
from sharegraph.console.graph_client import Problem
from sharegraph.console.render import page, redirect
from sharegraph.errors import HTTP_STATUS, BadUserInput, SharegraphError
from sharegraph.web import csrf
from sharegraph.web.signin import People


def _problem(error: SharegraphError) -> Problem:
    retry = error.extra.get("retryAfter")
    return Problem(
        error.message,
        error.code.value,
        error.reason,
        retry_after=retry if isinstance(retry, int) else None,
    )


def _status(error: SharegraphError) -> int:
    return HTTP_STATUS[error.code]


def people_router(people: People) -> APIRouter:
    router = APIRouter()

    @router.get("/signin")
    async def signin_page(
        request: Request, next: str | None = None, done: str | None = None
    ) -> Response:
        flash = {
            "password": "Your password is set. Sign in with it.",
            "out": "You are signed out.",
            "everywhere": "You are signed out on every device.",
        }.get(done or "")
        return page(
            request, "signin.html", title="Sign in", next=safe_next(next), login="", flash=flash
        )

    @router.post("/signin")
    async def signin_post(request: Request) -> Response:
        form: dict[str, str] = {}
        try:
            form = await read_form(request)
            token = await people.sign_in(
                form.get("login", ""),
                form.get("password", ""),
                client_ip(request),
                request.headers.get("user-agent"),
            )
        except SharegraphError as error:
            return page(
                request,
                "signin.html",
                title="Sign in",
                problems=[_problem(error)],
                status_code=_status(error),
                next=safe_next(form.get("next")),
                login=form.get("login", ""),
            )
        earlier = request.cookies.get(csrf.SESSION_COOKIE)
        if earlier:  # signing in over another session (a shared computer) ends it
            await people.sign_out(earlier, everywhere=False)
        response = redirect(safe_next(form.get("next")))
        csrf.set_session(request, response, token, int(people.settings.signin.session_ttl_seconds))
        return response

    async def _sign_out(request: Request, everywhere: bool) -> Response:
        try:
            form = await read_form(request)
        except SharegraphError as error:
            return page(
                request,
                "problem.html",
                title="Not signed out",
                problems=[_problem(error)],
                status_code=_status(error),
            )
        token = request.cookies.get(csrf.SESSION_COOKIE)
        if token:
            await people.sign_out(token, everywhere=everywhere or form.get("everywhere") == "1")
        response = redirect("/signin?done=" + ("everywhere" if everywhere else "out"))
        csrf.clear_session(response)
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        return await _sign_out(request, False)

    @router.post("/signout/everywhere")
    async def signout_everywhere(request: Request) -> Response:
        return await _sign_out(request, True)

    @router.get("/signin/reset")
    async def reset_page(request: Request) -> Response:
        return page(request, "reset.html", title="Reset your password", sent=False)

    @router.post("/signin/reset")
    async def reset_post(request: Request) -> Response:
        try:
            form = await read_form(request)
            send = await people.request_reset(form.get("email", ""), client_ip(request))
        except SharegraphError as error:
            return page(
                request,
                "reset.html",
                title="Reset your password",
                sent=False,
                problems=[_problem(error)],
                status_code=_status(error),
            )
        response = page(request, "reset.html", title="Reset your password", sent=True)
        if send is not None:
            response.background = BackgroundTask(send)
        return response

    @router.get("/signin/link/{token}")
    async def link_page(request: Request, token: str) -> Response:
        try:
            person, purpose = await people.link(token)
        except SharegraphError as error:
            return page(
                request,
                "set_password.html",
                title="Choose a password",
                person=None,
                problems=[_problem(error)],
                status_code=_status(error),
            )
        return page(
            request,
            "set_password.html",
            title="Choose a password",
            person=person,
            invitation=purpose == "invitation",
            action=f"/signin/link/{token}",
        )

    @router.post("/signin/link/{token}")
    async def link_post(request: Request, token: str) -> Response:
        try:
            form = await read_form(request)
            if form.get("password", "") != form.get("confirm", ""):
                raise BadUserInput("the two passwords differ", reason="PASSWORDS_DIFFER")
            await people.set_password(token, form.get("password", ""))
        except SharegraphError as error:
            try:
                person, purpose = await people.link(token)
            except SharegraphError:
                person, purpose = None, ""
            return page(
                request,
                "set_password.html",
                title="Choose a password",
                person=person,
                invitation=purpose == "invitation",
                action=f"/signin/link/{token}",
                problems=[_problem(error)],
                status_code=_status(error),
            )
        return redirect("/signin?done=password")

    return router
