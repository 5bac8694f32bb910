"""The client API: ``Producer``, ``Consumer``, ``Admin`` and what they are built from.

Users import the classes from ``wire`` (``from wire import Producer``); this
package holds their code, one module per concept:

=================  ==========================================================
``producer``       ``Producer``: ``send`` on the caller's thread, buffer memory
``sender``         the producer's background thread: routing, requests, completion
``accumulator``    per-partition batches and when they are ready (pure logic)
``partitioner``    which partition a record goes to (Kafka's murmur2 for keys)
``futures``        ``RecordFuture``, a ``Future`` cheap enough for one per record
``consumer``       ``Consumer``: assign, poll, seek
``fetcher``        the consumer's engine: fetch positions, fetches in flight
``admin``          ``Admin``: topics, configs, cluster and group descriptions
``metadata``       ``ClusterMetadata``: the clients' cached view of leaders
``records``        the value types (``TopicPartition``, ``RecordMetadata``, ...)
``interceptors``   producer and consumer interceptor chains
``errors``         errors raised by the clients themselves (not sent by brokers)
=================  ==========================================================

The messages the clients send are the protocol's (``wire.produce``,
``wire.fetch``, ``wire.admin``, ``wire.metadata``) and they travel over
``wire.connections.ConnectionPool``. Nothing is imported here, so
``import wire.client.records`` stays as cheap as it was.
"""
