"""Engine lifecycles (database, Redis, Kafka) and the in-process bus."""
