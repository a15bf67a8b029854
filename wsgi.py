"""Production entry point for gunicorn: `gunicorn wsgi:app`."""
from app import create_app
from config import ProductionConfig

app = create_app(ProductionConfig)
