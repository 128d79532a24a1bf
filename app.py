"""`make run`: the chat on http://127.0.0.1:7860, the same app as `assistant serve`.

    /        the chat and the collection      /embed/  the chat alone, for a wiki iframe
    /api     the JSON API                     /docs    its OpenAPI page

Settings come from ASSISTANT_* variables (see assistant/config.py). Set ASSISTANT_ADMIN_TOKEN to
turn on uploading and removing articles (`assistant serve` reads it too). `uvicorn app:app` serves the same app.
"""

from assistant.serve.api import create_app, run
from assistant.config import Settings
from assistant.service import Assistant

settings = Settings()
assistant = Assistant(settings)
app = create_app(assistant)

if __name__ == "__main__":
    run(app, assistant, host="127.0.0.1", port=7860)
