"""Prefect flows and deployment (thin: every task calls :mod:`palsyflow.stages`)."""
