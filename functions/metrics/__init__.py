"""The metrics function: PaC, CTR and coverage on request and on a schedule."""
