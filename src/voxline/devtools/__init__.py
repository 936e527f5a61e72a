"""Programs for people and tests, never imported by the product: the demo, the loopback server and
Twilio-protocol callee, callee voices and stand-in speech engines. They may use the whole application."""
