"""The office's web console (控制台): accounts, sessions, pages, exports and reports.

Served by the daemon on ``server.listen`` beside ``/metrics`` and the health
endpoints (:mod:`sunlight.monitor.web`). Kept empty so that the config model
(:mod:`sunlight.monitor.webconsole.config`) imports without the web stack.
"""
