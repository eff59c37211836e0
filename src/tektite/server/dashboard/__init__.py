"""The web dashboard of ``tektite serve``: runs list, run pages (DAG, logs, provenance), cancel, rerun.

::

    from starlette.routing import Mount
    from tektite.server.dashboard import make_app

    routes = [Mount("/ui", app=make_app(cluster))]  # auth: the server's, from the ASGI scope

See ``docs/dashboard.md``.
"""

from __future__ import annotations

from tektite.server.dashboard.app import make_app

__all__ = ["make_app"]
