"""Readers that turn published log formats into the canonical event table."""
