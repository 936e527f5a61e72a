"""Campaigns: a list of numbers called by one agent within the callees' hours, with retries and pacing."""
