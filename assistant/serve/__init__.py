"""The presenters: the command line, and the HTTP API with the chat pages on one FastAPI app.

    cli.py         `assistant ...` (and `python -m assistant`): every command, `--json` for scripts
    render.py      how an answer looks in a terminal
    api.py         routes under /api, the app, `assistant serve`
    schemas.py     request models and the response schemas derived from the dataclasses
    middleware.py  headers, page uploads, body limits, the 404 page
    ui.py          the Gradio chat and collection pages, the article view
    html.py        the HTML of answers and pages, every article string inert
"""
