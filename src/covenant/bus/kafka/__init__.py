"""The production log: Apache Kafka through aiokafka.

* Publishing uses an idempotent producer with ``acks=all``: a record is durable on
  every in-sync replica before ``publish`` returns, and retries never duplicate.
* Each group member owns a transactional producer whose ``transactional_id`` is
  ``covenant.<group>.<instance>``. ``commit`` writes the outputs and
  ``send_offsets_to_transaction`` in one transaction. A restarted member with the
  same id fences its predecessor (``init_transactions`` aborts whatever the dead
  one left open), so a kill -9 at any instant loses and duplicates nothing.
  Several instances of one worker need distinct ``instance`` values.
* Consumers read ``read_committed``: aborted outputs are never seen.
* ``namespace`` prefixes every topic, group and transactional id on the broker,
  so several isolated Covenants (or test runs) can share one cluster; records
  and positions handed to callers carry the declared, unprefixed names.

* A broker that is down is waited for, like a Kafka client should: every
  client's start, and topic creation, retries with capped exponential backoff
  (``_connect``), and the outage shows as a few state-change lines instead of
  the client's error per connection attempt (``_outage``).

The modules, one concept each: ``_bus`` (the ``Bus``: open, publish, names),
``_admin`` (topics, committed offsets and groups through one admin client),
``_read`` (read-committed readers, replay and end offsets), ``_consumer`` (the
group member and its transactions), ``_connect`` (waiting for the broker) and
``_outage`` (what an outage logs).
"""

from __future__ import annotations

from covenant.bus.kafka._bus import KafkaBus
from covenant.bus.kafka._consumer import KafkaGroupConsumer

__all__ = ["KafkaBus", "KafkaGroupConsumer"]
