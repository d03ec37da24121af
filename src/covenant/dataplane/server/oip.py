"""Open Inference Protocol (KServe v2) tensors: decoding requests, encoding answers.

Pure: JSON values in, numpy arrays out, and back. ``data`` may be row-major flattened
(what the spec shows) or nested to the tensor's shape (what the spec also allows);
either way its element count must be the shape's product, or the request is refused
with a message naming the input. Datatypes are the spec's names (``FP32``, ``INT64``,
``BYTES``...), mapped to numpy dtypes and onnxruntime's ``tensor(...)`` type strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from covenant.errors import CovenantError

__all__ = [
    "DTYPES",
    "ORT_TYPES",
    "BadRequestError",
    "decode_inputs",
    "encode_output",
    "oip_shape",
    "requested_outputs",
]

DTYPES: Final[dict[str, Any]] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
ORT_TYPES: Final = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
_KIND_TO_OIP: Final = {np.dtype(v).str: k for k, v in DTYPES.items() if k != "BYTES"}


class BadRequestError(CovenantError, ValueError):
    """The request is malformed; the message is the ``error`` a 400 answers with."""


def oip_shape(shape: Any) -> list[int]:
    """An onnxruntime shape as OIP metadata writes it: dynamic dimensions are -1."""
    return [d if isinstance(d, int) else -1 for d in shape]


def _decode_one(item: Any, expected: Mapping[str, str]) -> tuple[str, NDArray[Any]]:
    if not isinstance(item, Mapping):
        raise BadRequestError("each entry of 'inputs' must be an object")
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str):
        raise BadRequestError("an input has no 'name' string")
    if name not in expected:
        raise BadRequestError(f"unexpected input '{name}'; the model takes {sorted(expected)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BadRequestError(f"input '{name}': 'shape' must be a list of non-negative ints")
    if datatype not in DTYPES:
        raise BadRequestError(f"input '{name}': unknown datatype {datatype!r}")
    if datatype != expected[name]:
        raise BadRequestError(
            f"input '{name}': datatype {datatype} but the model takes {expected[name]}"
        )
    data = item.get("data")
    if not isinstance(data, list):
        raise BadRequestError(f"input '{name}': 'data' must be a list")
    try:
        if datatype == "BYTES":
            array = np.asarray(data, dtype=np.object_).reshape(-1)
        else:
            array = np.asarray(data, dtype=DTYPES[datatype]).reshape(-1)
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"input '{name}': 'data' is not {datatype} values: {exc}") from None
    if array.size != math.prod(shape):
        raise BadRequestError(f"input '{name}': {array.size} values do not fill shape {shape}")
    return name, array.reshape(shape)


def decode_inputs(body: Any, expected: Mapping[str, str]) -> tuple[dict[str, NDArray[Any]], Any]:
    """The model's input arrays from an infer request body, and the request ``id``.

    ``expected`` maps each model input's name to its OIP datatype; every one must be
    given, once.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("the request body must be a JSON object")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequestError("'inputs' must be a non-empty list")
    feeds: dict[str, NDArray[Any]] = {}
    for item in inputs:
        name, array = _decode_one(item, expected)
        if name in feeds:
            raise BadRequestError(f"input '{name}' is given twice")
        feeds[name] = array
    missing = sorted(set(expected) - set(feeds))
    if missing:
        raise BadRequestError(f"missing input(s): {', '.join(missing)}")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequestError("'id' must be a string")
    return feeds, request_id


def requested_outputs(body: Mapping[str, Any], available: list[str]) -> list[str]:
    """The output names to answer with: the request's ``outputs``, else all of them."""
    wanted = body.get("outputs")
    if wanted is None:
        return available
    if not isinstance(wanted, list):
        raise BadRequestError("'outputs' must be a list")
    names = []
    for item in wanted:
        name = item.get("name") if isinstance(item, Mapping) else None
        if name not in available:
            raise BadRequestError(f"unknown output {name!r}; the model has {available}")
        names.append(name)
    return names


def encode_output(name: str, value: Any) -> dict[str, Any]:
    """One OIP output tensor from an onnxruntime result."""
    if not isinstance(value, np.ndarray):
        raise BadRequestError(
            f"output '{name}' is not a tensor (a ZipMap/sequence output cannot be served "
            "over OIP; export the model without ZipMap)"
        )
    if value.dtype.kind in "OUS":
        data: list[Any] = [str(v) for v in value.reshape(-1)]
        datatype = "BYTES"
    else:
        datatype = _KIND_TO_OIP.get(value.dtype.str, "")
        if not datatype:
            raise BadRequestError(f"output '{name}' has unsupported dtype {value.dtype}")
        data = value.reshape(-1).tolist()
    return {"name": name, "shape": list(value.shape), "datatype": datatype, "data": data}
