"""Kafka: the engine (producer, admin, topic keeping), bus publishers and consumers, pushes."""
