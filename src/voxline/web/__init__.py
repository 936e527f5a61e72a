"""The web dashboard served at `/`: server-rendered pages over the same use-cases as the v2 API.

Jinja2 templates, one stylesheet and one small script, all shipped in this package (no CDN, no build step).
"""
