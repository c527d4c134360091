"""The JSON shapes of the loyalty API (pydantic models) and its HTTP routes."""
