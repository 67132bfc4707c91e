"""Helpers shared by the tests: Lambda invocation, fake context, test-data factories."""
