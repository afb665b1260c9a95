"""A local stand-in for the Hugging Face Hub's HTTP API, for tests.

huggingface_hub's own client code runs unchanged (``HfApi.create_repo``, ``upload_folder``,
``hf_hub_download``, ``snapshot_download``, the cache layout they write); only the transport of its
HTTP client is replaced, by one that answers from repositories kept in a local folder. It speaks the
subset of the Hub's API that those calls use, with the Hub's error codes; anything else is answered
``501`` and recorded in ``unhandled`` so that a test fails loudly rather than silently passing.

    hub = FakeHub(tmp_path / "hub")
    with hub.online(monkeypatch):
        HfApi().upload_folder(...)
    hub.files("user/model")   # {path: bytes} of the main branch
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import httpx2
from huggingface_hub import constants
from huggingface_hub.utils import _http

TOKEN = "hf_fakehub_token_for_tests"
USER = "ginr-tester"


class FakeHub:
    def __init__(self, root: Path, user: str = USER, token: str = TOKEN) -> None:
        self.root, self.user, self.token = Path(root), user, token
        # repo_id -> {"private": bool, "branches": {name: sha}, "commits": {sha: {path: bytes}}}
        self.repos: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.commits: list[dict] = []  # every commit: repo, revision, summary, files sent
        self.validated: list[dict] = []  # the card metadata of every README.md checked before a commit

    # ------------------------------------------------------------------ inspection
    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return dict(repo["commits"][repo["branches"][revision]])

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def online(self, monkeypatch, token: str | None = TOKEN):
        """Route huggingface_hub's HTTP client here, leave offline mode, and log in with ``token``."""
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        if token is None:
            monkeypatch.delenv("HF_TOKEN", raising=False)
        else:
            monkeypatch.setenv("HF_TOKEN", token)

        def factory() -> httpx2.Client:
            return httpx2.Client(
                transport=httpx2.MockTransport(self.handle),
                event_hooks={"request": [_http.hf_request_event_hook]},
                follow_redirects=True,
            )

        _http.set_client_factory(factory)
        try:
            yield self
        finally:
            _http.set_client_factory(_http.default_client_factory)

    def _seed(self, repo_id: str, files: dict[str, bytes], private: bool = False) -> None:
        """Create a repository holding ``files`` directly (a repository someone else made)."""
        self.repos[repo_id] = {"private": private, "branches": {}, "commits": {}}
        self._commit(repo_id, "main", files, "initial commit")

    def _commit(self, repo_id: str, branch: str, files: dict[str, bytes], summary: str) -> str:
        repo = self.repos[repo_id]
        content = json.dumps({k: hashlib.sha1(v).hexdigest() for k, v in sorted(files.items())}) + summary
        sha = hashlib.sha1(f"{repo_id}{branch}{len(repo['commits'])}{content}".encode()).hexdigest()
        repo["commits"][sha] = files
        repo["branches"][branch] = sha
        folder = self.root / repo_id / branch
        for path, data in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
        return sha

    # ------------------------------------------------------------------ the API
    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = unquote(request.url.path)
        self.requests.append((request.method, path))
        routes = [
            ("GET", r"/api/whoami-v2", self._whoami),
            ("GET", r"/api/agent-harnesses", lambda request: httpx2.Response(200, json=_NO_AGENTS)),
            ("POST", r"/api/repos/create", self._create),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>.+))?", self._info),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", self._tree),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>.+)", self._preupload),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>.+)", self._commit_endpoint),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/branch/(?P<rev>.+)", self._branch),
            ("HEAD", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
            ("GET", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
        ]
        for method, pattern, answer in routes:
            match = re.fullmatch(pattern, path)
            if method == request.method and match:
                return answer(request, **{k: v for k, v in match.groupdict().items() if v is not None})
        self.unhandled.append((request.method, str(request.url)))
        return _error(501, f"FakeHub does not speak {request.method} {path}")

    def _authorised(self, request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def _readable(self, request, repo_id: str) -> httpx2.Response | None:
        repo = self.repos.get(repo_id)
        if repo is None or (repo["private"] and not self._authorised(request)):
            return _error(404, f"Repository Not Found for url: {request.url}.", "RepoNotFound")
        return None

    def _validate_yaml(self, request):
        """The Hub checks a README's metadata before committing it; this applies the documented model-card
        schema (string license / library_name, lists of strings, a model-index that parses into results)."""
        import yaml
        from huggingface_hub.repocard_data import model_index_to_eval_results

        content = json.loads(request.content)["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, flags=re.S)
        errors = []
        metadata = yaml.safe_load(match.group(1)) if match else {}
        if not isinstance(metadata, dict):
            errors.append("metadata must be a YAML mapping")
            metadata = {}
        for key in ("license", "library_name", "pipeline_tag", "model_name"):
            if key in metadata and not isinstance(metadata[key], str):
                errors.append(f'"{key}" must be a string')
        for key in ("tags", "datasets", "metrics", "language"):
            value = metadata.get(key, [])
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                errors.append(f'"{key}" must be an array of strings')
        if "model-index" in metadata:
            try:
                name, results = model_index_to_eval_results(metadata["model-index"])
                if not name or not results or any(r.metric_value is None for r in results):
                    errors.append('"model-index" needs a name and results with metric values')
            except Exception as error:
                errors.append(f'"model-index" is invalid: {type(error).__name__}: {error}')
        if errors:
            return httpx2.Response(400, json={"errors": [{"message": e} for e in errors]})
        self.validated.append(metadata)
        return httpx2.Response(200, json={"warnings": []})

    def _whoami(self, request):
        if not self._authorised(request):
            return _error(401, "Invalid credentials in Authorization header")
        return httpx2.Response(200, json={"type": "user", "name": self.user, "auth": {"type": "access_token"}})

    def _create(self, request):
        if not self._authorised(request):
            return _error(401, "Invalid credentials in Authorization header")
        body = json.loads(request.content)
        repo_id = f"{body.get('organization') or self.user}/{body['name']}"
        url = f"{constants.ENDPOINT}/{repo_id}"
        if repo_id.split("/")[0] != self.user:
            namespace = repo_id.split("/")[0]
            return _error(403, f"You don't have the rights to create a model under the namespace {namespace}")
        if repo_id in self.repos:
            return _error(409, "You already created this model repo", extra={"url": url})
        private = bool(body.get("private")) or body.get("visibility") in ("private", "protected")  # old / new API
        self.repos[repo_id] = {"private": private, "branches": {}, "commits": {}}
        attributes = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        self._commit(repo_id, "main", {".gitattributes": attributes}, "init")
        return httpx2.Response(200, json={"url": url, "name": repo_id})

    def _snapshot(self, request, repo_id: str, rev: str):
        """``(sha, files, None)`` of a readable repository at ``rev``, or ``(None, None, error response)``."""
        if (denied := self._readable(request, repo_id)) is not None:
            return None, None, denied
        repo = self.repos[repo_id]
        sha = repo["branches"].get(rev, rev if rev in repo["commits"] else None)
        if sha is None:
            return None, None, _error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return sha, repo["commits"][sha], None

    def _writable(self, request, repo_id: str) -> httpx2.Response | None:
        """None if ``request`` may write to ``repo_id``, else the Hub's error."""
        if not self._authorised(request):
            return _error(401, "Invalid credentials in Authorization header")
        return self._readable(request, repo_id)

    def _info(self, request, repo, rev="main"):
        sha, files, error = self._snapshot(request, repo, rev)
        if error is not None:
            return error
        return httpx2.Response(
            200,
            json={
                "_id": hashlib.md5(repo.encode()).hexdigest()[:24],
                "id": repo,
                "modelId": repo,
                "author": repo.split("/")[0],
                "sha": sha,
                "private": self.repos[repo]["private"],
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [{"rfilename": name} for name in sorted(files)],
                "lastModified": "2026-11-27T00:00:00.000Z",
                "createdAt": "2026-11-27T00:00:00.000Z",
            },
        )

    def _tree(self, request, repo, rev, sub=""):
        _, files, error = self._snapshot(request, repo, rev)
        if error is not None:
            return error
        prefix = f"{sub.rstrip('/')}/" if sub else ""
        entries = [
            {"type": "file", "path": name, "size": len(data), "oid": _git_oid(data)}
            for name, data in sorted(files.items())
            if name.startswith(prefix)
        ]
        return httpx2.Response(200, json=entries)

    def _preupload(self, request, repo, rev):
        if (denied := self._writable(request, repo)) is not None:
            return denied
        body = json.loads(request.content)
        # every file goes inline in the commit ("regular"): the test sees all bytes in one request
        modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body["files"]]
        return httpx2.Response(200, json={"files": modes, "commitOid": self.repos[repo]["branches"].get(rev)})

    def _commit_endpoint(self, request, repo, rev):
        if (denied := self._writable(request, repo)) is not None:
            return denied
        if rev not in self.repos[repo]["branches"]:
            return _error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        header, added, deleted = {}, {}, []
        for line in request.content.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                header = item["value"]
            elif item["key"] == "file":
                value = item["value"]
                if value.get("encoding") != "base64":
                    return _error(400, f"FakeHub expects base64 file content, got {value.get('encoding')!r}")
                added[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.append(item["value"]["path"])
            else:
                return _error(400, f"FakeHub does not handle commit operations of kind {item['key']!r}")
        files = dict(self.files(repo, rev))
        for path in deleted:
            files = {k: v for k, v in files.items() if k != path and not k.startswith(path.rstrip("/") + "/")}
        files.update(added)
        sha = self._commit(repo, rev, files, header.get("summary", ""))
        self.commits.append({"repo": repo, "revision": rev, "summary": header.get("summary"), "files": added})
        url = f"{constants.ENDPOINT}/{repo}/commit/{sha}"
        return httpx2.Response(200, json={"success": True, "commitOid": sha, "commitUrl": url})

    def _branch(self, request, repo, rev):
        if (denied := self._writable(request, repo)) is not None:
            return denied
        branches = self.repos[repo]["branches"]
        if rev in branches:
            return _error(409, f"Reference already exists: refs/heads/{rev}")
        branches[rev] = branches["main"]
        return httpx2.Response(200, json={})

    def _resolve(self, request, repo, rev, file):
        sha, files, error = self._snapshot(request, repo, rev)
        if error is not None:
            return error
        if file not in files:
            return _error(404, f"Entry not found: {file}", "EntryNotFound")
        data = files[file]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{_git_oid(data)}"', "Content-Length": str(len(data))}
        return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else data)


_NO_AGENTS = {"standardEnvVars": [], "harnesses": {}}  # huggingface_hub's user-agent registry: empty


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _error(status: int, message: str, code: str | None = None, extra: dict | None = None) -> httpx2.Response:
    headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
    return httpx2.Response(status, headers=headers, json={"error": message, **(extra or {})})
