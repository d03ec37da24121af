"""Dataset namespaces and names for locations, by OpenLineage's naming conventions.

A lineage tool joins the runs of different producers on a dataset's (namespace, name),
so a location must be named exactly as every other OpenLineage producer names it, or
our lineage graph and theirs never meet. The rules are the spec's naming table
(https://openlineage.io/docs/spec/naming) as the reference client applies it to
location URIs (``FilesystemDatasetUtils.fromLocation`` in openlineage-java), and as the
``openlineage.client.naming.dataset`` helpers of openlineage-python write them:

* object stores are ``{scheme}://{bucket or container}`` with the object key as the
  name, no leading or trailing ``/`` (``s3://raw/a/b`` is ``s3://raw`` + ``a/b``);
  Hadoop's ``s3a``/``s3n`` are S3, ``abfs`` and ``wasb`` the TLS schemes ``abfss`` and
  ``wasbs`` (the same data, as the reference client normalizes them);
* the local file system is the namespace ``file`` with the absolute path as the name,
  for ``file:///p``, ``file://localhost/p`` and a bare ``/p`` alike; a file URI with
  another host is the remote file system ``file://{host}``;
* any other ``scheme://authority/path`` (HDFS, DBFS, ...) is ``scheme://authority``
  with the path as the name.

The name is the decoded path (``%20`` is a space), as the reference client's
``URI.getPath()`` gives it; query and fragment are not part of a dataset's identity.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote, urlsplit

__all__ = ["location_dataset"]

_OBJECT_STORES: Final = {
    "s3": "s3",
    "s3a": "s3",
    "s3n": "s3",
    "gs": "gs",
    "abfs": "abfss",
    "abfss": "abfss",
    "wasb": "wasbs",
    "wasbs": "wasbs",
}
_LOCAL_HOSTS: Final = frozenset({"", "localhost"})
_SCHEME: Final = re.compile(r"[a-z][a-z0-9+.-]*")
_ROOT: Final = "/"


def location_dataset(ref: str) -> tuple[str, str] | None:
    """The OpenLineage (namespace, name) of a location, or None if ``ref`` is not one.

    Args:
        ref: A source reference as registered: a URI such as ``s3://bucket/key`` or
            ``file:///data/x.csv``, an absolute local path, or anything else.

    Returns:
        The dataset's namespace and name; None for a reference that names no location
        (a bare name like ``orders-db``, a relative path, an opaque ``scheme:thing``),
        which the caller names in its own namespace instead.
    """
    if ref.startswith("/") and not ref.startswith("//"):
        return "file", _path_name(ref)
    try:
        parts = urlsplit(ref)
    except ValueError:  # e.g. an unclosed IPv6 bracket: not a URI, so not a location
        return None
    scheme = parts.scheme
    if not _SCHEME.fullmatch(scheme):
        return None
    path = unquote(parts.path)
    if scheme == "file":
        host = parts.netloc
        namespace = "file" if host.lower() in _LOCAL_HOSTS else f"file://{host}"
        return namespace, _path_name(path)
    if not parts.netloc:
        return None  # opaque: there is no authority to name the datasource by
    if scheme in _OBJECT_STORES:
        return f"{_OBJECT_STORES[scheme]}://{parts.netloc}", path.strip("/") or _ROOT
    return f"{scheme}://{parts.netloc}", _path_name(path)


def _path_name(path: str) -> str:
    """A file system path as a dataset name: no trailing ``/``, the root as ``/``."""
    return path.rstrip("/") or _ROOT
