"""Where the contract names the engine's entry point; it lives in ``services.sync``."""

from services.sync import process_definition

__all__ = ["process_definition"]
