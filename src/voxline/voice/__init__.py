"""The live call: voice catalog today; the Pipecat pipeline per call joins it."""
