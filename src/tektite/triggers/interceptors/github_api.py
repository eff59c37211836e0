"""The few GitHub REST calls the ``github`` interceptor makes (changed files, OWNERS, membership).

The API root is ``https://api.github.com``; a GitHub Enterprise event (header
``X-GitHub-Enterprise-Host``) uses ``https://HOST/api/v3``; ``TEKTITE_GITHUB_API_URL`` overrides
both (tests, proxies).
"""

from __future__ import annotations

import os
from typing import Any

import httpx

PUBLIC_API = "https://api.github.com"


class GitHubAPIError(Exception):
    pass


def api_root(enterprise_host: str = "") -> str:
    override = os.environ.get("TEKTITE_GITHUB_API_URL")
    if override:
        return override.rstrip("/")
    if enterprise_host:
        return f"https://{enterprise_host}/api/v3"
    return PUBLIC_API


class GitHubAPI:
    def __init__(self, client: httpx.Client, root: str, token: str = "") -> None:
        self.client = client
        self.root = root.rstrip("/")
        self.headers = {"Accept": "application/vnd.github+json", "User-Agent": "tektite-triggers"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            return self.client.get(f"{self.root}{path}", headers=headers, follow_redirects=False, **kwargs)
        except httpx.HTTPError as exc:
            raise GitHubAPIError(f"GET {self.root}{path}: {exc}") from None

    def pull_request_files(self, repo: str, number: int) -> list[str]:
        files: list[str] = []
        page = 1
        while True:
            resp = self._get(f"/repos/{repo}/pulls/{number}/files", params={"per_page": 100, "page": page})
            if resp.status_code != 200:
                raise GitHubAPIError(
                    f"GET /repos/{repo}/pulls/{number}/files answered {resp.status_code}: {resp.text[:200]}"
                )
            batch = resp.json()
            if not isinstance(batch, list):
                raise GitHubAPIError(f"GET /repos/{repo}/pulls/{number}/files: expected a list")
            files.extend(str(f.get("filename", "")) for f in batch if isinstance(f, dict))
            if len(batch) < 100:
                return files
            page += 1

    def file_text(self, repo: str, path: str) -> str | None:
        resp = self._get(f"/repos/{repo}/contents/{path}", headers={"Accept": "application/vnd.github.raw"})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise GitHubAPIError(f"GET /repos/{repo}/contents/{path} answered {resp.status_code}")
        return resp.text

    def is_org_member(self, org: str, user: str) -> bool:
        return self._get(f"/orgs/{org}/members/{user}").status_code == 204

    def is_collaborator(self, repo: str, user: str) -> bool:
        return self._get(f"/repos/{repo}/collaborators/{user}").status_code == 204
