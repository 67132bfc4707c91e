"""Contracts that span the tree: import rules, docs, template, event files, the OpenAPI promises."""
