"""A small browser stand-in for the console's integration tests: one cookie, forms posted with
the page's Origin, redirects not followed (the tests look at them), the CSRF token read from
the page as a browser's form would carry it."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class ConsoleClient:
    def __init__(self, url: str, *, source: str | None = None) -> None:
        """``source``: the loopback address to connect from (a client of its own to the
        server's per-address sign-in throttle)."""
        parts = urlsplit(url)
        self.source = None if source is None else (source, 0)
        self.host = parts.netloc
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.cookie: str | None = None
        self.csrf: str | None = None

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> Answer:
        connection = http.client.HTTPConnection(self.host, timeout=30, source_address=self.source)
        sent = dict(headers)
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
            sent.setdefault("Origin", self.origin)
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            pair = value.split(";", 1)[0]
            self.cookie = pair if pair.split("=", 1)[1] else None
        found = CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return Answer(response.status, response.headers, text)

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, **headers)

    def post(self, path: str, form: dict[str, str], **headers: str) -> Answer:
        return self.request("POST", path, form, **headers)

    def sign_in(self, key: str, secret: str) -> Answer:
        return self.post("/console/signin", {"access_key_id": key, "secret_access_key": secret})

    def write(self, action: str, fields: dict[str, str]) -> Answer:
        """Submit the action's form, then confirm it, as a person clicking twice would."""
        if self.csrf is None:
            self.get("/console")
        assert self.csrf is not None
        asked = self.post(f"/console/do/{action}", {"csrf": self.csrf, **fields})
        assert asked.status == 200 and 'id="confirm"' in asked.text, asked.text[:2000]
        return self.post(f"/console/do/{action}", {"csrf": self.csrf, **fields, "confirmed": "yes"})
