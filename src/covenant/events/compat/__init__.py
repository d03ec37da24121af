"""Avro schema compatibility: can data written with one schema be read with another?

Event producers and consumers upgrade at different times, so every change to an event
schema must keep old bytes readable by new code (backward), new bytes readable by old
code (forward), or both (full). This module answers that question statically, before a
schema is published, by applying the "Schema Resolution" rules of the Avro 1.11
specification the way Apache Avro Java's ``SchemaCompatibility`` does, and it reports
*every* incompatibility it finds with a path into the reader schema, so an author can fix
them all in one go instead of discovering them one broken consumer at a time.

Inputs are parsed JSON schemas, exactly as ``json.loads`` returns them for an ``.avsc``
file: a ``str`` for a primitive or a reference to a named type, a ``dict`` for a complex
type, a ``list`` for a union. A named type (record, enum, fixed) may be referred to by
full name or by a short name resolved in the enclosing namespace once it has been
defined, including from inside its own definition (recursive types).

Interpretations of the rules, where the specification leaves room or where Avro Java and
the specification differ:

* Named types match when their unqualified names are equal (specification and Avro Java),
  or when one of the reader's aliases, qualified with the reader's namespace when it has
  no dot, equals the writer's full name (Avro Java; an alias that only matches the
  writer's unqualified name is not accepted).
* A reader record field finds its writer field by its own name and then by its aliases;
  if those lead to more than one writer field the read is ambiguous and is reported,
  where Avro Java throws.
* Logical types never affect resolution: they are checked as their underlying type,
  because the specification resolves the encoded form and a reader that does not know
  a logical type must fall back to the underlying one.
* Writer enum symbols unknown to the reader are fine when the reader enum has a
  ``default`` that is one of its own symbols (Avro 1.9+ and Avro Java).
* A reader union accepts a writer type when any of its branches can read it
  (Avro Java). When none can, but some branch *matches* the writer at the top (same named
  type, same container kind, or a legal primitive promotion), the problems inside the
  first such branch are reported, with the branch index in the path, because that is
  what the author most likely needs to fix; otherwise the union is reported as lacking
  the writer's type.
* A field default is only checked for presence (a JSON ``null`` default is present),
  not for conformance to the field type: that is the schema parser's job.

Paths name locations in the *reader* schema: ``/`` is its root, ``/fields/<name>`` a
record field, ``/items`` and ``/values`` the element type of an array or map, ``/<i>``
the i-th branch of a reader union, and ``/name``, ``/size``, ``/symbols`` the attribute
of a named type that disagrees.

The package is split along the three steps of a check, each a private module:
``_nodes`` (the resolved schema graph both sides are parsed into), ``_parser`` (JSON
schema to graph, with Avro's name resolution) and ``_checker`` (the resolution rules,
pair by pair); ``_api`` holds the public functions that tie them together.
"""

from covenant.events.compat._api import Incompatibility, check_compatibility, reader_can_read

__all__ = ["Incompatibility", "check_compatibility", "reader_can_read"]
