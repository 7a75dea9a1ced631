"""A small keep-alive HTTP client with cookies, for precise timing (http.client + perf_counter)."""

import http.client
import re
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode
from urllib.parse import urlsplit

CSRF_RE = re.compile(r'name="csrf[-_]token"[^>]*(?:content|value)="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """One keep-alive connection to one server, carrying its own cookies."""

    def __init__(self, base_url: str, timeout: float = 300.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        form: dict | list | None = None,
        headers: dict[str, str] | None = None,
        stream_to=None,
    ) -> Response:
        """Send one request and read the whole answer; `seconds` is the time to the last byte."""
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=all_headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
            self.reconnect()
            started = time.perf_counter()
            self.connection.request(method, path, body=body, headers=all_headers)
            response = self.connection.getresponse()
        if stream_to is None:
            data = response.read()
        else:
            data = b""
            while chunk := response.read(65536):
                stream_to(chunk)
        seconds = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or ():
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        if response.will_close:
            self.reconnect()
        return Response(response.status, response.headers, data, seconds)

    def reconnect(self) -> None:
        self.connection.close()
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def csrf_token(self, path: str) -> str:
        match = CSRF_RE.search(self.request("GET", path).text)
        if not match:
            raise RuntimeError(f"{path} carries no CSRF token")
        return match.group(1)

    def login(self, username: str, password: str) -> None:
        """Sign in through the real login form."""
        token = self.csrf_token("/login")
        answer = self.request(
            "POST", "/login", form={"username": username, "password": password, "csrf_token": token}
        )
        if answer.status != 302:
            raise RuntimeError(f"login failed: HTTP {answer.status}")

    def close(self) -> None:
        self.connection.close()
