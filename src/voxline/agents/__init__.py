"""Agents: the prompt, greeting, voice and call behaviour a partner's calls run with."""
