"""Developer tooling: the embedded Redis and the `make run` process supervisor."""
