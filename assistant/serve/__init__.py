"""The web server: the HTTP API and the chat pages on one FastAPI app (`api.create_app`).

    api.py         routes under /api, the app, `assistant serve`
    schemas.py     request models and the response schemas derived from the dataclasses
    middleware.py  headers, page uploads, body limits, the 404 page
    ui.py          the Gradio chat and collection pages, the article view
    html.py        the HTML of answers and pages, every article string inert
"""
