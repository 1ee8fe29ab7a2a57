"""Observability: Prometheus metrics at ``/metrics``, structured logs with request ids, callback errors.

``backend.observability.install.install_observability(app, notify=dash.set_props)`` from
``create_app`` does all of it. The gunicorn config calls ``child_exit`` (a worker left) and
``reset_multiprocess_dir`` (on start) for multi-process metrics; importing them here costs
only ``prometheus_client`` (see ``metrics.py``).
"""

from backend.observability.metrics import child_exit, reset_multiprocess_dir

__all__ = ["child_exit", "reset_multiprocess_dir"]
