"""Benchmarks of Nydus against the clients users would pick instead."""
