"""The content editors' workspace: guides edited, reviewed and published from the browser (issue 7)."""

from channels.editor.routes import router as editor_router

__all__ = ["editor_router"]
