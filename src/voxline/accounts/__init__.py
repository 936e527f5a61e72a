"""Partner accounts: creation, API keys, limits, telephony connections and the /config view."""
