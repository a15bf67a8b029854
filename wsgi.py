"""Production entry points: `gunicorn wsgi:app` serves, `huey_consumer wsgi.huey` runs the queued tasks."""
from app import create_app
from config import ProductionConfig
from extensions import huey

app = create_app(ProductionConfig)

__all__ = ["app", "huey"]
