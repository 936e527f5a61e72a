"""Callee safety for every call, single or campaign: the do-not-call list, calling hours, frequency caps,
spoken opt-out."""
