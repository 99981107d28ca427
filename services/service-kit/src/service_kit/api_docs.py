"""The API document's page, Swagger UI, served by each service from a Python package.

FastAPI's own ``/docs`` loads Swagger UI's script and style from a CDN, so it is blank on a
machine without internet access (and tells a third party who reads the docs). Here the files
come from the ``fastapi-offline`` package, mounted under ``/docs/assets``; the page names no
other host (no favicon from fastapi.tiangolo.com, no online validator badge).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
# Swagger UI's bundle and style, and a favicon, as the package ships them.
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
SWAGGER_UI_PARAMETERS = {
    # None: no request to validator.swagger.io for a badge.
    "validatorUrl": None,
    "deepLinking": True,
    "displayRequestDuration": True,
    "defaultModelsExpandDepth": 0,
}


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` with its files from ``ASSETS_DIR`` (create the app with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN page is not there too)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None")
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title}: API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
