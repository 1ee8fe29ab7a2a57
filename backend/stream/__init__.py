"""The event stream: one bus (in-process or Redis Streams) and what publishes to it."""
