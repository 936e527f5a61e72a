"""The dialer: takes dial-queue rows from the database, paces and caps them, and places the calls."""
