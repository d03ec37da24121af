"""A Covenant code ref as the fields of OpenLineage's ``SourceCodeLocationJobFacet``.

A code ref is a git remote, optionally followed by ``#`` and the commit that ran
(``git@example.com:ml/vit.git#9d1e2b7``). The facet (version 1-0-1) wants more care
than copying it over:

* ``url`` is required and must be an RFC 3986 URI, but git's most common remote form,
  the scp-like ``[user@]host:path``, is not one. ``repoUrl`` (no format; the schema's own
  example is ``git@github.com:{org}/{repo}.git``) keeps the remote exactly as
  registered, and ``url`` gets the equivalent URI git documents for each form: the
  ``ssh://`` URL for scp-like syntax, ``file://`` for an absolute local path, a URL as
  it is. Every part is percent-encoded where RFC 3986 requires it, so ``url`` is a
  valid URI whatever the registrant typed. When no URI can be formed at all (a
  relative path, an empty remote) there is no facet, since ``url`` cannot be omitted.
* ``version`` must be a string, "the actual unique version, not a branch name": it is
  set only when the part after ``#`` is a git object name (7 to 64 hex digits), and
  otherwise left out rather than written as ``null``. The code ref itself stays, as
  registered, in Covenant's own facet.

A scp-like path without a leading ``/`` is relative to the login directory, which git
forges serve from their root, so ``git@host:org/repo.git`` becomes
``ssh://git@host/org/repo.git``: the address every forge and git client accepts.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, urlsplit

__all__ = ["source_code_location"]

_COMMIT: Final = re.compile(r"[0-9a-fA-F]{7,64}")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# git: "only recognized if there are no slashes before the first colon".
_SCP_LIKE: Final = re.compile(
    r"(?:(?P<user>[^/@]*)@)?(?P<host>\[[^/\]]*\]|[^/:\[\]]+):(?P<path>.*)", re.DOTALL
)
_PORT: Final = re.compile(r"[0-9]*")  # RFC 3986 §3.2.3: may be empty
_IP_LITERAL: Final = re.compile(r"\[[0-9A-Fa-f:.]+\]")
# RFC 3986 §2.2-2.3: what may appear unencoded in each component (besides %XX escapes).
_SUB_DELIMS: Final = "!$&'()*+,;="
_UNRESERVED_MARKS: Final = "-._~"
_USERINFO_SAFE: Final = _UNRESERVED_MARKS + _SUB_DELIMS + ":"
_HOST_SAFE: Final = _UNRESERVED_MARKS + _SUB_DELIMS
_PATH_SAFE: Final = _UNRESERVED_MARKS + _SUB_DELIMS + ":@/"
_QUERY_SAFE: Final = _PATH_SAFE + "?"
_LONE_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def source_code_location(code_ref: str) -> dict[str, str] | None:
    """The ``SourceCodeLocationJobFacet`` fields for ``code_ref``, or None for no facet.

    Args:
        code_ref: A git remote, optionally ``#`` and a commit.

    Returns:
        ``type``, ``url`` and ``repoUrl``, and ``version`` when the ref names a commit;
        None when the remote cannot be written as a URI.
    """
    remote, _, commit = code_ref.partition("#")
    url = _remote_uri(remote)
    if url is None:
        return None
    fields = {"type": "git", "url": url, "repoUrl": remote}
    if _COMMIT.fullmatch(commit):
        fields["version"] = commit
    return fields


def _remote_uri(remote: str) -> str | None:
    """The URI git treats ``remote`` as, per git's documented equivalences, or None."""
    if "://" in remote:
        return _url(remote)
    if remote.startswith("/"):
        return "file://" + _encode(remote, _PATH_SAFE)
    scp = _SCP_LIKE.fullmatch(remote)
    if scp is None or not scp["host"]:
        return None
    user = scp["user"]
    userinfo = "" if user is None else _encode(user, _USERINFO_SAFE) + "@"
    host = _host(scp["host"])
    if host is None:
        return None
    path = scp["path"].removeprefix("/")
    return f"ssh://{userinfo}{host}/{_encode(path, _PATH_SAFE)}"


def _url(remote: str) -> str | None:
    """``remote``, already a URL, rebuilt so that every component is valid RFC 3986."""
    try:
        parts = urlsplit(remote)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if not _SCHEME.fullmatch(parts.scheme) or (not parts.netloc and parts.scheme != "file"):
        return None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("["):
        literal, _, rest = hostport.partition("]")
        host_text, port = literal + "]", rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return None
    else:
        host_text, _, port = hostport.partition(":")
    host = _host(host_text)
    if host is None or not _PORT.fullmatch(port):
        return None
    authority = (_encode(userinfo, _USERINFO_SAFE) + "@" if at else "") + host
    if port:
        authority += f":{port}"
    url = f"{parts.scheme.lower()}://{authority}{_encode(parts.path, _PATH_SAFE)}"
    if parts.query:
        url += "?" + _encode(parts.query, _QUERY_SAFE)
    return url


def _host(host: str) -> str | None:
    """A host as an RFC 3986 reg-name or IP literal, or None if it cannot be one."""
    if host.startswith("["):
        return host if _IP_LITERAL.fullmatch(host) else None
    return _encode(host, _HOST_SAFE)


def _encode(text: str, safe: str) -> str:
    """Percent-encode what ``safe`` does not allow, keeping existing ``%XX`` escapes."""
    return quote(_LONE_PERCENT.sub("%25", text), safe=safe + "%")
