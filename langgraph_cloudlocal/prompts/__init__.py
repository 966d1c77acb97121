"""Prompt templates, one module per protocol. Documents come before questions so that llama.cpp's and
Ollama's prompt caches make a second question on the same document cheap."""
