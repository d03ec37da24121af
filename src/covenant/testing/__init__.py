"""What users (and our own tests) need to test against Covenant: real services
started as local processes, and deterministic inputs; no fakes of Covenant itself.

Here (``from covenant.testing import ...``):

* Deterministic time and ids, passed explicitly (``Message.create(clock=, ids=)``,
  ``Context(clock=, ids=)``, every builder's ``clock=``/``ids=``):
  ``FrozenClock`` (one moment, immutable), ``ManualClock`` (``advance``, ``set``),
  ``SequentialIds`` (valid, ordered UUIDv7 strings from a counter).
* ``builders``: one function per message type in
  ``covenant.events.catalog.MESSAGE_TYPES``, with valid defaults and keyword
  overrides, and ``sha`` for content addresses (see ``covenant.testing.builders``).
* The log, for a service that subscribes to Covenant's events: ``embedded_log``
  (a real embedded log in a folder, every topic created), ``publish`` (encode and
  append), ``collect`` and ``wait_for`` (read decoded records, waiting when told),
  ``running`` (workers on the real runtime in the background) and ``drain`` (wait
  until workers have handled everything published).

Service launchers, imported from their own modules so that importing this package
starts nothing and needs no Java or PostgreSQL:

* ``covenant.testing.kafka.LocalKafka``: a single-node KRaft broker.
* ``covenant.testing.postgres.LocalPostgres``: a throwaway PostgreSQL cluster.
* ``covenant.testing.s3.LocalS3``: an S3-compatible server (moto's).
* ``covenant.testing.softhsm.start_softhsm``: a SoftHSM2 token in a folder (one per
  process: the PKCS#11 module reads its configuration once).
* ``covenant.testing.tls.write_test_pki``: a throwaway CA with server and client
  certificates, for mutual TLS.
* ``covenant.testing.signing_proxy.LocalSigningProxy``: ``covenant signer serve`` over a
  SoftHSM2 token, as a process.
"""

from covenant.testing import builders
from covenant.testing._clock import FrozenClock, ManualClock
from covenant.testing._ids import SequentialIds
from covenant.testing._log import collect, drain, embedded_log, publish, running, wait_for

__all__ = [
    "FrozenClock",
    "ManualClock",
    "SequentialIds",
    "builders",
    "collect",
    "drain",
    "embedded_log",
    "publish",
    "running",
    "wait_for",
]
