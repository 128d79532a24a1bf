"""The optional LLM answerer: a client, its prompts, and the check that keeps it grounded.

    client.py     the `LLM` seam and the Ollama / OpenAI-compatible clients (through llama-index)
    prompts.py    the prompt templates (assistant/templates/, overridable in prompts/)
    grounding.py  every citation of a reply verified against its passage; unsupported sentences removed
    markup.py     HTML tags and markdown images and links taken out of a reply
"""
