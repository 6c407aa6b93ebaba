"""The task queue: the outbox (durable work written in the caller's transaction), rq queues, the job shapes,
and the Redis-backed flood limits. Knows models only."""
