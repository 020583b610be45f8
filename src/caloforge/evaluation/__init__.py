"""Evaluation stage."""
