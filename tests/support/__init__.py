"""Test bed: real servers and a real S3 endpoint for tests and benchmarks."""
