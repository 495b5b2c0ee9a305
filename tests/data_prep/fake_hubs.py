"""Local stand-ins for the Hugging Face Hub and ModelScope HTTP APIs, enough for their clients'
``snapshot_download``.

Used because nothing may be downloaded from a real hub in tests: the real client code runs
against them over HTTP. Each serves one repo from memory, records every request, and can cut
transfers of a file after a number of bytes to exercise resuming.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


class FakeHub:
    def __init__(
        self, repo_id: str, files: dict[str, bytes], repo_type: str = "model", commit: str = "a" * 40
    ):
        self.repo_id = repo_id
        self.files = files
        self.repo_type = repo_type
        self.commit = commit
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        # file -> bytes sent before the connection drops, one entry per coming transfer
        self.cut_plan: dict[str, list[int]] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                hub._handle(self, head=True)

            def do_GET(self):
                hub._handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _json(self, handler, payload, status=200):
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _handle(self, handler, head: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        self.requests.append(("HEAD" if head else "GET", path, handler.headers.get("Range")))
        kind = "models" if self.repo_type == "model" else "datasets"
        prefix = "" if self.repo_type == "model" else "/datasets"
        if path.startswith(f"/api/{kind}/{self.repo_id}/revision/"):
            siblings = [{"rfilename": name} for name in self.files]
            return self._json(
                handler, {"id": self.repo_id, "sha": self.commit, "siblings": siblings, "private": False}
            )
        if path.startswith(f"/api/{kind}/{self.repo_id}/tree/"):
            entries = [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in self.files.items()
            ]
            return self._json(handler, entries)
        match = re.fullmatch(rf"{prefix}/{re.escape(self.repo_id)}/resolve/([^/]+)/(.+)", path)
        if match and match.group(2) in self.files:
            return self._serve_file(handler, match.group(2), head)
        self._json(handler, {"error": f"not found: {path}"}, status=404)

    def _serve_file(self, handler, name: str, head: bool) -> None:
        data = self.files[name]
        etag = hashlib.sha1(data).hexdigest()
        start = 0
        range_header = handler.headers.get("Range")
        if range_header and not head:
            start = int(re.match(r"bytes=(\d+)-", range_header).group(1))
        handler.send_response(206 if start else 200)
        handler.send_header("ETag", f'"{etag}"')
        handler.send_header("X-Repo-Commit", self.commit)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if head:
            return
        body = data[start:]
        if self.cut_plan.get(name):
            handler.wfile.write(body[: self.cut_plan[name].pop(0)])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        handler.wfile.write(body)


class FakeModelScope(FakeHub):
    """ModelScope's read API as modelscope_hub 0.5 calls it: a recursive file listing
    (``/api/v1/models/<id>/repo/files``) and one download URL per file (``/repo?FilePath=``)."""

    def _handle(self, handler, head: bool) -> None:
        parsed = urlparse(handler.path)
        path, query = unquote(parsed.path), parse_qs(parsed.query)
        self.requests.append(("HEAD" if head else "GET", handler.path, handler.headers.get("Range")))
        if path == f"/api/v1/models/{self.repo_id}/repo/files":
            files = [
                {"Name": name.rsplit("/", 1)[-1], "Path": name, "Type": "blob", "Size": len(data),
                 "Sha256": hashlib.sha256(data).hexdigest(), "Revision": self.commit}
                for name, data in self.files.items()
            ]  # fmt: skip
            return self._json(handler, {"Code": 200, "Data": {"Files": files}, "Success": True})
        if path == f"/api/v1/models/{self.repo_id}/repo" and query.get("FilePath", [""])[0] in self.files:
            return self._serve_file(handler, query["FilePath"][0], head)
        self._json(handler, {"Code": 404, "Message": f"not found: {path}", "Success": False}, status=404)
