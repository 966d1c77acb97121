"""langgraph-cloudlocal."""
