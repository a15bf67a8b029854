"""The application factory: wiring only."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

import client_address
import config
import extensions as ext
import inputs
import keys
import session_store
from errors import register_error_handlers


def create_app(config_class: type[config.Config] = config.Config) -> Flask:
    """Create the Lianxin application for a configuration class."""
    if hasattr(config_class, "check"):
        config_class.check()
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_class)
    Path(app.instance_path).mkdir(exist_ok=True)
    keys.init_app(app)
    inputs.init_app(app)

    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(config.BASE_DIR / "migrations"))
    ext.csrf.init_app(app)
    ext.htmx.init_app(app)
    ext.limiter.init_app(app)
    ext.huey.init_app(app)
    session_store.init_app(app)

    import i18n
    import logs
    import security
    import worker
    from accounts import audit_views, auth, cli as accounts_cli, views as accounts_views, admin_views, session_views
    from workflow import category_views, cli as workflow_cli, resident_views, views as workflow_views
    from surveys import ballot_views, privacy_views, views as survey_views
    from evaluation import admin_views as evaluation_admin_views, cli as evaluation_cli, views as evaluation_views
    from demo import cli as demo_cli
    # Task modules register their tasks with the queue and their signal receivers on import.
    from accounts import tasks as accounts_tasks  # noqa: F401
    from evaluation import tasks as evaluation_tasks  # noqa: F401
    from workflow import tasks as workflow_tasks  # noqa: F401
    from surveys import cli as surveys_cli

    ext.babel.init_app(app, locale_selector=i18n.select_locale)
    auth.init_app(app)
    audit_views.init_app(app)
    client_address.init_app(app)
    security.init_app(app)
    logs.init_app(app)
    i18n.init_app(app)
    with app.app_context():
        if ext.db.engine.dialect.name == "sqlite":
            ext.configure_sqlite(ext.db.engine, app.config["SQLITE_BUSY_TIMEOUT"])

    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(session_views.bp)
    app.register_blueprint(workflow_views.bp)
    app.register_blueprint(resident_views.bp)
    app.register_blueprint(category_views.bp)
    app.register_blueprint(survey_views.bp)
    app.register_blueprint(ballot_views.bp)
    app.register_blueprint(privacy_views.bp)
    app.register_blueprint(evaluation_views.bp)
    app.register_blueprint(evaluation_admin_views.bp)
    register_error_handlers(app)
    accounts_cli.init_app(app)
    workflow_cli.init_app(app)
    surveys_cli.init_app(app)
    evaluation_cli.init_app(app)
    demo_cli.init_app(app)
    worker.init_app(app)
    return app
