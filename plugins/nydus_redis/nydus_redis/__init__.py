"""The Redis backend for Nydus, on redis-py."""

from nydus_redis._backend import RedisBackend, RedisPipeline
from nydus_redis._server import LocalRedisServer, find_redis_server

__all__ = ["LocalRedisServer", "RedisBackend", "RedisPipeline", "find_redis_server"]
